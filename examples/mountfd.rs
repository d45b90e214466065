//! `mountfd`: a small mount tool built on the crate.
//!
//! ```text
//! mountfd bind --source S --target T [--idmap MAP]... [--readonly] [--recursive]
//! mountfd image --image F --fstype T --target DIR [--offset N] [--size-limit N]
//!               [--idmap MAP]... [--readonly]
//! mountfd overlay --lower D[:D...] [--upper D --work D] --target DIR
//! (each also takes --follow-symlinks)
//! mountfd umount [-R] [-l] TARGET
//! mountfd list [--json] [PATH]
//! mountfd is-mountpoint PATH      # exit 0: yes, 32: no (as `mountpoint -q`)
//! ```
//!
//! `--idmap` takes the crate's map text (`0:100000:65536`, comma-separated
//! extents, optional `u:`/`g:`/`b:` prefixes) and may repeat. On a source
//! that is already id-mapped, the new map replaces the source's: it applies to
//! the ids stored on disk, not to those the source shows. A bind inherits the
//! source mount's flags (a read-only source gives a read-only mount).
//!
//! No component of a target may be a symlink: the target's parent directory
//! is opened once with `openat2(RESOLVE_NO_SYMLINKS)`, and the final name is
//! checked, created and mounted on relative to that fd, never looked up by
//! path again. `--follow-symlinks` allows symlinks before the final
//! component; the final component is never followed. A missing target is
//! created with the source's kind (file or directory); a target of the other
//! kind is refused. On failure it exits non-zero with the error and leaves no
//! mount (and no target it created) behind.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mountfd::{
    mount_image_with, DetachedMount, IdMap, LoopOptions, MountAttr, MountFlags, MountInfo, Overlay,
    UnmountFlags, UserNs,
};

#[derive(Parser)]
#[command(
    name = "mountfd",
    about = "Id-mapped and read-only mounts through the fd-based mount API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Allow symlinks in the target's path before its final component
    /// (which is never followed). Without it, any symlink is refused.
    #[arg(long, global = true)]
    follow_symlinks: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Bind-mount SOURCE on TARGET, optionally id-mapped and read-only.
    Bind {
        /// The file or directory to bind.
        #[arg(long)]
        source: PathBuf,
        /// Where to attach it; created with the source's kind if missing.
        #[arg(long)]
        target: PathBuf,
        /// Id map `from:to[:range]`, on-disk id first; may repeat. On a
        /// source that is already id-mapped this map replaces the source's:
        /// it applies to the on-disk ids, not to the ids the source shows
        /// (`100000:2000:65536` on a `0:100000:65536` source matches nothing
        /// on disk, and every file shows as 65534).
        #[arg(long = "idmap", value_name = "MAP")]
        idmaps: Vec<String>,
        /// Make the mount read-only. Without it the mount still inherits
        /// read-only (and nosuid, nodev, noexec) from a source mount that
        /// has them.
        #[arg(long)]
        readonly: bool,
        /// Include submounts, and apply the attributes to them too.
        #[arg(long)]
        recursive: bool,
    },
    /// Mount a filesystem image (a file, through an autoclear loop device
    /// that lives as long as the mount, or a block device) on TARGET.
    Image {
        /// The image file or block device.
        #[arg(long)]
        image: PathBuf,
        /// The filesystem type: squashfs, erofs, ext4, ...
        #[arg(long)]
        fstype: String,
        /// The directory to mount on; created if missing.
        #[arg(long)]
        target: PathBuf,
        /// Where the filesystem starts in the image file, in bytes.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// How many bytes from the offset the filesystem spans (0: to the end).
        #[arg(long = "size-limit", default_value_t = 0)]
        size_limit: u64,
        /// Id map `from:to[:range]`, on-disk id first; may repeat.
        #[arg(long = "idmap", value_name = "MAP")]
        idmaps: Vec<String>,
        /// Mount read-only (the loop device and the superblock too).
        #[arg(long)]
        readonly: bool,
    },
    /// Mount an overlay of lower directories, optionally with a writable
    /// upper directory, on TARGET.
    Overlay {
        /// Lower directories, top first, separated by `:` (write a `:` or
        /// `\` inside a name as `\:` or `\\`); may repeat.
        #[arg(long, value_name = "DIR[:DIR...]", required = true)]
        lower: Vec<String>,
        /// The writable upper directory.
        #[arg(long, requires = "work")]
        upper: Option<PathBuf>,
        /// The overlay's work directory: empty, on the upper's filesystem.
        #[arg(long, requires = "upper")]
        work: Option<PathBuf>,
        /// The directory to mount on; created if missing.
        #[arg(long)]
        target: PathBuf,
    },
    /// Unmount TARGET (never following a final symlink). An image's
    /// autoclear loop device is freed with its last mount.
    Umount {
        /// Unmount TARGET and every mount beneath it, deepest first.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Lazy: detach now, free when no longer busy.
        #[arg(short = 'l', long)]
        lazy: bool,
        /// The mount point.
        target: PathBuf,
    },
    /// List mounts (findmnt-like): all, or PATH's mount and its subtree.
    List {
        /// JSON: {"filesystems": [{"id", "parent", "target", "source",
        /// "fstype", "options", "fs-options", "uidmap", "gidmap"}]}.
        #[arg(long)]
        json: bool,
        /// A mount point: list it and the mounts beneath it.
        path: Option<PathBuf>,
    },
    /// Exit 0 if PATH is a mount point, 32 if not (a final symlink is not
    /// followed).
    IsMountpoint {
        /// The path to test.
        path: PathBuf,
    },
}

