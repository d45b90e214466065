//! The child process that owns a fresh user namespace while its maps are
//! written.
//!
//! `unshare(CLONE_NEWUSER)` fails with EINVAL in a multi-threaded process
//! (`kernel/fork.c`, `check_unshare_flags`), and `fork()` copies the caller's
//! page tables, whose cost grows with its size. So the namespace is made by a
//! `clone(CLONE_NEWUSER | CLONE_VM)` child on a small stack of the parent's:
//! it shares the address space, so it costs the same whatever the caller's
//! size, and it runs nothing but a blocking system call until it is killed.
//!
//! The child is created with exit signal 0, not `SIGCHLD`: the caller's own
//! `SIGCHLD` handler never sees it, `SIG_IGN` cannot auto-reap it, and a
//! `waitpid(-1, ..)` elsewhere in the caller (which lacks `__WCLONE`) cannot
//! steal it. All signals are blocked in the child, so no handler of the
//! caller ever runs on the child's stack; `SIGKILL` still ends it.
//!
//! The hot path makes the same system calls as the bare C sequence
//! (`clone`, one `open`+`write`+`close` per map, kill, reap), plus the two
//! `rt_sigprocmask` calls that keep the caller's handlers off the child's
//! stack. The namespace fd comes from `ioctl(pidfd,
//! PIDFD_GET_USER_NAMESPACE)` on the pidfd that `CLONE_PIDFD` returns, which
//! skips the `/proc/PID/ns/user` path walk (a few µs, net of closing the
//! pidfd); before Linux 6.11 it falls back to that path, once and for all.

use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::{Error, Op, Result};

/// The child only parks in `ppoll`; a few KiB would do, 16 KiB leaves margin
/// for the libc `clone` trampoline on every architecture.
const CHILD_STACK: usize = 16 * 1024;

#[repr(C, align(16))]
struct ChildStack([u8; CHILD_STACK]);

extern "C" fn park(_: *mut c_void) -> libc::c_int {
    // Everything is blocked, so ppoll never returns; the loop only guards
    // against a spurious wake-up. The raw syscall touches no libc state
    // (a cancellation point would write to the parent thread's TLS).
    loop {
        // SAFETY: null fds with a count of 0, no timeout and no mask are a
        // valid ppoll that waits for a signal.
        unsafe {
            libc::syscall(libc::SYS_ppoll, 0usize, 0usize, 0usize, 0usize, 0usize);
        }
    }
}

/// Kills and reaps the child when dropped, on every path.
struct Child {
    pid: libc::pid_t,
    /// From `CLONE_PIDFD`: the namespace is taken from it with one ioctl
    /// instead of a `/proc` path walk. Closed after the child is reaped.
    pidfd: Option<OwnedFd>,
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: `pid` is our own unreaped child, so it cannot have been
        // reused by another process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid out-pointer; `__WCLONE` is needed
            // because the child has no exit signal.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::__WCLONE) };
            if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
    }
}

/// Blocks every signal in the calling thread until dropped.
struct SignalsBlocked {
    old: libc::sigset_t,
}

impl SignalsBlocked {
    fn new() -> Result<Self> {
        // SAFETY: both sets are plain out-parameters initialised by libc.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            if rc != 0 {
                return Err(Error::os(Op::SignalMask, rc));
            }
            Ok(SignalsBlocked { old })
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// Runs `f` with a child that sits in a new user namespace with no maps
/// yet. The child is killed and reaped before this returns, whatever `f`
/// returns and even if it panics.
fn with_userns_child<T>(f: impl FnOnce(&Child) -> Result<T>) -> Result<T> {
    // Declared before the guard so that it outlives the child.
    let mut stack = std::mem::MaybeUninit::<ChildStack>::uninit();
    let child = {
        let _blocked = SignalsBlocked::new()?;
        // The stack grows down on every architecture Linux supports here.
        let top = stack.as_mut_ptr().wrapping_add(1).cast::<c_void>();
        let mut flags = libc::CLONE_NEWUSER | libc::CLONE_VM;
        if PIDFD_USERNS.load(Relaxed) {
            flags |= libc::CLONE_PIDFD;
        }
        let mut pidfd: libc::c_int = -1;
        // SAFETY: `park` never returns and touches no memory but its own
        // frame on `stack`, which lives until `Child` has reaped the child
        // (it is dropped after `child` at the end of this function). No
        // CLONE_FS: the kernel refuses CLONE_NEWUSER | CLONE_FS. With
        // CLONE_PIDFD the kernel stores the new pidfd in `pidfd` (the
        // parent_tid argument) before returning.
        let pid = unsafe {
            libc::clone(
                park,
                top,
                flags,
                std::ptr::null_mut(),
                &mut pidfd as *mut libc::c_int,
            )
        };
        if pid < 0 {
            let errno = super::last_errno();
            if errno == libc::EINVAL && flags & libc::CLONE_PIDFD != 0 {
                // Before Linux 5.2 there is no CLONE_PIDFD.
                PIDFD_USERNS.store(false, Relaxed);
                drop(_blocked);
                return with_userns_child(f);
            }
            return Err(Error::os(Op::CloneUserNs, errno));
        }
        // SAFETY: with CLONE_PIDFD, a successful clone returned a new fd that
        // nothing else owns.
        let pidfd =
            (flags & libc::CLONE_PIDFD != 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
        Child { pid, pidfd }
    };
    let result = f(&child);
    drop(child);
    result
}

/// Whether to ask for a pidfd and `PIDFD_GET_USER_NAMESPACE` (Linux 6.11+);
/// cleared the first time the kernel shows it has either not.
static PIDFD_USERNS: AtomicBool = AtomicBool::new(true);

/// `_IO(0xFF, 9)` from `<linux/pidfd.h>`.
const PIDFD_GET_USER_NAMESPACE: u32 = super::IOC_NONE | (0xff << 8) | 9;

/// The child's user namespace: `ioctl(pidfd, PIDFD_GET_USER_NAMESPACE)`,
/// else `open("/proc/PID/ns/user")`. Both give a close-on-exec fd.
fn open_child_userns(child: &Child) -> Result<OwnedFd> {
    if let Some(pidfd) = &child.pidfd {
        // SAFETY: the ioctl reads no memory and returns a new fd or -1. Its
        // argument must be 0: the kernel refuses anything else with EINVAL.
        let fd = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_USER_NAMESPACE as _, 0usize) };
        if fd >= 0 {
            // SAFETY: the ioctl returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if matches!(super::last_errno(), libc::ENOTTY | libc::EINVAL) {
            // Before Linux 6.11: stop asking for pidfds.
            PIDFD_USERNS.store(false, Relaxed);
        }
    }
    use rustix::fs::{open, Mode, OFlags};
    let path = ProcPath::new(child.pid, "ns/user");
    open(
        path.c_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| super::os_err(Op::Open, Some(&path.to_path()), e))
}

