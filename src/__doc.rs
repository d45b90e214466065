//! Support for the crate's doc examples and tests, not part of the API.
//!
//! An example that mounts first enters a private mount namespace, so that
//! nothing it does reaches the host's mount table, and works in a tmpfs
//! mounted over `/tmp` inside that namespace, so that nothing is left on the
//! host's disk either. The integration tests mount theirs over a directory
//! of their own instead ([`enter_private_mount_ns_over`]): a test may run
//! programs (the CLI, its own binary) that live under `/tmp`.

use std::path::{Path, PathBuf};

/// Whether the process runs with uid 0.
#[must_use]
pub fn is_root() -> bool {
    crate::raw::is_root()
}

/// Moves the calling thread into a new mount namespace in which every mount
/// is private, and mounts a fresh tmpfs on `/tmp` there. Returns `false`
/// (and says so on stderr) when not root, so that an example can skip.
///
/// # Panics
///
/// If root cannot make the namespace.
#[must_use]
pub fn enter_private_mount_ns() -> bool {
    enter_private_mount_ns_over(&std::env::temp_dir())
}

/// Like [`enter_private_mount_ns`], with the tmpfs mounted over `scratch`
/// (an existing directory) instead of `/tmp`.
///
/// # Panics
///
/// If root cannot make the namespace.
#[must_use]
pub fn enter_private_mount_ns_over(scratch: &Path) -> bool {
    if !is_root() {
        eprintln!("mountfd: skipped: mounting needs root");
        return false;
    }
    crate::raw::enter_private_mount_ns(scratch)
        .expect("a private mount namespace with a scratch tmpfs");
    true
}

/// Deletes the unbound loop device `/dev/loopN` (`LOOP_CTL_REMOVE`), so
/// that tests leave the set of loop devices as they found it. The kernel
/// refuses (`EBUSY`) for a device that is bound or open.
///
/// # Errors
///
/// The failed `ioctl`.
pub fn remove_loop_device(n: u32) -> crate::Result<()> {
    crate::raw::loop_dev::ctl_remove(n)
}

/// A fresh directory under `/tmp` (a private tmpfs after
/// [`enter_private_mount_ns`]).
///
/// # Panics
///
/// If it cannot be created.
#[must_use]
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mountfd-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Fault injection for tests: make a call fail on the calling thread only,
/// as an older kernel or a resource limit would (a seccomp filter bound to
/// the thread; it cannot be removed, so run the faulty part on a thread of
/// its own).
pub mod fault {
    use crate::Result;

    /// Makes system call `nr` fail with `errno` on this thread from now on.
    ///
    /// # Errors
    ///
    /// If the filter cannot be installed.
    pub fn fail_syscall(nr: libc::c_long, errno: i32) -> Result<()> {
        crate::raw::seccomp::fail_syscall(nr, errno)
    }

    /// Makes `ioctl(_, request, ..)` fail with `errno` on this thread from now on.
    ///
    /// # Errors
    ///
    /// If the filter cannot be installed.
    pub fn fail_ioctl(request: u32, errno: i32) -> Result<()> {
        crate::raw::seccomp::fail_ioctl(request, errno)
    }

    /// Kills this thread, and any process it creates from now on (filters
    /// are inherited: the child that owns a new user namespace, say), the
    /// moment it makes system call `nr`.
    ///
    /// # Errors
    ///
    /// If the filter cannot be installed.
    #[cfg(target_os = "linux")]
    pub fn kill_on_syscall(nr: libc::c_long) -> Result<()> {
        crate::raw::seccomp::kill_on_syscall(nr)
    }
}

/// Raw calls with hand-made arguments, for the ports of the kernel's
/// selftests in `tests/`: what the typed API never sends.
#[cfg(target_os = "linux")]
pub mod raw {
    use std::ffi::CStr;
    use std::os::fd::{BorrowedFd, OwnedFd};

    /// `mount_setattr(dirfd, path, flags, buf, buf.len())`: the attribute
    /// struct as raw bytes, of any size. Returns the errno on failure.
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
        crate::raw::testing::mount_setattr_bytes(dirfd, path, flags, buf)
    }

    /// `open_tree_attr(dirfd, path, flags | OPEN_TREE_CLOEXEC, buf, buf.len())`:
    /// the attribute struct as raw bytes, of any size.
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
        crate::raw::testing::open_tree_attr_bytes(dirfd, path, flags, buf)
    }

    /// Makes `cmd` start its program as root of a new user namespace,
    /// mapped to the caller's effective uid and gid (`unshare -r`).
    pub fn command_in_new_user_ns(cmd: &mut std::process::Command) {
        crate::raw::testing::command_in_new_user_ns(cmd);
    }
}
