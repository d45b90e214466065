//! `mountfd`: id-mapped, read-only and image mounts from the command line,
//! through the fd-based mount API. Built with `--features cli`; see
//! `mountfd --help` (the long help is the manual) and the README.
//!
//! ```text
//! mountfd [-o OPTS] [-t TYPE] [-v] SOURCE TARGET
//! mountfd bind --source S --target T [--idmap MAP]... [--readonly] [--recursive]
//! mountfd image --image F --fstype T --target DIR [--offset N] [--size-limit N]
//!               [--idmap MAP]... [--readonly]
//! mountfd overlay --lower D[:D...] [--upper D --work D] --target DIR
//! mountfd umount [-R] [-l] TARGET
//! mountfd list [--json] [PATH]
//! mountfd is-mountpoint PATH      # exit 0: yes, 32: no (as `mountpoint -q`)
//! mountfd completions SHELL
//! ```
//!
//! No component of a target may be a symlink: the target's parent directory
//! is opened once with `openat2(RESOLVE_NO_SYMLINKS)`, and the final name is
//! checked, created and mounted on relative to that fd, never looked up by
//! path again. `--follow-symlinks` allows symlinks before the final
//! component; the final component is never followed. A missing target is
//! created with the source's kind (file or directory); a target of the other
//! kind is refused. On failure it leaves no mount (and no target it created)
//! behind, and exits as `mount(8)` does: 1 for a usage error or missing
//! privileges, 32 for a failed mount.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use mountfd::{mount_image_with, DetachedMount, IdMap, LoopOptions, MountAttr, Overlay, UserNs};

mod help;
mod lifecycle;
mod options;

// The target is looked up with openat2 and mounted on relative to an fd:
// Linux only. Elsewhere every command fails as the library's calls do.
#[cfg(target_os = "linux")]
mod target;
#[cfg(not(target_os = "linux"))]
#[path = "target_unsupported.rs"]
mod target;

use help::{AFTER_LONG_HELP, IDMAP_HELP};
use options::MountOptions;
use target::{describe_device, is_root, mount_kind, Kind, Target};

#[derive(Parser)]
#[command(
    name = "mountfd",
    version,
    about = "Id-mapped, read-only and image mounts through the fd-based mount API",
    long_about = "Id-mapped, read-only and image mounts through the fd-based mount API \
                  (open_tree_attr, mount_setattr, fsopen/fsmount, move_mount).\n\n\
                  With SOURCE and TARGET and no subcommand it bind-mounts SOURCE on \
                  TARGET as `mount --bind` does, or, with -t TYPE, mounts the image \
                  or block device SOURCE, as `mount -t TYPE` does. Needs root \
                  (CAP_SYS_ADMIN).",
    after_long_help = AFTER_LONG_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// What to mount: a file or directory to bind, or with -t an image or
    /// block device.
    #[arg(value_name = "SOURCE", requires = "target_pos")]
    source: Option<PathBuf>,
    /// Where to attach it; created with the source's kind if missing.
    #[arg(value_name = "TARGET", id = "target_pos")]
    target: Option<PathBuf>,
    /// Filesystem type of an image SOURCE (squashfs, erofs, ext4, ...).
    /// Without it SOURCE is bind-mounted.
    #[arg(short = 't', long = "types", value_name = "TYPE")]
    fstype: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Options every command takes.
#[derive(clap::Args)]
struct Common {
    /// Mount options, comma-separated (see MOUNT OPTIONS below); may repeat.
    #[arg(short = 'o', long = "options", value_name = "OPTS", global = true)]
    options: Vec<String>,
    /// Say what is done: the id map, the calls used, the loop device.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Allow symlinks in the target's path before its final component
    /// (which is never followed). Without it, any symlink is refused.
    #[arg(long, global = true)]
    follow_symlinks: bool,
    /// Resolve TARGET inside DIR, as if DIR were `/` (a container's root):
    /// symlinks are followed only within DIR, and a missing final directory
    /// or file is created there. Nothing can lead the mount outside DIR.
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "replace")]
    in_root: Option<PathBuf>,
    /// Swap what is mounted on TARGET for the new mount in one step
    /// (MOVE_MOUNT_BENEATH, Linux 6.5+): readers see the old tree or the
    /// new one, never an empty directory. TARGET must be a mount point.
    #[arg(long, global = true)]
    replace: bool,
}

