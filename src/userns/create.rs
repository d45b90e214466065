//! Creating a user namespace with its maps: the raw child
//! (`raw::spawn_userns_child`) sits in a new namespace while its maps are
//! written through the `/proc` mounted in the caller's mount namespace.
//!
//! # Which `/proc`
//!
//! `/proc` may belong to another pid namespace than the caller's
//! (`unshare -p -f` without a new `/proc`, a host's `/proc` in a container):
//! there, the pid `clone` returns names some other process. So the child is
//! looked up by its pidfd instead: the `Pid:` line of
//! `/proc/thread-self/fdinfo/PIDFD` is the child's pid in the pid namespace
//! of the procfs instance that shows it (`fs/pidfs.c`, `pidfd_show_fdinfo`:
//! 0 when the child is not visible there). `/proc` is opened once, checked
//! to be procfs (`fstatfs`), and everything else is opened relative to that
//! fd. A `/proc` that cannot show the child is an [`Error::ProcUnusable`],
//! never a namespace with someone else's maps.
//!
//! The hot path makes the bare C sequence's system calls (`clone`, one
//! `open`+`write`+`close` per map, kill, reap), the two `rt_sigprocmask`
//! calls, `getpid`, and the `/proc` lookup above (`open`+`fstatfs`+`close`
//! of `/proc`, `open`+`read`+`close` of the fdinfo). The namespace fd comes from `ioctl(pidfd, PIDFD_GET_USER_NAMESPACE)`,
//! which skips the `/proc/PID/ns/user` path walk; before Linux 6.11 it falls
//! back to that path, once and for all.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rustix::fs::{openat, Mode, OFlags};
use rustix::io::Errno;

use crate::raw::{self, Child, SpawnStep};
use crate::{Error, Op, Result};

/// `PROC_SUPER_MAGIC` from `<linux/magic.h>`.
const PROC_SUPER_MAGIC: u64 = linux_raw_sys::general::PROC_SUPER_MAGIC as u64;

fn os_err(op: Op, path: &Path, e: Errno) -> Error {
    Error::os(op, e.raw_os_error()).at(path)
}

/// Whether to ask for a pidfd with `CLONE_PIDFD` (Linux 5.2+); cleared the
/// first time `clone` refuses it.
static CLONE_PIDFD: AtomicBool = AtomicBool::new(true);

/// Runs `f` with a child that sits in a new user namespace with no maps
/// yet. The child is killed and reaped before this returns, whatever `f`
/// returns and even if it panics.
fn with_userns_child<T>(f: impl FnOnce(&Child<'_>) -> Result<T>) -> Result<T> {
    let mut stack = MaybeUninit::uninit();
    let pidfd = CLONE_PIDFD.load(Relaxed);
    let child = match raw::spawn_userns_child(&mut stack, pidfd) {
        Ok(child) => child,
        // Before Linux 5.2 there is no CLONE_PIDFD.
        Err((SpawnStep::Clone, Errno::INVAL)) if pidfd => {
            CLONE_PIDFD.store(false, Relaxed);
            return with_userns_child(f);
        }
        Err((SpawnStep::SignalMask, e)) => return Err(Error::os(Op::SignalMask, e.raw_os_error())),
        Err((SpawnStep::Clone, e)) => return Err(Error::os(Op::CloneUserNs, e.raw_os_error())),
    };
    let result = f(&child);
    drop(child);
    result
}

/// Whether to try `PIDFD_GET_USER_NAMESPACE` (Linux 6.11+); cleared the
/// first time the kernel shows it has not.
static PIDFD_USERNS: AtomicBool = AtomicBool::new(true);

/// The child's user namespace: `ioctl(pidfd, PIDFD_GET_USER_NAMESPACE)`,
/// else `ns/user` in the child's `/proc` directory, checked with
/// `NS_GET_NSTYPE`. Both give a close-on-exec fd.
fn open_child_userns(child: &Child<'_>, dir: &ChildDir) -> Result<OwnedFd> {
    if let Some(pidfd) = child.pidfd().filter(|_| PIDFD_USERNS.load(Relaxed)) {
        match raw::pidfd_get_user_namespace(pidfd) {
            Ok(fd) => return Ok(fd),
            // Before Linux 6.11.
            Err(Errno::NOTTY | Errno::INVAL) => PIDFD_USERNS.store(false, Relaxed),
            Err(_) => {}
        }
    }
    let fd = dir.open("ns/user", OFlags::RDONLY)?;
    super::check_userns(fd.as_fd()).map_err(|e| e.at(&dir.path("ns/user")))?;
    Ok(fd)
}

/// A short NUL-terminated path built on the stack.
struct ShortPath {
    buf: [u8; 48],
    len: usize,
}

impl ShortPath {
    fn new(parts: &[&[u8]]) -> Self {
        let mut p = ShortPath {
            buf: [0; 48],
            len: 0,
        };
        for part in parts {
            p.buf[p.len..p.len + part.len()].copy_from_slice(part);
            p.len += part.len();
        }
        p
    }

    fn c_str(&self) -> &CStr {
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).expect("one NUL at the end")
    }
}

