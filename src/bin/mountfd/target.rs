//! The mount target: its parent directory opened once, the final name
//! checked, created and mounted on relative to that fd.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mountfd::DetachedMount;

use crate::Where;

/// What kind of thing a path is, for matching a target to its source.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
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
pub struct Target<'a> {
    shown: &'a Path,
    parent: OwnedFd,
    name: OsString,
    how: How,
}

/// How the mount goes on the target.
enum How {
    /// Attached on the final name in `parent`, created if missing.
    Attach,
    /// `--in-root`: `parent` is the root directory, and the target is
    /// resolved inside it ([`DetachedMount::attach_in_creating`]).
    InRoot,
    /// `--replace`: swapped for what is mounted there
    /// ([`DetachedMount::replace`]).
    Replace,
}

impl<'a> Target<'a> {
    /// Opens `target`'s parent directory, refusing a symlink in any of its
    /// components (`RESOLVE_NO_SYMLINKS`) unless `follow`.
    pub fn open(target: &'a Path, at: &Where) -> Result<Self, String> {
        use rustix::fs::{openat, openat2, Mode, OFlags, ResolveFlags, CWD};
        let follow = at.follow;
        let shown = target;
        if let Some(root) = &at.in_root {
            // The root itself is opened under the same symlink rule as any
            // target; inside it, the library keeps every lookup within it.
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let fd = if follow {
                openat(CWD, root, flags, Mode::empty())
            } else {
                openat2(
                    CWD,
                    root,
                    flags,
                    Mode::empty(),
                    ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
                )
            };
            let parent = fd.map_err(|e| format!("--in-root {}: {e}", root.display()))?;
            return Ok(Target {
                shown,
                parent,
                name: target.as_os_str().to_owned(),
                how: How::InRoot,
            });
        }
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
            how: if at.replace {
                How::Replace
            } else {
                How::Attach
            },
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

    /// The target as the user wrote it.
    pub fn shown(&self) -> &Path {
        self.shown
    }

    /// Attaches `mnt` on the target, creating it with `kind` if missing and
    /// removing what was created, relative to the same parent fd, if the
    /// attach fails. Returns whether the target was created.
    pub fn attach(&self, mnt: DetachedMount, kind: Kind) -> Result<bool, String> {
        use rustix::fs::{unlinkat, AtFlags};
        let shown = || self.shown.display();
        match self.how {
            How::Attach => {}
            How::InRoot => {
                return mnt
                    .attach_in_creating(&self.parent, &self.name)
                    .map(|_| false)
                    .map_err(|e| format!("target {} in the root: {e}", shown()));
            }
            How::Replace => {
                // The parent was opened under the symlink rule; the final
                // name, never followed, is the mount point to swap.
                let top = self.kind()?;
                if top != Some(kind) {
                    return Err(format!(
                        "target {} is not a {} to replace",
                        shown(),
                        name(kind)
                    ));
                }
                let path = rustix::fs::readlink(
                    format!("/proc/thread-self/fd/{}", self.parent.as_raw_fd()),
                    Vec::new(),
                )
                .map_err(|e| format!("target {}: {e}", shown()))?;
                let at = Path::new(std::ffi::OsStr::from_bytes(path.as_bytes())).join(&self.name);
                // The old tree, returned for a rollback, is unmounted on drop.
                return mnt
                    .replace(&at)
                    .map(drop)
                    .map(|()| false)
                    .map_err(|e| format!("replacing {}: {e}", shown()));
            }
        }
        let created = self.prepare(kind)?;
        mnt.attach_at(self.parent.as_fd(), &self.name)
            .map(|_| created)
            .map_err(|e| {
                if created {
                    let flags = match kind {
                        Kind::Dir => AtFlags::REMOVEDIR,
                        Kind::File => AtFlags::empty(),
                    };
                    let _ = unlinkat(&self.parent, &self.name, flags);
                }
                format!("target {}: {e}", self.shown.display())
            })
    }
}

/// The kind of a detached mount's root, from its own fd (no path lookup).
pub fn mount_kind(mnt: &DetachedMount) -> Result<Kind, String> {
    let st = rustix::fs::fstat(mnt).map_err(|e| format!("fstat of the new mount: {e}"))?;
    Ok(match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => Kind::Dir,
        _ => Kind::File,
    })
}

/// Whether the effective uid is 0, as mounting needs.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The device a mounted filesystem lives on, read from the mount's own fd:
/// `/dev/loopN` for a loop device (block major 7, `drivers/block/loop.c`),
/// or the file itself when there is no block device (major 0: an erofs
/// image mounted from the file).
pub fn describe_device(mnt: &DetachedMount) -> String {
    let Ok(st) = rustix::fs::fstat(mnt) else {
        return "an unknown device".into();
    };
    let (major, minor) = (rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
    match major {
        7 => format!("loop device /dev/loop{minor} (autoclear: unbound with the last unmount)"),
        0 => "the image file itself, no loop device".into(),
        _ => format!("block device {major}:{minor}"),
    }
}