/// Where a new mount goes: the target path and how it is resolved.
pub struct Where {
    /// `--follow-symlinks`.
    pub follow: bool,
    /// `--in-root DIR`.
    pub in_root: Option<PathBuf>,
    /// `--replace`.
    pub replace: bool,
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
        #[arg(long = "idmap", value_name = "MAP", help = IDMAP_HELP)]
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
        #[arg(long)]
        offset: Option<u64>,
        /// How many bytes from the offset the filesystem spans (0: to the end).
        #[arg(long = "size-limit")]
        size_limit: Option<u64>,
        #[arg(long = "idmap", value_name = "MAP", help = IDMAP_HELP)]
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
    /// Print a completion script for SHELL on standard output.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Why the tool stopped: the exit status `mount(8)` gives for it.
enum Failure {
    /// Bad arguments, or no privileges: exit status 1.
    Usage(String),
    /// The mount itself failed: exit status 32.
    Mount(String),
    /// An answer given by the exit status alone (`is-mountpoint`: 32).
    Status(u8),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 1,
            Failure::Mount(_) => 32,
            Failure::Status(code) => *code,
        }
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Mount(s)
    }
}

impl From<mountfd::Error> for Failure {
    fn from(e: mountfd::Error) -> Self {
        Failure::Mount(e.to_string())
    }
}

/// `-v` output, on standard error like every other message.
struct Log(bool);

impl Log {
    fn say(&self, what: impl std::fmt::Display) {
        if self.0 {
            let _ = writeln!(std::io::stderr(), "mountfd: {what}");
        }
    }
}

/// The id map of `--idmap` values and `-o idmap=`, split into (uids, gids).
fn parse_idmaps(values: &[String]) -> Result<Option<(IdMap, IdMap)>, Failure> {
    if values.is_empty() {
        return Ok(None);
    }
    let joined = values.join(",");
    IdMap::parse_split(&joined).map(Some).map_err(|e| {
        let mut msg = format!("--idmap {joined}: {e}");
        if options::looks_like_proc_map(&joined) {
            msg.push_str(&format!(
                "\n  hint: that is the /proc/PID/uid_map form; write it as {}",
                options::proc_map_to_colons(&joined)
            ));
        }
        msg.push_str("\n  an id map is FROM:TO[:RANGE] (on-disk id first, RANGE defaults to 1), extents separated by commas, each optionally prefixed u:, g: or b:");
        Failure::Usage(msg)
    })
}

/// Mounting needs CAP_SYS_ADMIN: say so plainly before any call fails with
/// a bare EPERM.
fn require_root() -> Result<(), Failure> {
    if is_root() {
        Ok(())
    } else {
        Err(Failure::Usage(
            "must be root: mounting needs CAP_SYS_ADMIN (run it with sudo, or as root)".into(),
        ))
    }
}

/// The kernel release, for `-v`'s account of which calls a kernel has.
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether `release` (`6.15.0-...`) is at least `major.minor`.
fn at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let maj = parts.next().and_then(|p| p.parse::<u32>().ok());
    let min = parts.next().and_then(|p| p.parse::<u32>().ok());
    matches!((maj, min), (Some(a), Some(b)) if (a, b) >= (major, minor))
}

/// A user namespace carrying the maps, if any, said with `-v`.
fn userns_for(maps: &Option<(IdMap, IdMap)>, log: &Log) -> Result<Option<UserNs>, Failure> {
    let Some((uids, gids)) = maps else {
        return Ok(None);
    };
    let ns = UserNs::new(uids, gids)?;
    log.say(format_args!(
        "id map: uid {uids}, gid {gids} (a user namespace made from it, by clone(CLONE_NEWUSER))"
    ));
    Ok(Some(ns))
}

