//! Resolving a caller's path once, to an `O_PATH` fd, and using that fd.
//!
//! A path a caller hands the crate may be hostile: a symlink planted where a
//! directory was expected, a FIFO whose `open` blocks for ever, a character
//! device whose `open` has side effects (a watchdog arms, a tape rewinds, a
//! tty becomes the controlling terminal), or any of these swapped in between
//! a check and a use. So a path is looked up exactly once, with `O_PATH`
//! (which opens nothing: no device driver's `open` runs, a FIFO does not
//! block), its kind is checked with `fstat` on that fd, and from then on the
//! fd is used: as the target of `move_mount(MOVE_MOUNT_T_EMPTY_PATH)`, as a
//! directory fd, or re-opened for I/O through `/proc/thread-self/fd/N`
//! (the magic link opens the very file the fd refers to; libpathrs's
//! `reopen` does the same).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{openat, openat2, FileType, Mode, OFlags, ResolveFlags};

pub(crate) use crate::resolved::{Follow, Kind, Resolved};
use crate::{Error, Op, Result};

/// Runs `f` with `path` as a NUL-terminated string, on the stack when short.
///
/// A path with an interior NUL is rejected as bad input, before any call.
pub(crate) fn with_c_path<T>(
    path: &Path,
    f: impl FnOnce(&std::ffi::CStr) -> Result<T>,
) -> Result<T> {
    use rustix::path::Arg;
    let mut inner = None;
    let outer = path.into_with_c_str(|c| {
        inner = Some(f(c));
        Ok(())
    });
    match (outer, inner) {
        (_, Some(r)) => r,
        (Err(_), None) => Err(Error::invalid(
            "path",
            format!("{} contains a NUL byte", path.display()),
        )),
        (Ok(()), None) => unreachable!("into_with_c_str returned Ok without calling back"),
    }
}

/// Looks `path` up (relative to `dir` when not absolute) to an `O_PATH`,
/// close-on-exec fd and `fstat`s it. Opens nothing: no FIFO blocks, no
/// device's `open` runs.
///
/// # Errors
///
/// [`Error::Os`] (`ENOENT`, `ELOOP` for a symlink where [`Follow::None`]
/// forbids one, `EACCES`), naming `path`; [`Error::InvalidInput`] for a path
/// with a NUL byte.
pub(crate) fn resolve(dir: BorrowedFd<'_>, path: &Path, follow: Follow) -> Result<Resolved> {
    if follow == Follow::NotLast {
        if let Some(trimmed) = without_trailing_slashes(path) {
            // "link/" names what `link` points to: the kernel follows a
            // final symlink before a trailing slash even with `O_NOFOLLOW`
            // (`LOOKUP_FOLLOW` is forced for it in fs/namei.c). Look the
            // name up without the slash, then ask for a directory as the
            // slash did.
            let r = open_path(dir, trimmed, follow, path)?;
            if !matches!(r.kind, Kind::Dir | Kind::Symlink) {
                return Err(Error::sys_at(
                    Op::Open,
                    Some(path),
                    rustix::io::Errno::NOTDIR,
                ));
            }
            return Ok(r);
        }
    }
    open_path(dir, path, follow, path)
}

/// Looks up a mount target: `path` relative to `dir`, its final component
/// not followed (a trailing slash notwithstanding), to an `O_PATH` fd;
/// [`Error::InvalidInput`] if that component is a symlink.
///
/// Most targets are directories, and `O_DIRECTORY | O_NOFOLLOW` opens a
/// directory but refuses a final symlink (`ENOTDIR`), so for them one `open`
/// decides and no `fstat` is needed: attaching is a hot path. Anything else
/// is looked up again and `fstat`ed, as [`resolve`] does.
pub(crate) fn mount_target(dir: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd> {
    let lookup = without_trailing_slashes(path).unwrap_or(path);
    let flags = OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::DIRECTORY;
    match with_c_path(lookup, |c| Ok(openat(dir, c, flags, Mode::empty())))? {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::NOTDIR) => {
            let r = resolve(dir, path, Follow::NotLast)?;
            if r.kind == Kind::Symlink {
                return Err(Error::invalid(
                    "mount target",
                    format!(
                        "{} is a symlink; a mount is never attached on one",
                        path.display()
                    ),
                ));
            }
            Ok(r.fd)
        }
        Err(e) => Err(Error::sys_at(Op::Open, Some(path), e)),
    }
}