/// `n` in decimal, and the bytes of it used.
fn decimal(n: u32) -> ([u8; 10], usize) {
    let mut digits = [0u8; 10];
    let (mut n, mut start) = (n, digits.len());
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (digits, start)
}

/// The child as the mounted `/proc` shows it: an fd of that procfs
/// instance and the child's pid in its pid namespace. The child's files are
/// opened as `PID/NAME` relative to the fd, one path walk each, rather than
/// through a directory fd of their own (two system calls more).
struct ChildDir {
    proc: OwnedFd,
    pid: u32,
}

impl ChildDir {
    /// Opens `PID/name` in the child's `/proc` directory.
    fn open(&self, name: &str, flags: OFlags) -> Result<OwnedFd> {
        let (digits, start) = decimal(self.pid);
        let path = ShortPath::new(&[&digits[start..], b"/", name.as_bytes()]);
        openat(
            &self.proc,
            path.c_str(),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| os_err(Op::Open, &self.path(name), e))
    }

    /// `/proc/PID/name`, for error messages.
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{name}", self.pid))
    }
}

fn unusable(path: &str, reason: &'static str) -> Error {
    Error::ProcUnusable {
        path: path.into(),
        reason,
    }
}

/// Finds the child in the `/proc` mounted in the caller's mount namespace,
/// by its pid *there*.
fn open_child_dir(child: &Child<'_>) -> Result<ChildDir> {
    let proc = openat(
        rustix::fs::CWD,
        c"/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| os_err(Op::Open, "/proc".as_ref(), e))?;
    let fs = rustix::fs::fstatfs(&proc).map_err(|e| os_err(Op::Fstatfs, "/proc".as_ref(), e))?;
    #[allow(clippy::unnecessary_cast)] // `f_type`'s type differs between architectures
    if fs.f_type as u64 != PROC_SUPER_MAGIC {
        return Err(unusable("/proc", "not a procfs mount"));
    }
    let pid = match child.pidfd() {
        Some(pidfd) => match pid_in_proc(proc.as_fd(), pidfd)? {
            Some(pid) => pid,
            None => same_pid_ns_or_err(proc.as_fd(), child.pid())?,
        },
        None => same_pid_ns_or_err(proc.as_fd(), child.pid())?,
    };
    Ok(ChildDir { proc, pid })
}

/// The `Pid:` line of `/proc/thread-self/fdinfo/PIDFD`: the child's pid in
/// the pid namespace of this procfs instance (`fs/pidfs.c`,
/// `pidfd_show_fdinfo`). `None` on a kernel whose fdinfo lacks the line
/// (before Linux 5.3).
fn pid_in_proc(proc: BorrowedFd<'_>, pidfd: BorrowedFd<'_>) -> Result<Option<u32>> {
    let (digits, start) = decimal(pidfd.as_raw_fd() as u32);
    let name = ShortPath::new(&[b"thread-self/fdinfo/", &digits[start..]]);
    let info = match openat(
        proc,
        name.c_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // `thread-self` resolves to nothing when this thread is not visible
        // in the procfs instance's pid namespace (`fs/proc/self.c`).
        Err(Errno::NOENT) => {
            return Err(unusable(
                "/proc",
                "it belongs to a pid namespace in which the caller is not visible",
            ))
        }
        Err(e) => return Err(os_err(Op::Open, "/proc/thread-self/fdinfo".as_ref(), e)),
    };
    let mut buf = [0u8; 512];
    let n = rustix::io::read(&info, &mut buf)
        .map_err(|e| os_err(Op::Read, "/proc/thread-self/fdinfo".as_ref(), e))?;
    let Some(value) = buf[..n]
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Pid:"))
    else {
        return Ok(None);
    };
    let value = std::str::from_utf8(value).unwrap_or("").trim();
    match value.parse::<i64>() {
        Ok(pid) if pid > 0 && pid <= i64::from(i32::MAX) => Ok(Some(pid as u32)),
        Ok(0) => Err(unusable(
            "/proc",
            "it belongs to a pid namespace in which the caller's children are not visible",
        )),
        // -1: the child is gone, killed by someone else.
        _ => Err(Error::os_at(Op::CloneUserNs, "/proc".as_ref(), libc::ESRCH)),
    }
}

/// Without a pidfd, only the caller's pid can tell the procfs instance's
/// pid namespace apart: if `/proc/self` is not the caller's pid, `pid` (from
/// `clone`) would name another process there.
fn same_pid_ns_or_err(proc: BorrowedFd<'_>, pid: libc::pid_t) -> Result<u32> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let link = rustix::fs::readlinkat(proc, c"self", Vec::new());
    match link {
        Ok(l) if l.to_bytes() == me.to_string().as_bytes() => Ok(pid as u32),
        _ => Err(unusable(
            "/proc",
            "it belongs to another pid namespace than the caller's",
        )),
    }
}

/// Writes `text` to `NAME` in the child's `/proc` directory in a single
/// `write()`, as the kernel requires for `uid_map` and `gid_map`
/// (`kernel/user_namespace.c`, `map_write`: a second write, or one at a
/// non-zero offset, is EINVAL).
fn write_map(dir: &ChildDir, name: &str, text: &[u8]) -> Result<()> {
    let fd = dir.open(name, OFlags::WRONLY)?;
    let path = || dir.path(name);
    match rustix::io::write(&fd, text) {
        Ok(n) if n == text.len() => Ok(()),
        Ok(_) => Err(Error::os_at(Op::Write, &path(), libc::EIO)),
        Err(e) => Err(os_err(Op::Write, &path(), e)),
    }
}

/// Creates a user namespace whose `uid_map` and `gid_map` hold the given
/// texts (each already in `/proc/PID/uid_map` form) and returns an fd for it.
pub(crate) fn create_userns(uid_map: &[u8], gid_map: &[u8]) -> Result<OwnedFd> {
    with_userns_child(|child| {
        let dir = open_child_dir(child)?;
        write_map(&dir, "uid_map", uid_map)?;
        write_map(&dir, "gid_map", gid_map)?;
        open_child_userns(child, &dir)
    })
}

#[cfg(test)]
mod tests {
    use super::{decimal, ShortPath};

    #[test]
    fn short_paths_format_numbers() {
        for (n, text) in [
            (0, &b"0"[..]),
            (4194304, b"4194304"),
            (u32::MAX, b"4294967295"),
        ] {
            let (digits, start) = decimal(n);
            assert_eq!(&digits[start..], text);
            let p = ShortPath::new(&[b"thread-self/fdinfo/", &digits[start..]]);
            assert_eq!(
                p.c_str().to_bytes(),
                [&b"thread-self/fdinfo/"[..], text].concat()
            );
        }
    }
}
