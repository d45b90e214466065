//! Linux implementations of the raw calls.

pub(crate) mod fs;
pub(crate) mod loop_dev;
mod mount;
#[allow(dead_code)] // `rdev`, `size`, `fd_path`: for the loop and image paths
pub(crate) mod path;
pub(crate) mod statmount;
mod userns;

pub(crate) use mount::*;
pub(crate) use userns::*;

use std::path::Path;

use crate::{Error, Op, Result};

/// `_IOC_NONE << _IOC_DIRSHIFT`: the direction bits of an `_IO` request.
/// Zero in the generic `<asm-generic/ioctl.h>`; powerpc, mips and sparc
/// encode "no data" as a direction bit of its own.
pub(crate) const IOC_NONE: u32 = if cfg!(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "mips32r6",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64"
)) {
    1 << 29
} else {
    0
};

/// The errno left by the last failed libc call on this thread.
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Converts a rustix errno into the crate's error, naming the call and path.
pub(crate) fn os_err(op: Op, path: Option<&Path>, e: rustix::io::Errno) -> Error {
    let err = Error::os(op, e.raw_os_error());
    match path {
        Some(p) => err.at(p),
        None => err,
    }
}

/// Whether the calling thread has `CAP_SYS_ADMIN` in its effective set, which
/// every mounting call needs (an `EPERM` without it is explained so).
pub(crate) fn has_cap_sys_admin() -> bool {
    rustix::thread::capabilities(None).is_ok_and(|c| {
        c.effective
            .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
    })
}

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

/// `AT_FDCWD` as a borrowed fd.
pub(crate) fn cwd() -> std::os::fd::BorrowedFd<'static> {
    rustix::fs::CWD
}

/// The system page size: the most `uid_map` text one write may carry, less one.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// Whether an error from `open_tree_attr` means the kernel lacks the call.
pub(crate) fn open_tree_attr_missing(e: &Error) -> bool {
    e.op() == Some(Op::OpenTreeAttr) && e.errno() == Some(libc::ENOSYS)
}

/// `NSFS_MAGIC` from `<linux/magic.h>`: the `f_type` of a namespace file.
const NSFS_MAGIC: u64 = 0x6e73_6673;

/// Opens a namespace file and checks that it is a user namespace.
///
/// The path (symlinks and `/proc/PID/ns/user` magic links followed) is
/// looked up once to an `O_PATH` fd, which runs no driver's `open` and does
/// not block on a FIFO; only a regular file on nsfs is then opened, read-only,
/// through that fd, and `NS_GET_NSTYPE` (which an `O_PATH` fd cannot take)
/// decides the namespace type.
pub(crate) fn open_userns(path: &Path) -> Result<std::os::fd::OwnedFd> {
    use path::{reopen, resolve, Follow, Kind};
    let not_userns = |why: String| {
        Error::invalid(
            "user namespace",
            format!("{}: {why}, not a user namespace", path.display()),
        )
    };
    let r = resolve(cwd(), path, Follow::All)?;
    // nsfs inodes are regular files (`nsfs_init_inode` in fs/nsfs.c).
    if r.kind != Kind::File {
        return Err(not_userns(format!("it is {}", r.kind.describe())));
    }
    let fs = rustix::fs::fstatfs(&r.fd).map_err(|e| os_err(Op::Fstatfs, Some(path), e))?;
    if fs.f_type as u64 != NSFS_MAGIC {
        return Err(not_userns("it is not a namespace file".into()));
    }
    let fd = reopen(&r, false, path)?;
    check_userns(std::os::fd::AsFd::as_fd(&fd)).map_err(|e| match e {
        Error::InvalidInput { what, reason } => Error::InvalidInput {
            what,
            reason: format!("{}: {reason}", path.display()),
        },
        e => e.at(path),
    })?;
    Ok(fd)
}

/// Checks with `NS_GET_NSTYPE` that `fd` refers to a user namespace.
pub(crate) fn check_userns(fd: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    match ns_get_nstype(fd) {
        Ok(t) if t == libc::CLONE_NEWUSER => Ok(()),
        Ok(_) | Err(libc::ENOTTY) | Err(libc::EINVAL) => Err(Error::invalid(
            "user namespace",
            "the fd does not refer to a user namespace",
        )),
        Err(errno) => Err(Error::os(Op::NsGetNstype, errno)),
    }
}
#[cfg(test)]
mod tests {
    #[test]
    fn nsfs_magic_matches_linux_raw_sys() {
        assert_eq!(
            super::NSFS_MAGIC,
            u64::from(linux_raw_sys::general::NSFS_MAGIC)
        );
    }
}
