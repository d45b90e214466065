//! `mountfd`: a small mount tool built on the crate.
//!
//! ```text
//! mountfd bind --source S --target T [--idmap MAP]... [--readonly] [--recursive]
//! mountfd image --image F --fstype T --target DIR [--offset N] [--size-limit N]
//!               [--idmap MAP]... [--readonly]
//! mountfd overlay --lower D[:D...] [--upper D --work D] --target DIR
//! (each also takes --follow-symlinks)
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

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mountfd::{mount_image_with, DetachedMount, IdMap, LoopOptions, MountAttr, Overlay, UserNs};

// The target is looked up with openat2 and mounted on relative to an fd:
// Linux only. Elsewhere every command fails as the library's calls do.
#[cfg(target_os = "linux")]
mod target;
#[cfg(not(target_os = "linux"))]
#[path = "target_unsupported.rs"]
mod target;

use target::{mount_kind, Kind, Target};

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
}

/// Joins repeated `--idmap` values and splits them into (uid map, gid map).
fn parse_idmaps(values: &[String]) -> mountfd::Result<Option<(IdMap, IdMap)>> {
    if values.is_empty() {
        return Ok(None);
    }
    IdMap::parse_split(&values.join(",")).map(Some)
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mountfd: {e}");
            ExitCode::FAILURE
        }
    }
}