/// `mountpoint -q`'s exit status for "not a mount point".
const NOT_A_MOUNTPOINT: u8 = 32;

fn umount(target: &Path, recursive: bool, lazy: bool) -> Result<(), String> {
    let flags = if lazy {
        UnmountFlags::DETACH
    } else {
        UnmountFlags::empty()
    };
    if recursive {
        mountfd::unmount_tree(target, flags).map(drop)
    } else {
        mountfd::unmount(target, flags)
    }
    .map_err(|e| e.to_string())
}

/// The per-mount options as mountinfo words.
fn options(m: &MountInfo) -> String {
    let f = m.flags;
    let mut o = vec![if f.contains(MountFlags::RDONLY) {
        "ro"
    } else {
        "rw"
    }];
    for (flag, word) in [
        (MountFlags::NOSUID, "nosuid"),
        (MountFlags::NODEV, "nodev"),
        (MountFlags::NOEXEC, "noexec"),
        (MountFlags::NOATIME, "noatime"),
        (MountFlags::NODIRATIME, "nodiratime"),
        (MountFlags::NOSYMFOLLOW, "nosymfollow"),
        (MountFlags::IDMAP, "idmapped"),
    ] {
        if f.contains(flag) {
            o.push(word);
        }
    }
    if !f.intersects(MountFlags::NOATIME | MountFlags::STRICTATIME) {
        o.push("relatime");
    }
    o.join(",")
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(json: bool, path: Option<&Path>) -> Result<(), String> {
    let all = match path {
        Some(p) => mountfd::mounts_under(p),
        None => mountfd::mounts(),
    }
    .map_err(|e| e.to_string())?;
    let map = |m: &Option<IdMap>| m.as_ref().map(ToString::to_string);
    if json {
        let rows: Vec<String> = all
            .iter()
            .map(|m| {
                let opt = |v: Option<String>| v.map_or("null".into(), |s| json_str(&s));
                format!(
                    "{{\"id\": {}, \"parent\": {}, \"target\": {}, \"source\": {}, \"fstype\": {}, \"options\": {}, \"fs-options\": {}, \"uidmap\": {}, \"gidmap\": {}}}",
                    m.id,
                    m.parent_id,
                    json_str(&m.mount_point.to_string_lossy()),
                    opt(m.source.clone()),
                    json_str(&m.fs_type),
                    json_str(&options(m)),
                    json_str(&m.superblock_options),
                    opt(map(&m.uid_map)),
                    opt(map(&m.gid_map)),
                )
            })
            .collect();
        println!("{{\"filesystems\": [\n   {}\n]}}", rows.join(",\n   "));
        return Ok(());
    }
    let rows: Vec<[String; 5]> = all
        .iter()
        .map(|m| {
            [
                m.mount_point.to_string_lossy().into_owned(),
                m.source.clone().unwrap_or_default(),
                m.fs_type.clone(),
                format!("{},{}", options(m), m.superblock_options),
                map(&m.uid_map).unwrap_or_default(),
            ]
        })
        .collect();
    let head = ["TARGET", "SOURCE", "FSTYPE", "OPTIONS", "IDMAP"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(head.map(String::from)).chain(rows) {
        let line: Vec<String> = r
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join(" ").trim_end());
    }
    Ok(())
}

/// Joins repeated `--idmap` values and splits them into (uid map, gid map).
fn parse_idmaps(values: &[String]) -> mountfd::Result<Option<(IdMap, IdMap)>> {
    if values.is_empty() {
        return Ok(None);
    }
    IdMap::parse_split(&values.join(",")).map(Some)
}

/// What kind of thing a path is, for matching a target to its source.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Dir,
    File,
}

