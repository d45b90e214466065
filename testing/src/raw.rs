//! Raw calls with hand-made arguments, for the peer scenarios and fault
//! injection in `tests/`: sizes and tails of `struct mount_attr` that the
//! typed API never produces, and a child process started in a user namespace
//! of its own.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

use mountfd::raw as abi;

/// The errno of a failed call.
fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// `mount_setattr(dirfd, path, flags, buf, buf.len())`, the attribute struct
/// given as raw bytes (the kernel selftest `mount_setattr`'s
/// `extensibility`: sizes other than `MOUNT_ATTR_SIZE_VER0`, non-zero tails),
/// through the crate's own `raw::mount_setattr`.
///
/// # Errors
///
/// The errno of the call.
pub fn mount_setattr_bytes(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: u32,
    buf: &[u8],
) -> Result<(), i32> {
    abi::mount_setattr(dirfd, path, flags, buf).map_err(|e| errno(&e))
}

/// `open_tree_attr(dirfd, path, flags | OPEN_TREE_CLOEXEC, buf, buf.len())`,
/// the attribute struct given as raw bytes, through the crate's own
/// `raw::open_tree_attr`.
///
/// # Errors
///
/// The errno of the call.
pub fn open_tree_attr_bytes(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: u32,
    buf: &[u8],
) -> Result<OwnedFd, i32> {
    abi::open_tree_attr(dirfd, path, flags, buf).map_err(|e| errno(&e))
}

/// Writes `text` to `path` in one `write()`, with async-signal-safe calls
/// only (it runs between `fork` and `exec`).
fn write_once(path: &CStr, text: &[u8]) -> std::io::Result<()> {
    // SAFETY: `path` is NUL-terminated; the fd is closed before returning.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `text` is readable for its length; `fd` is ours.
    let n = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    if n == text.len() as isize {
        Ok(())
    } else {
        Err(err)
    }
}

/// Makes `cmd` start its program in a new user namespace in which it is
/// root, mapped to the caller's effective uid and gid (as `unshare -r` and
/// the kernel selftests' `create_and_enter_userns()` do): between `fork` and
/// `exec`, the child unshares `CLONE_NEWUSER`, denies `setgroups` and writes
/// `0 EUID 1` and `0 EGID 1` as its own maps.
pub fn command_in_new_user_ns(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let uid_map = format!("0 {} 1\n", rustix::process::geteuid().as_raw()).into_bytes();
    let gid_map = format!("0 {} 1\n", rustix::process::getegid().as_raw()).into_bytes();
    let child = move || {
        // SAFETY: unshare takes flags only; after fork the child is single-threaded.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        write_once(c"/proc/self/setgroups", b"deny")?;
        write_once(c"/proc/self/uid_map", &uid_map)?;
        write_once(c"/proc/self/gid_map", &gid_map)
    };
    // SAFETY: the closure makes async-signal-safe calls only (unshare, open,
    // write, close) and touches no lock or allocator: the map texts were
    // formatted before the fork.
    unsafe { cmd.pre_exec(child) };
}

/// `listmount(LSMT_ROOT)` in one call (Linux 6.8+): how many mounts the
/// calling thread's mount namespace has, read atomically (the kernel lists
/// them under the namespace lock), unlike `/proc/self/mountinfo`, which a
/// reader gets in page-sized pieces, or a list of ids then `statmount`ed
/// one by one. `None` where the call is missing.
#[cfg(target_os = "linux")]
pub fn mount_count() -> Option<usize> {
    const SYS_LISTMOUNT: libc::c_long = 458;
    #[repr(C)]
    struct MntIdReq {
        size: u32,
        spare: u32,
        mnt_id: u64,
        param: u64,
    }
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id: u64::MAX, // LSMT_ROOT
        param: 0,
    };
    let mut ids = vec![0u64; 1 << 16];
    // SAFETY: `req` is a readable `mnt_id_req` (version 0, 24 bytes) and
    // `ids` has room for the count passed; the kernel writes only there.
    let n = unsafe {
        libc::syscall(
            SYS_LISTMOUNT,
            &req as *const MntIdReq,
            ids.as_mut_ptr(),
            ids.len(),
            0u32,
        )
    };
    usize::try_from(n).ok()
}