/// The attributes the options ask for.
fn attr_for<'a>(o: &MountOptions, ns: Option<&'a UserNs>) -> MountAttr<'a> {
    let mut attr = MountAttr::new();
    match o.readonly {
        Some(true) => attr = attr.readonly(),
        Some(false) => attr = attr.read_write(),
        None => {}
    }
    if o.nosuid {
        attr = attr.nosuid();
    }
    if o.nodev {
        attr = attr.nodev();
    }
    if o.noexec {
        attr = attr.noexec();
    }
    if o.nosymfollow {
        attr = attr.nosymfollow();
    }
    if o.nodiratime {
        attr = attr.nodiratime();
    }
    if let Some(a) = o.atime {
        attr = attr.atime(a);
    }
    match ns {
        Some(ns) => attr.idmap(ns),
        None => attr,
    }
}

fn bind(
    source: &Path,
    target: &Path,
    at: &Where,
    o: &MountOptions,
    log: &Log,
) -> Result<(), Failure> {
    if o.offset.is_some() || o.sizelimit.is_some() {
        return Err(Failure::Usage(
            "offset= and sizelimit= are for images (-t TYPE), not binds".into(),
        ));
    }
    // Everything that can be checked is checked before anything is created.
    let maps = parse_idmaps(&o.idmaps)?;
    require_root()?;
    let target = Target::open(target, at)?;
    let ns = userns_for(&maps, log)?;
    let attr = attr_for(o, ns.as_ref());
    // The detached mount is unmounted on drop if anything below fails. Its
    // kind is read from its own fd: the source path is looked up only once.
    let tree = DetachedMount::clone_tree_with(source, o.recursive, &attr)?;
    let release = kernel_release();
    let how = if attr.is_empty() {
        "open_tree(OPEN_TREE_CLONE)".to_owned()
    } else if at_least(&release, 6, 15) {
        format!("open_tree_attr, attributes and clone in one call (kernel {release})")
    } else {
        format!(
            "open_tree, then mount_setattr (kernel {release} has no open_tree_attr: \
             fallback, which cannot re-map an id-mapped source)"
        )
    };
    log.say(format_args!(
        "cloned {}{} with {}",
        source.display(),
        if o.recursive {
            " and its submounts"
        } else {
            ""
        },
        how
    ));
    let kind = mount_kind(&tree)?;
    attach_and_say(&target, tree, kind, log)
}

/// Attaches `mnt` on `target` and says so (and whether the target was
/// created), as every mounting command ends.
fn attach_and_say(
    target: &Target,
    mnt: DetachedMount,
    kind: Kind,
    log: &Log,
) -> Result<(), Failure> {
    let created = target.attach(mnt, kind)?;
    log.say(format_args!(
        "attached on {} by move_mount{}",
        target.shown().display(),
        if created { " (target created)" } else { "" }
    ));
    Ok(())
}

fn image(
    image: &Path,
    fstype: &str,
    target: &Path,
    at: &Where,
    o: &MountOptions,
    log: &Log,
) -> Result<(), Failure> {
    if o.recursive {
        return Err(Failure::Usage("rbind is for binds, not images".into()));
    }
    let maps = parse_idmaps(&o.idmaps)?;
    require_root()?;
    let target = Target::open(target, at)?;
    // The map, the image, the type and the offset are all checked (and the
    // filesystem mounted, detached) before the target is touched.
    let ns = userns_for(&maps, log)?;
    let attr = attr_for(o, ns.as_ref());
    let opts = LoopOptions {
        offset: o.offset.unwrap_or(0),
        size_limit: o.sizelimit.unwrap_or(0),
        read_only: attr.is_readonly(),
        ..LoopOptions::new()
    };
    let mnt = mount_image_with(image, fstype, &attr, &opts)?;
    log.say(format_args!(
        "mounted {} as {fstype} by fsopen/fsconfig/fsmount from {}",
        image.display(),
        describe_device(&mnt)
    ));
    // On failure below, dropping `mnt` unmounts the filesystem, and the
    // autoclear loop device goes with it.
    attach_and_say(&target, mnt, Kind::Dir, log)
}