fn name(k: Kind) -> &'static str {
    match k {
        Kind::Dir => "directory",
        Kind::File => "file",
    }
}

/// A target opened as its parent directory (an `O_PATH` fd) and the final
/// name in it: everything after the lookup is relative to that fd.
struct Target<'a> {
    shown: &'a Path,
    parent: OwnedFd,
    name: OsString,
}

impl<'a> Target<'a> {
    /// Opens `target`'s parent directory, refusing a symlink in any of its
    /// components (`RESOLVE_NO_SYMLINKS`) unless `follow`.
    fn open(target: &'a Path, follow: bool) -> Result<Self, String> {
        use rustix::fs::{openat, openat2, Mode, OFlags, ResolveFlags, CWD};
        let shown = target;
        // `.`, `..` and `/` have no final name: the target is then the
        // directory itself, opened as the "parent", and mounted on as `.`.
        let (name, parent) = match (target.file_name(), target.parent()) {
            (Some(name), Some(p)) if p.as_os_str().is_empty() => (name, Path::new(".")),
            (Some(name), Some(p)) => (name, p),
            _ => (".".as_ref(), target),
        };
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = if follow {
            openat(CWD, parent, flags, Mode::empty())
        } else {
            openat2(
                CWD,
                parent,
                flags,
                Mode::empty(),
                ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )
        };
        let parent = fd.map_err(|e| match e {
            rustix::io::Errno::LOOP if !follow => format!(
                "target {}: a component of {} is a symlink; refusing to follow it \
                 (--follow-symlinks allows symlinks before the final component)",
                shown.display(),
                parent.display()
            ),
            e => format!(
                "target {}: opening {}: {e}",
                shown.display(),
                parent.display()
            ),
        })?;
        Ok(Target {
            shown,
            parent,
            name: name.to_owned(),
        })
    }

    /// The final component's kind, not following a symlink, or `None` if
    /// it does not exist.
    fn kind(&self) -> Result<Option<Kind>, String> {
        use rustix::fs::{statat, AtFlags, FileType};
        match statat(&self.parent, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => Ok(Some(Kind::Dir)),
                FileType::Symlink => Err(format!(
                    "target {} is a symlink; refusing to mount on it",
                    self.shown.display()
                )),
                _ => Ok(Some(Kind::File)),
            },
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(format!("target {}: {e}", self.shown.display())),
        }
    }

    /// Makes sure the final component exists with `kind`; returns whether
    /// it was created.
    fn prepare(&self, kind: Kind) -> Result<bool, String> {
        use rustix::fs::{mkdirat, openat, Mode, OFlags};
        match self.kind()? {
            Some(k) if k == kind => Ok(false),
            Some(k) => Err(format!(
                "target {} is a {}, but the source is a {}",
                self.shown.display(),
                name(k),
                name(kind)
            )),
            None => {
                let mode = Mode::from_raw_mode(0o755);
                let made = match kind {
                    Kind::Dir => mkdirat(&self.parent, &self.name, mode),
                    Kind::File => openat(
                        &self.parent,
                        &self.name,
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )
                    .map(drop),
                };
                made.map_err(|e| format!("creating target {}: {e}", self.shown.display()))?;
                Ok(true)
            }
        }
    }

    /// Attaches `mnt` on the target, creating it with `kind` if missing and
    /// removing what was created, relative to the same parent fd, if the
    /// attach fails.
    fn attach(&self, mnt: DetachedMount, kind: Kind) -> Result<(), String> {
        use rustix::fs::{unlinkat, AtFlags};
        let created = self.prepare(kind)?;
        mnt.attach_at(self.parent.as_fd(), &self.name)
            .map_err(|e| {
                if created {
                    let flags = match kind {
                        Kind::Dir => AtFlags::REMOVEDIR,
                        Kind::File => AtFlags::empty(),
                    };
                    let _ = unlinkat(&self.parent, &self.name, flags);
                }
                format!("target {}: {e}", self.shown.display())
            })?;
        Ok(())
    }
}