/// `path` without its trailing slashes, if it has any (and is more than
/// slashes: `/` stays as it is).
fn without_trailing_slashes(path: &Path) -> Option<&Path> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/')? + 1;
    (end < bytes.len()).then(|| Path::new(std::ffi::OsStr::from_bytes(&bytes[..end])))
}

/// [`resolve`] of `path` as it is; errors name `shown`.
fn open_path(dir: BorrowedFd<'_>, path: &Path, follow: Follow, shown: &Path) -> Result<Resolved> {
    stat_resolved(open_o_path(dir, path, follow, shown)?, shown)
}

/// The lookup of [`resolve`] without its `fstat`, for a caller that learns
/// the kind another way (a `statx` it makes anyway); errors name `shown`.
pub(crate) fn open_o_path(
    dir: BorrowedFd<'_>,
    path: &Path,
    follow: Follow,
    shown: &Path,
) -> Result<OwnedFd> {
    let base = OFlags::PATH | OFlags::CLOEXEC;
    with_c_path(path, |c| {
        match follow {
            Follow::All => openat(dir, c, base, Mode::empty()),
            Follow::NotLast => openat(dir, c, base | OFlags::NOFOLLOW, Mode::empty()),
            Follow::None => openat2(
                dir,
                c,
                base | OFlags::NOFOLLOW,
                Mode::empty(),
                ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            ),
        }
        .map_err(|e| Error::sys_at(Op::Open, Some(shown), e))
    })
}

/// `fstat`s an fd the crate already holds, as [`resolve`] does.
pub(crate) fn stat_resolved(fd: OwnedFd, path: &Path) -> Result<Resolved> {
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::sys_at(Op::Fstat, Some(path), e))?;
    let kind = match FileType::from_raw_mode(st.st_mode as _) {
        FileType::Directory => Kind::Dir,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Symlink,
        FileType::BlockDevice => Kind::BlockDevice,
        FileType::CharacterDevice => Kind::CharDevice,
        FileType::Fifo => Kind::Fifo,
        _ => Kind::Socket,
    };
    Ok(Resolved {
        fd,
        kind,
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        rdev: st.st_rdev as u64,
        size: st.st_size as u64,
    })
}

/// `/proc/thread-self/fd/N`: the magic link that opens, or names to the
/// kernel, exactly the file `fd` refers to.
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/thread-self/fd/{}", fd.as_raw_fd())
}