fn overlay(
    lowers: &[String],
    upper_work: Option<(&Path, &Path)>,
    target: &Path,
    at: &Where,
    o: &MountOptions,
    log: &Log,
) -> Result<(), Failure> {
    if o.recursive || o.offset.is_some() || o.sizelimit.is_some() {
        return Err(Failure::Usage(
            "rbind, offset= and sizelimit= do not apply to an overlay".into(),
        ));
    }
    let mut layers = Vec::new();
    for value in lowers {
        layers.extend(
            Overlay::parse_lowerdir(value).map_err(|e| Failure::Usage(format!("--lower: {e}")))?,
        );
    }
    let maps = parse_idmaps(&o.idmaps)?;
    require_root()?;
    let target = Target::open(target, at)?;
    let ns = userns_for(&maps, log)?;
    let attr = attr_for(o, ns.as_ref());
    let mut ov = Overlay::new();
    for layer in &layers {
        ov = ov.lower(layer);
    }
    if let Some((upper, work)) = upper_work {
        ov = ov.upper(upper, work);
    }
    let mnt = ov.mount(&attr)?;
    log.say(format_args!(
        "mounted an overlay of {} lower layer(s){} by fsopen/fsconfig/fsmount",
        layers.len(),
        if upper_work.is_some() {
            " with an upper layer"
        } else {
            ""
        }
    ));
    attach_and_say(&target, mnt, Kind::Dir, log)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let Common {
        options,
        verbose,
        follow_symlinks,
        in_root,
        replace,
    } = &cli.common;
    let at = Where {
        follow: *follow_symlinks,
        in_root: in_root.clone(),
        replace: *replace,
    };
    let log = Log(*verbose);
    let mut o = MountOptions::parse(options).map_err(Failure::Usage)?;
    match cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "mountfd",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Some(Command::Umount {
            recursive,
            lazy,
            target,
        }) => lifecycle::umount(&target, recursive, lazy).map_err(Failure::Mount),
        Some(Command::List { json, path }) => {
            lifecycle::list(json, path.as_deref()).map_err(Failure::Mount)
        }
        Some(Command::IsMountpoint { path }) => match mountfd::is_mountpoint(&path) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Status(lifecycle::NOT_A_MOUNTPOINT)),
            Err(e) => Err(Failure::Usage(e.to_string())),
        },
        Some(Command::Bind {
            source,
            target,
            idmaps,
            readonly,
            recursive,
        }) => {
            o.idmaps.extend(idmaps);
            o.readonly = o.readonly.or(readonly.then_some(true));
            o.recursive |= recursive;
            bind(&source, &target, &at, &o, &log)
        }
        Some(Command::Image {
            image: img,
            fstype,
            target,
            offset,
            size_limit,
            idmaps,
            readonly,
        }) => {
            o.idmaps.extend(idmaps);
            o.readonly = o.readonly.or(readonly.then_some(true));
            o.offset = offset.or(o.offset);
            o.sizelimit = size_limit.or(o.sizelimit);
            image(&img, &fstype, &target, &at, &o, &log)
        }
        Some(Command::Overlay {
            lower,
            upper,
            work,
            target,
        }) => overlay(
            &lower,
            upper.as_deref().zip(work.as_deref()),
            &target,
            &at,
            &o,
            &log,
        ),
        None => match (&cli.source, &cli.target) {
            (Some(source), Some(target)) => match &cli.fstype {
                Some(t) => image(source, t, target, &at, &o, &log),
                None => bind(source, target, &at, &o, &log),
            },
            _ => Err(Failure::Usage(format!(
                "SOURCE and TARGET, or a subcommand, are needed\n\n{}",
                Cli::command().render_usage()
            ))),
        },
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version go to stdout with status 0; a usage
            // error is status 1, as mount(8) has it (clap's own is 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Failure::Usage(msg) | Failure::Mount(msg) = &f {
                let _ = writeln!(std::io::stderr(), "mountfd: {msg}");
            }
            ExitCode::from(f.code())
        }
    }
}