/// The kind of a detached mount's root, from its own fd (no path lookup).
fn mount_kind(mnt: &DetachedMount) -> Result<Kind, String> {
    let st = rustix::fs::fstat(mnt).map_err(|e| format!("fstat of the new mount: {e}"))?;
    Ok(match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => Kind::Dir,
        _ => Kind::File,
    })
}

fn bind(
    source: &Path,
    target: &Path,
    follow: bool,
    idmaps: &[String],
    readonly: bool,
    recursive: bool,
) -> Result<(), String> {
    // Everything that can be checked is checked before anything is created.
    let maps = parse_idmaps(idmaps).map_err(|e| format!("--idmap: {e}"))?;
    let target = Target::open(target, follow)?;
    let ns = match &maps {
        Some((uids, gids)) => Some(UserNs::new(uids, gids).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut attr = MountAttr::new();
    if readonly {
        attr = attr.readonly();
    }
    let attr = match &ns {
        Some(ns) => attr.idmap(ns),
        None => attr,
    };
    // The detached mount is unmounted on drop if anything below fails. Its
    // kind is read from its own fd: the source path is looked up only once.
    let tree =
        DetachedMount::clone_tree_with(source, recursive, &attr).map_err(|e| e.to_string())?;
    let kind = mount_kind(&tree)?;
    target.attach(tree, kind)
}

/// The id map of repeated `--idmap` values as a user namespace, if any.
fn userns_for(idmaps: &[String]) -> Result<Option<UserNs>, String> {
    match parse_idmaps(idmaps).map_err(|e| format!("--idmap: {e}"))? {
        Some((uids, gids)) => UserNs::new(&uids, &gids)
            .map(Some)
            .map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

fn image(
    image: &Path,
    fstype: &str,
    target: &Target<'_>,
    opts: &LoopOptions,
    idmaps: &[String],
) -> Result<(), String> {
    // The map, the image, the type and the offset are all checked (and the
    // filesystem mounted, detached) before the target is touched.
    let ns = userns_for(idmaps)?;
    let attr = if opts.read_only {
        MountAttr::new().readonly()
    } else {
        MountAttr::new()
    };
    let attr = match &ns {
        Some(ns) => attr.idmap(ns),
        None => attr,
    };
    let mnt = mount_image_with(image, fstype, &attr, opts).map_err(|e| e.to_string())?;
    // On failure below, dropping `mnt` unmounts the filesystem, and the
    // autoclear loop device goes with it.
    target.attach(mnt, Kind::Dir)
}

fn overlay(
    lowers: &[String],
    upper_work: Option<(&Path, &Path)>,
    target: &Target<'_>,
) -> Result<(), String> {
    let mut layers = Vec::new();
    for value in lowers {
        layers.extend(Overlay::parse_lowerdir(value).map_err(|e| format!("--lower: {e}"))?);
    }
    let mut ov = Overlay::new();
    for layer in &layers {
        ov = ov.lower(layer);
    }
    if let Some((upper, work)) = upper_work {
        ov = ov.upper(upper, work);
    }
    let mnt = ov.mount(&MountAttr::new()).map_err(|e| e.to_string())?;
    target.attach(mnt, Kind::Dir)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let follow = cli.follow_symlinks;
    let result = match &cli.command {
        Command::Bind {
            source,
            target,
            idmaps,
            readonly,
            recursive,
        } => bind(source, target, follow, idmaps, *readonly, *recursive),
        Command::Image {
            image: img,
            fstype,
            target,
            offset,
            size_limit,
            idmaps,
            readonly,
        } => {
            let opts = LoopOptions {
                offset: *offset,
                size_limit: *size_limit,
                read_only: *readonly,
                ..LoopOptions::new()
            };
            Target::open(target, follow).and_then(|t| image(img, fstype, &t, &opts, idmaps))
        }
        Command::Overlay {
            lower,
            upper,
            work,
            target,
        } => Target::open(target, follow)
            .and_then(|t| overlay(lower, upper.as_deref().zip(work.as_deref()), &t)),
        Command::Umount {
            recursive,
            lazy,
            target,
        } => umount(target, *recursive, *lazy),
        Command::List { json, path } => list(*json, path.as_deref()),
        Command::IsMountpoint { path } => match mountfd::is_mountpoint(path) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(NOT_A_MOUNTPOINT),
            Err(e) => Err(e.to_string()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mountfd: {e}");
            ExitCode::FAILURE
        }
    }
}
