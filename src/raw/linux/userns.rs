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

use std::ffi::c_void;

use crate::{Error, Result};

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
                return Err(Error::os("pthread_sigmask", rc));
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

/// Runs `f` with the pid of a child that sits in a new user namespace with
/// no maps yet. The child is killed and reaped before this returns, whatever
/// `f` returns and even if it panics.
pub(crate) fn with_userns_child<T>(f: impl FnOnce(libc::pid_t) -> Result<T>) -> Result<T> {
    // Declared before the guard so that it outlives the child.
    let mut stack = std::mem::MaybeUninit::<ChildStack>::uninit();
    let child = {
        let _blocked = SignalsBlocked::new()?;
        // The stack grows down on every architecture Linux supports here.
        let top = stack.as_mut_ptr().wrapping_add(1).cast::<c_void>();
        // SAFETY: `park` never returns and touches no memory but its own
        // frame on `stack`, which lives until `Child` has reaped the child
        // (it is dropped after `child` at the end of this function). No
        // CLONE_FS: the kernel refuses CLONE_NEWUSER | CLONE_FS.
        let pid = unsafe {
            libc::clone(
                park,
                top,
                libc::CLONE_NEWUSER | libc::CLONE_VM,
                std::ptr::null_mut(),
            )
        };
        if pid < 0 {
            return Err(Error::os("clone(CLONE_NEWUSER)", super::last_errno()));
        }
        Child { pid }
    };
    let result = f(child.pid);
    drop(child);
    result
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
    .map_err(|e| super::os_err("open", Some(&path.to_path()), e))?;
    match rustix::io::write(&fd, text) {
        Ok(n) if n == text.len() => Ok(()),
        Ok(_) => Err(Error::os_at("write", &path.to_path(), libc::EIO)),
        Err(e) => Err(super::os_err("write", Some(&path.to_path()), e)),
    }
}

/// Creates a user namespace whose `uid_map` and `gid_map` hold the given
/// texts (each already in `/proc/PID/uid_map` form) and returns an fd for it.
pub(crate) fn create_userns(uid_map: &[u8], gid_map: &[u8]) -> Result<std::os::fd::OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    with_userns_child(|pid| {
        write_proc(pid, "uid_map", uid_map)?;
        write_proc(pid, "gid_map", gid_map)?;
        let path = ProcPath::new(pid, "ns/user");
        open(
            path.c_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| super::os_err("open", Some(&path.to_path()), e))
    })
}

#[cfg(test)]
mod tests {
    use super::ProcPath;

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