/// Opens the file `r` refers to for I/O (read-only, or read-write with
/// `write`), through its `/proc/thread-self/fd/N` link, close-on-exec and
/// without becoming a controlling terminal. Then checks that what was opened
/// is the same inode, so a `/proc` that is not the process's own procfs
/// cannot substitute another file.
///
/// # Errors
///
/// [`Error::Os`] from `open` (naming `path`, the caller's name for the
/// file); [`Error::InvalidInput`] if `/proc` gave another file.
pub(crate) fn reopen(r: &Resolved, write: bool, path: &Path) -> Result<OwnedFd> {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let fd = rustix::fs::open(
        fd_path(r.fd.as_fd()),
        access | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| Error::sys_at(Op::Open, Some(path), e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::sys_at(Op::Fstat, Some(path), e))?;
    if st.st_dev as u64 != r.dev || st.st_ino as u64 != r.ino {
        return Err(Error::invalid(
            "/proc",
            format!(
                "re-opening {} through /proc/thread-self/fd gave another file; \
                 is /proc this process's procfs?",
                path.display()
            ),
        ));
    }
    Ok(fd)
}

/// `openat2(root, path, O_PATH | O_NOFOLLOW, RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS)`: `path` looked up as if `root` were `/`.
///
/// Every symlink, absolute or with `..`, is resolved inside `root`
/// (`RESOLVE_IN_ROOT` in fs/namei.c scopes `/` and `..` to it, and fails a
/// lookup with `EXDEV` if a concurrent rename would let `..` escape), and no
/// `/proc/*/fd` or `/proc/*/root` link is followed at all (`ELOOP`).
///
/// The final component: a mount of a directory (`dir_mount`) follows a final
/// symlink, inside `root` again, so a container's `/var/run` (→ `/run`) is
/// a target; a mount of a file never does (the kernel would attach it on the
/// link itself, covering the link), and a symlink there is
/// [`Error::InvalidInput`], as [`mount_target`] does. The kind found must
/// match the mount's: a directory for a directory, a non-directory for a
/// file.
pub(crate) fn resolve_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    dir_mount: bool,
) -> Result<OwnedFd> {
    let open = |flags: OFlags| with_c_path(path, |c| open_in_root(root, c, flags, path));
    let mut r = stat_resolved(open(OFlags::NOFOLLOW)?, path)?;
    if r.kind == Kind::Symlink && dir_mount {
        r = stat_resolved(open(OFlags::empty())?, path)?;
    }
    match (r.kind, dir_mount) {
        (Kind::Dir, true) => Ok(r.fd),
        (Kind::Symlink, false) => Err(Error::invalid(
            "mount target",
            format!(
                "{} is a symlink; a file mount is never attached on one",
                path.display()
            ),
        )),
        (Kind::Dir, false) | (_, true) => Err(Error::invalid(
            "mount target",
            format!(
                "{} is {}, and the mount's root is {}",
                path.display(),
                r.kind.describe(),
                if dir_mount {
                    "a directory"
                } else {
                    "not a directory"
                }
            ),
        )),
        (_, false) => Ok(r.fd),
    }
}

/// Creates the final component of `path` inside `root` if it is missing:
/// a directory (`mkdirat`, mode 0755 less the umask) for a directory mount,
/// an empty regular file (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0644 less
/// the umask) otherwise. Its parent is resolved as in [`resolve_in_root`],
/// following symlinks only inside `root`; the name is created relative to
/// that parent's fd, so it lands where the parent was found. Something
/// already there (a symlink included, which is not followed) is left as it
/// is.
pub(crate) fn create_in_root(root: BorrowedFd<'_>, path: &Path, dir: bool) -> Result<()> {
    use std::path::Component;
    let Some(Component::Normal(name)) = path.components().next_back() else {
        return Err(Error::invalid(
            "mount target",
            format!(
                "{} does not end in a name that could be created",
                path.display()
            ),
        ));
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let parent_fd = with_c_path(parent, |c| open_in_root(root, c, OFlags::DIRECTORY, parent))?;
    let name = Path::new(name);
    let made = with_c_path(name, |c| {
        Ok(if dir {
            rustix::fs::mkdirat(&parent_fd, c, Mode::from_raw_mode(0o755))
        } else {
            openat(
                &parent_fd,
                c,
                OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC
                    | OFlags::NOCTTY,
                Mode::from_raw_mode(0o644),
            )
            .map(drop)
        })
    })?;
    match made {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::sys_at(
            if dir { Op::Mkdirat } else { Op::Open },
            Some(path),
            e,
        )),
    }
}

/// `openat2(root, path, O_PATH | O_CLOEXEC | flags, RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS)`, retried a few times on `EAGAIN`: the kernel's
/// answer when a rename or mount elsewhere raced a `..` in the lookup and
/// it could not be sure `..` stayed inside `root` (fs/namei.c), which is
/// worth another try, not a failure.
fn open_in_root(
    root: BorrowedFd<'_>,
    c: &std::ffi::CStr,
    flags: OFlags,
    path: &Path,
) -> Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match openat2(
            root,
            c,
            OFlags::PATH | OFlags::CLOEXEC | flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(rustix::io::Errno::AGAIN) if tries < 16 => tries += 1,
            r => return r.map_err(|e| Error::sys_at(Op::Open, Some(path), e)),
        }
    }
}

/// Whether `fd` refers to a directory (one `fstat`).
pub(crate) fn is_dir(fd: BorrowedFd<'_>) -> Result<bool> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::sys_at(Op::Fstat, None, e))?;
    Ok(FileType::from_raw_mode(st.st_mode as _) == FileType::Directory)
}
