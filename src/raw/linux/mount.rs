//! `open_tree_attr(2)` and `mount_setattr(2)`, which rustix does not wrap,
//! plus thin error-naming wrappers around the rustix mount calls.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::path::mount_target;
use super::{last_errno, os_err, with_c_path};
use crate::raw::abi::{self, mount_attr};
use crate::{Error, Op, Result};

/// `open_tree_attr(dirfd, path, flags, attr, sizeof attr)`. `flags` always
/// gains `OPEN_TREE_CLOEXEC`.
pub(crate) fn open_tree_attr(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: u32,
    attr: &mount_attr,
) -> Result<OwnedFd> {
    with_c_path(path, |c| {
        open_tree_attr_c(dirfd, c, flags, attr).map_err(|e| Error::os_at(Op::OpenTreeAttr, path, e))
    })
}

fn open_tree_attr_c(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: u32,
    attr: &mount_attr,
) -> Result<OwnedFd, i32> {
    let flags = flags | libc::O_CLOEXEC as u32;
    // SAFETY: `path` is NUL-terminated, `attr` points to a live `mount_attr`
    // of the size passed, and the kernel only reads both during the call.
    let ret = unsafe {
        libc::syscall(
            abi::SYS_OPEN_TREE_ATTR,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            attr as *const mount_attr,
            std::mem::size_of::<mount_attr>(),
        )
    };
    if ret < 0 {
        return Err(last_errno());
    }
    // SAFETY: the call returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | flags, attr, sizeof attr)`: changes
/// the attributes of the mount `fd` refers to.
pub(crate) fn mount_setattr_fd(
    fd: BorrowedFd<'_>,
    flags: u32,
    attr: &mount_attr,
) -> Result<(), i32> {
    // SAFETY: the empty path is a NUL-terminated static string and `attr`
    // points to a live `mount_attr` of the size passed.
    let ret = unsafe {
        libc::syscall(
            abi::SYS_MOUNT_SETATTR,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags | abi::AT_EMPTY_PATH,
            attr as *const mount_attr,
            std::mem::size_of::<mount_attr>(),
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`.
pub(crate) fn open_tree_clone(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    recursive: bool,
) -> Result<OwnedFd> {
    use rustix::mount::{open_tree, OpenTreeFlags};
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    with_c_path(path, |c| {
        open_tree(dirfd, c, flags).map_err(|e| os_err(Op::OpenTree, Some(path), e))
    })
}

/// Attaches a detached mount on `name` (relative to `dirfd`): the target is
/// resolved to an `O_PATH` fd without following its final component
/// ([`mount_target`]), a symlink there is refused, and the mount goes on that
/// very fd with
/// `move_mount(fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH |
/// MOVE_MOUNT_T_EMPTY_PATH)`.
///
/// The kernel refuses a *directory* mount on a symlink (`EINVAL`), but
/// mounts a *file* over one (`do_move_mount` in fs/namespace.c only checks
/// that both are, or both are not, directories), which would cover the
/// link. Any other kind mismatch is the kernel's `EINVAL`.
pub(crate) fn attach(fd: BorrowedFd<'_>, dirfd: BorrowedFd<'_>, name: &Path) -> Result<()> {
    use rustix::mount::{move_mount, MoveMountFlags};
    let target = mount_target(dirfd, name)?;
    move_mount(
        fd,
        c"",
        &target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| os_err(Op::MoveMount, Some(name), e))
}

/// `_IO(0xb7, 0x3)` from `<linux/nsfs.h>`.
const NS_GET_NSTYPE: u32 = super::IOC_NONE | (0xb7 << 8) | 3;

/// `ioctl(fd, NS_GET_NSTYPE)`: the `CLONE_NEW*` type of a namespace fd.
pub(crate) fn ns_get_nstype(fd: BorrowedFd<'_>) -> Result<i32, i32> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only inspects the fd.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ns_get_nstype_matches_linux_raw_sys() {
        assert_eq!(super::NS_GET_NSTYPE, linux_raw_sys::ioctl::NS_GET_NSTYPE);
    }
}