/// `/proc/PID/NAME` as a NUL-terminated string, built without allocating.
struct ProcPath {
    buf: [u8; 48],
    len: usize,
}

impl ProcPath {
    fn new(pid: libc::pid_t, name: &str) -> Self {
        let mut digits = [0u8; 10];
        let mut n = pid.unsigned_abs();
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut p = ProcPath {
            buf: [0; 48],
            len: 0,
        };
        for part in [&b"/proc/"[..], &digits[start..], b"/", name.as_bytes()] {
            p.buf[p.len..p.len + part.len()].copy_from_slice(part);
            p.len += part.len();
        }
        p
    }

    fn c_str(&self) -> &std::ffi::CStr {
        std::ffi::CStr::from_bytes_with_nul(&self.buf[..=self.len]).expect("one NUL at the end")
    }

    fn to_path(&self) -> std::path::PathBuf {
        std::ffi::OsStr::from_bytes(&self.buf[..self.len]).into()
    }
}

use std::os::unix::ffi::OsStrExt;

/// Writes `text` to `/proc/PID/NAME` in a single `write()`, as the kernel
/// requires for `uid_map` and `gid_map` (`kernel/user_namespace.c`,
/// `map_write`: a second write, or one at a non-zero offset, is EINVAL).
fn write_proc(pid: libc::pid_t, name: &str, text: &[u8]) -> Result<()> {
    use rustix::fs::{open, Mode, OFlags};
    let path = ProcPath::new(pid, name);
    let fd = open(
        path.c_str(),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| super::os_err(Op::Open, Some(&path.to_path()), e))?;
    match rustix::io::write(&fd, text) {
        Ok(n) if n == text.len() => Ok(()),
        Ok(_) => Err(Error::os_at(Op::Write, &path.to_path(), libc::EIO)),
        Err(e) => Err(super::os_err(Op::Write, Some(&path.to_path()), e)),
    }
}

/// Creates a user namespace whose `uid_map` and `gid_map` hold the given
/// texts (each already in `/proc/PID/uid_map` form) and returns an fd for it.
pub(crate) fn create_userns(uid_map: &[u8], gid_map: &[u8]) -> Result<OwnedFd> {
    with_userns_child(|child| {
        write_proc(child.pid, "uid_map", uid_map)?;
        write_proc(child.pid, "gid_map", gid_map)?;
        open_child_userns(child)
    })
}

#[cfg(test)]
mod tests {
    use super::ProcPath;

    #[test]
    // libc types ioctl requests as c_ulong on glibc and c_int on musl.
    #[allow(clippy::unnecessary_cast)]
    fn pidfd_get_user_namespace_matches_libc() {
        assert_eq!(
            super::PIDFD_GET_USER_NAMESPACE as u64,
            libc::PIDFD_GET_USER_NAMESPACE as u64
        );
    }

    #[test]
    fn proc_path_formats_pid_and_name() {
        assert_eq!(
            ProcPath::new(0, "uid_map").c_str().to_bytes(),
            b"/proc/0/uid_map"
        );
        assert_eq!(
            ProcPath::new(4194304, "ns/user").c_str().to_bytes(),
            b"/proc/4194304/ns/user"
        );
        assert_eq!(
            ProcPath::new(i32::MAX, "gid_map").to_path(),
            std::path::Path::new("/proc/2147483647/gid_map")
        );
    }
}
