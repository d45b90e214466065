//! `mountfd`: a small mount tool built on the crate.
//!
//! ```text
//! mountfd bind --source S --target T [--idmap MAP]... [--readonly] [--recursive]
//! mountfd image --image F --fstype T --target DIR [--offset N] [--size-limit N]
//!               [--idmap MAP]... [--readonly]
//! mountfd overlay --lower D[:D...] [--upper D --work D] --target DIR
//! ```
//!
//! `--idmap` takes the crate's map text (`0:100000:65536`, comma-separated
//! extents, optional `u:`/`g:`/`b:` prefixes) and may repeat. A missing
//! target is created with the source's kind (file or directory); a target of
//! the other kind is refused. On failure it exits non-zero with the error and
//! leaves no mount (and no target it created) behind.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mountfd::{mount_image_with, DetachedMount, IdMap, LoopOptions, MountAttr, Overlay, UserNs};

#[derive(Parser)]
#[command(
    name = "mountfd",
    about = "Id-mapped and read-only mounts through the fd-based mount API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Id map `from:to[:range]`, on-disk id first; may repeat.
        #[arg(long = "idmap", value_name = "MAP")]
        idmaps: Vec<String>,
        /// Make the mount read-only.
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

fn kind_of(path: &Path) -> std::io::Result<Option<Kind>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(Some(Kind::Dir)),
        Ok(m) if m.file_type().is_symlink() => Err(std::io::Error::other(format!(
            "{} is a symlink; refusing to mount on it",
            path.display()
        ))),
        Ok(_) => Ok(Some(Kind::File)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes sure `target` exists with `kind`; returns whether it was created.
fn prepare_target(target: &Path, kind: Kind) -> Result<bool, String> {
    match kind_of(target).map_err(|e| format!("target {}: {e}", target.display()))? {
        Some(k) if k == kind => Ok(false),
        Some(k) => Err(format!(
            "target {} is a {}, but the source is a {}",
            target.display(),
            name(k),
            name(kind)
        )),
        None => {
            let made = match kind {
                Kind::Dir => std::fs::create_dir(target),
                Kind::File => std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(target)
                    .map(drop),
            };
            made.map_err(|e| format!("creating target {}: {e}", target.display()))?;
            Ok(true)
        }
    }
}

fn name(k: Kind) -> &'static str {
    match k {
        Kind::Dir => "directory",
        Kind::File => "file",
    }
}

fn bind(
    source: &Path,
    target: &Path,
    idmaps: &[String],
    readonly: bool,
    recursive: bool,
) -> Result<(), String> {
    // Everything that can be checked is checked before anything is created.
    let maps = parse_idmaps(idmaps).map_err(|e| format!("--idmap: {e}"))?;
    let kind = match std::fs::metadata(source) {
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(_) => Kind::File,
        Err(e) => return Err(format!("source {}: {e}", source.display())),
    };
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
    // The detached mount is unmounted on drop if anything below fails.
    let tree =
        DetachedMount::clone_tree_with(source, recursive, &attr).map_err(|e| e.to_string())?;
    let created = prepare_target(target, kind)?;
    tree.attach(target).map_err(|e| {
        if created {
            let _ = match kind {
                Kind::Dir => std::fs::remove_dir(target),
                Kind::File => std::fs::remove_file(target),
            };
        }
        e.to_string()
    })
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

/// Attaches a detached mount on a directory `target`, creating the directory
/// if missing and removing it again if the attach fails.
fn attach_on_dir(mnt: DetachedMount, target: &Path) -> Result<(), String> {
    let created = prepare_target(target, Kind::Dir)?;
    mnt.attach(target).map_err(|e| {
        if created {
            let _ = std::fs::remove_dir(target);
        }
        e.to_string()
    })
}

fn image(
    image: &Path,
    fstype: &str,
    target: &Path,
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
    attach_on_dir(mnt, target)
}

fn overlay(
    lowers: &[String],
    upper_work: Option<(&Path, &Path)>,
    target: &Path,
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
    attach_on_dir(mnt, target)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bind {
            source,
            target,
            idmaps,
            readonly,
            recursive,
        } => bind(source, target, idmaps, *readonly, *recursive),
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
            image(img, fstype, target, &opts, idmaps)
        }
        Command::Overlay {
            lower,
            upper,
            work,
            target,
        } => overlay(lower, upper.as_deref().zip(work.as_deref()), target),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mountfd: {e}");
            ExitCode::FAILURE
        }
    }
}
