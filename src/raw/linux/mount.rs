//! `open_tree_attr(2)` and `mount_setattr(2)`, which rustix does not wrap,
//! the rustix mount calls the crate uses, and the namespace ioctls.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::ioctl::{Ioctl, IoctlOutput, Opcode};

use super::super::abi;
use super::Result;

/// `open_tree_attr(dirfd, path, flags | OPEN_TREE_CLOEXEC, attr, attr.len())`
/// (Linux 6.15)—clones or opens the mount at `path` and applies `attr` to
/// it in one call.
///
/// `attr` is a [`mount_attr`](super::super::mount_attr) as bytes
/// ([`mount_attr::to_bytes`](super::super::mount_attr::to_bytes)), or any
/// size and tail a caller wants the kernel to judge (the kernel takes a
/// larger struct whose extra bytes are zero, `copy_struct_from_user`).
/// `DetachedMount::clone_tree_with` is the typed form.
///
/// # Errors
///
/// The kernel's errno: `ENOSYS` before Linux 6.15, `E2BIG` or `EINVAL` for
/// a size or flag it does not take, `EPERM`, `ENOENT`.
pub fn open_tree_attr(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: u32,
    attr: &[u8],
) -> std::io::Result<OwnedFd> {
    let flags = flags | libc::O_CLOEXEC as u32;
    // SAFETY: `path` is NUL-terminated and `attr` is readable for the length
    // passed; the kernel only reads both during the call.
    let ret = unsafe {
        libc::syscall(
            abi::SYS_OPEN_TREE_ATTR,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            attr.as_ptr(),
            attr.len(),
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the call returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// `mount_setattr(dirfd, path, flags, attr, attr.len())` (Linux 5.12)—changes
/// the attributes of the mount at `path`, with `attr` as in
/// [`open_tree_attr`].
/// `DetachedMount::set_attr` is the typed form.
///
/// # Errors
///
/// The kernel's errno: `EINVAL`, `E2BIG`, `EPERM` (re-mapping a mount that
/// is already id-mapped), `ENOSYS` before Linux 5.12.
pub fn mount_setattr(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: u32,
    attr: &[u8],
) -> std::io::Result<()> {
    // SAFETY: as in `open_tree_attr`.
    let ret = unsafe {
        libc::syscall(
            abi::SYS_MOUNT_SETATTR,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            attr.as_ptr(),
            attr.len(),
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `open_tree(dirfd, path, flags | OPEN_TREE_CLOEXEC)`.
pub(crate) fn open_tree(dirfd: BorrowedFd<'_>, path: &CStr, flags: u32) -> Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let flags = OpenTreeFlags::from_bits_retain(flags) | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    rustix::mount::open_tree(dirfd, path, flags)
}

/// `move_mount(fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH |
/// MOVE_MOUNT_T_EMPTY_PATH)`: attaches the detached mount `fd` on the very
/// file `target` refers to.
pub(crate) fn move_mount_onto(fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<()> {
    use rustix::mount::{move_mount, MoveMountFlags};
    move_mount(
        fd,
        c"",
        target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// `move_mount(fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH |
/// MOVE_MOUNT_T_EMPTY_PATH | MOVE_MOUNT_BENEATH)` (Linux 6.5): mounts the
/// detached mount `fd` beneath the mount whose root `target` is, at the same
/// place, so that unmounting the top one reveals it.
pub(crate) fn move_mount_beneath(fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<()> {
    use rustix::mount::{move_mount, MoveMountFlags};
    move_mount(
        fd,
        c"",
        target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH
            | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH
            | MoveMountFlags::MOVE_MOUNT_BENEATH,
    )
}

/// Whether `move_mount` knows `MOVE_MOUNT_BENEATH`, asked with a call that
/// cannot move anything: both fds are -1. A kernel that knows the flag gets
/// past its flag check (`do_move_mount` in fs/namespace.c rejects unknown
/// flags with `EINVAL` first) and fails looking up fd -1 with `EBADF`; an
/// older one says `EINVAL`.
pub(crate) fn move_mount_knows_beneath() -> bool {
    use linux_raw_sys::general as g;
    let flags = g::MOVE_MOUNT_F_EMPTY_PATH | g::MOVE_MOUNT_T_EMPTY_PATH | g::MOVE_MOUNT_BENEATH;
    // SAFETY: the paths are NUL-terminated static strings the kernel only
    // reads; the fds are -1, which name no file of ours.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            -1,
            c"".as_ptr(),
            -1,
            c"".as_ptr(),
            flags,
        )
    };
    ret < 0 && super::last_errno() != rustix::io::Errno::INVAL
}

/// `fstatfs(fd).f_type`: the magic number of the filesystem holding `fd`.
pub(crate) fn fs_type(fd: BorrowedFd<'_>) -> Result<u64> {
    rustix::fs::fstatfs(fd).map(|st| st.f_type as u64)
}

/// An `ioctl` whose argument is an integer (or unused) and whose result is
/// the call's return value: rustix's `IntegerSetter` and `NoArg` discard it.
struct IntIoctl<const OPCODE: Opcode>(usize);

// SAFETY: the argument is an integer, never dereferenced by us; the kernel
// reads no memory of ours through it for the opcodes `ioctl_int` is used
// with, and the output is the return value alone.
unsafe impl<const OPCODE: Opcode> Ioctl for IntIoctl<OPCODE> {
    type Output = IoctlOutput;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> Opcode {
        OPCODE
    }

    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        self.0 as *mut std::ffi::c_void
    }

    unsafe fn output_from_ptr(
        out: IoctlOutput,
        _: *mut std::ffi::c_void,
    ) -> rustix::io::Result<IoctlOutput> {
        Ok(out)
    }
}

/// `ioctl(fd, OPCODE, arg)` for a request whose argument is an integer (or
/// unused) and which reads or writes no memory of ours: every request passed
/// here is one of those (`NS_GET_NSTYPE`, `PIDFD_GET_USER_NAMESPACE`, and
/// the loop requests `LOOP_CTL_GET_FREE`, `LOOP_SET_FD`, `LOOP_CLR_FD`,
/// `LOOP_SET_BLOCK_SIZE`, `LOOP_SET_DIRECT_IO`). The call's return value.
pub(crate) fn ioctl_int<const OPCODE: Opcode>(fd: BorrowedFd<'_>, arg: usize) -> Result<i32> {
    // SAFETY: the argument is a plain integer, which the requests above take
    // by value (an fd number, a size, a flag) or ignore; none of them
    // dereferences it or touches our memory.
    unsafe { rustix::ioctl::ioctl(fd, IntIoctl::<OPCODE>(arg)) }
}

/// `ioctl(fd, NS_GET_NSTYPE)`: the `CLONE_NEW*` type of a namespace fd.
pub(crate) fn ns_get_nstype(fd: BorrowedFd<'_>) -> Result<i32> {
    ioctl_int::<{ linux_raw_sys::ioctl::NS_GET_NSTYPE as Opcode }>(fd, 0)
}
