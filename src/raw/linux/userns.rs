//! The child process that owns a fresh user namespace while its maps are
//! written.
//!
//! `unshare(CLONE_NEWUSER)` fails with EINVAL in a multi-threaded process
//! (`kernel/fork.c`, `check_unshare_flags`), and `fork()` copies the caller's
//! page tables, whose cost grows with its size. So the namespace is made by a
//! `clone(CLONE_NEWUSER | CLONE_VM)` child on a small stack of the parent's:
//! it shares the address space, so it costs the same whatever the caller's
//! size, and it runs nothing but a few bare system calls until it is killed.
//!
//! The child is created with exit signal 0, not `SIGCHLD`: the caller's own
//! `SIGCHLD` handler never sees it, `SIG_IGN` cannot auto-reap it, and a
//! `waitpid(-1, ..)` elsewhere in the caller (which lacks `__WCLONE`) cannot
//! steal it. It is tracked by the pidfd `CLONE_PIDFD` returns, killed with
//! `pidfd_send_signal` and reaped with `waitid(P_PIDFD)`, so no pid number is
//! ever reused under it.
//!
//! # The child never outlives its creator
//!
//! The caller may be killed, call `exit()` on another thread, or `execve` on
//! another thread while the child exists. Each of these ends the creating
//! thread, and `kernel/exit.c` (`forget_original_parent`) then sends every
//! child of that thread its `pdeath_signal`, even when it is re-parented to a
//! surviving thread of the same process (the `execve` case, `de_thread`). So
//! the child's first act is `PR_SET_PDEATHSIG(SIGKILL)`; the creator may have
//! died before that, so the child then checks that `getppid()` is still the
//! pid the creator passed it, and exits if not (and again once a second
//! while it waits, see `child_main`). Next it gives up the
//! caller's fds (`close_range(CLOSE_RANGE_UNSHARE)`), so that even in the
//! instant between the caller's death and its own it holds no flock'd file
//! or listening socket of the caller's.
//!
//! One thing is left after an `execve` on another thread: the killed child
//! stays a zombie of the new program. A child handed to another thread of
//! the same process keeps its exit signal 0 (`forget_original_parent` only
//! calls `reparent_leader`, which sets `SIGCHLD`, across thread groups), so
//! the program is not told; the zombie holds no memory and no fd, only its
//! pid and its credentials (and with them the namespace) until the program
//! waits with `__WALL` or exits, when init or a subreaper reaps it.
//!
//! The child shares the caller's memory and thread pointer, so it must not
//! touch libc state: `errno` is the *caller's* thread-local, and a libc
//! wrapper or `syscall()` that fails writes it. The child makes only rustix
//! calls (its `linux_raw` backend, the default on Linux, issues each system
//! call as inline assembly and returns the error as a value) and one
//! hand-written `close_range`. All 64 signals are blocked with the bare
//! `rt_sigprocmask` around `clone` (glibc's `sigprocmask` silently keeps its
//! internal signals 32 and 33 open), and the child inherits that mask
//! (`kernel/fork.c`, `copy_process`), so no handler of the caller ever runs
//! on the child's stack; `SIGKILL` still ends it.
//!
//! # Which `/proc`
//!
//! The maps are written through `/proc`, and `/proc` may belong to another
//! pid namespace than the caller's (`unshare -p -f` without a new `/proc`, a
//! host's `/proc` in a container): there, the pid `clone` returns names some
//! other process. So the child is looked up by its pidfd instead: the `Pid:`
//! line of `/proc/thread-self/fdinfo/PIDFD` is the child's pid in the pid
//! namespace of the procfs instance that shows it (`fs/pidfs.c`,
//! `pidfd_show_fdinfo`: 0 when the child is not visible there). `/proc` is
//! opened once, checked to be procfs (`fstatfs`), and everything else is
//! opened relative to that fd. A `/proc` that cannot show the child is an
//! [`Error::ProcUnusable`], never a namespace with someone else's maps.
//!
//! The hot path makes the bare C sequence's system calls (`clone`, one
//! `open`+`write`+`close` per map, kill, reap), the two `rt_sigprocmask`
//! calls, `getpid`, and the `/proc` lookup above (`open`+`fstatfs`+`close`
//! of `/proc`, `open`+`read`+`close` of the fdinfo). The namespace fd comes from
//! `ioctl(pidfd, PIDFD_GET_USER_NAMESPACE)`, which skips the
//! `/proc/PID/ns/user` path walk; before Linux 6.11 it falls back to that
//! path, once and for all.

use std::ffi::{c_void, CStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rustix::fs::{openat, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::Signal;

use crate::{Error, Op, Result};

/// The child makes a few system calls and parks; a few KiB would do, 16 KiB
/// leaves margin for the libc `clone` trampoline on every architecture.
const CHILD_STACK: usize = 16 * 1024;

#[repr(C, align(16))]
struct ChildStack([u8; CHILD_STACK]);

/// What the child runs. `parent` is the creator's pid, smuggled in the
/// pointer-sized argument so that the child reads no memory of the parent's.
extern "C" fn child_main(parent: *mut c_void) -> libc::c_int {
    use rustix::process::{getppid, set_parent_process_death_signal};
    // Returning makes the libc trampoline call the bare `exit` system call.
    if set_parent_process_death_signal(Some(Signal::KILL)).is_err() {
        return 1;
    }
    // The creator may have died before the line above; then the child has
    // already been re-parented (to init or a subreaper) and no signal is
    // coming. A creator thread that died while its process lives leaves
    // the child with a sibling thread as parent, whose death (with the
    // process) does send the signal.
    let parent_alive =
        || getppid().map(|p| p.as_raw_nonzero().get() as usize) == Some(parent as usize);
    if !parent_alive() {
        return 1;
    }
    drop_fd_table();
    // Every signal is blocked: only SIGKILL (or SIGSTOP) wakes this early.
    // The wake-up once a second covers the one order the check above
    // misses: `prctl(PR_SET_PDEATHSIG)` takes no lock against an exiting
    // parent, which may read the old `pdeath_signal` (`kernel/sys.c`, and
    // `forget_original_parent` in `kernel/exit.c`), while `getppid()` still
    // showed it. It costs nothing: the child normally lives for tens of µs.
    let second = rustix::event::Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    while parent_alive() {
        let _ = rustix::event::poll(&mut [], Some(&second));
    }
    1
}

/// `close_range(2)`, Linux 5.9, the same number in every unified table.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const SYS_CLOSE_RANGE: usize = 436;
/// `CLOSE_RANGE_UNSHARE` from `<linux/close_range.h>`.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const CLOSE_RANGE_UNSHARE: usize = 1 << 1;

/// `close_range(0, ~0U, CLOSE_RANGE_UNSHARE)` as a bare system call (rustix
/// 1.1 has no wrapper, and libc's would write the caller's `errno`).
///
/// The child is cloned with `CLONE_FILES`, sharing the caller's fd table
/// instead of copying it, and this gives it a fresh empty table of its own
/// (`fs/file.c`, `__close_range`: with `CLOSE_RANGE_UNSHARE` over the
/// whole range, `dup_fd` punches the range out and copies no fd; older
/// kernels call `unshare_fd` with a limit of fd 0, to the same end) without
/// closing anything in the caller's. Measured with 10,000 open fds (release, 2,000 creations, best
/// of 5, on a busy 2-core VM): a copied table (no `CLONE_FILES`) +
/// `close_range(0, ~0U, 0)` costs about 620 µs per creation, as `dup_fd`
/// and the closes take and drop a reference on every file; `CLONE_FILES` +
/// this call about 80-150 µs, the same as with no fds open.
///
/// Before Linux 5.9 the call fails with ENOSYS and the child keeps sharing
/// the table, as a thread would, until it dies with its creator. On
/// architectures not listed here the same holds.
#[inline(always)]
fn drop_fd_table() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the system call reads its three integer arguments only and
    // neither changes memory nor touches the stack; `syscall` clobbers rcx
    // and r11 and restores the flags.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") SYS_CLOSE_RANGE => _,
            in("rdi") 0usize,
            in("rsi") u32::MAX as usize,
            in("rdx") CLOSE_RANGE_UNSHARE,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above; `svc 0` clobbers only x0, the result.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") SYS_CLOSE_RANGE,
            inlateout("x0") 0usize => _,
            in("x1") u32::MAX as usize,
            in("x2") CLOSE_RANGE_UNSHARE,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(target_arch = "x86")]
    // SAFETY: as above; `int 0x80` (the i386 entry, and the compat entry of
    // a 64-bit kernel) clobbers only eax, the result. ebx may be named: LLVM
    // reserves esi on x86, not ebx.
    unsafe {
        core::arch::asm!(
            "int 0x80",
            inlateout("eax") SYS_CLOSE_RANGE => _,
            in("ebx") 0usize,
            in("ecx") u32::MAX as usize,
            in("edx") CLOSE_RANGE_UNSHARE,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(target_arch = "riscv64")]
    // SAFETY: as above; `ecall` clobbers only a0, the result.
    unsafe {
        core::arch::asm!(
            "ecall",
            in("a7") SYS_CLOSE_RANGE,
            inlateout("a0") 0usize => _,
            in("a1") u32::MAX as usize,
            in("a2") CLOSE_RANGE_UNSHARE,
            options(nostack, preserves_flags),
        );
    }
}

/// Kills and reaps the child when dropped, on every path.
struct Child {
    /// The pid `clone` returned: in the caller's pid namespace, which need
    /// not be the one `/proc` shows. Used only when there is no pidfd.
    pid: libc::pid_t,
    /// From `CLONE_PIDFD` (Linux 5.2+); closed after the child is reaped.
    pidfd: Option<OwnedFd>,
}

/// `__WCLONE`: the child has no exit signal (`kernel/exit.c`,
/// `eligible_child`).
fn wclone() -> rustix::process::WaitIdOptions {
    rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::from_bits_retain(libc::__WCLONE as u32)
}

impl Drop for Child {
    fn drop(&mut self) {
        use rustix::process::{pidfd_send_signal, waitid, WaitId};
        if let Some(pidfd) = &self.pidfd {
            if pidfd_send_signal(pidfd, Signal::KILL).is_ok() {
                loop {
                    match waitid(WaitId::PidFd(pidfd.as_fd()), wclone()) {
                        Err(Errno::INTR) => continue,
                        // Linux 5.2 and 5.3 have CLONE_PIDFD but no P_PIDFD.
                        Err(Errno::INVAL) => break,
                        _ => return,
                    }
                }
            }
        }
        // SAFETY: `pid` is our own unreaped child, so it cannot have been
        // reused by another process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::__WCLONE) };
            if r >= 0 || super::last_errno() != libc::EINTR {
                break;
            }
        }
    }
}

/// Blocks all 64 signals in the calling thread until dropped, with the bare
/// `rt_sigprocmask`: glibc's wrappers leave 32 and 33 (its cancellation and
/// `setxid` signals) unblocked, and a child cloned meanwhile would inherit
/// them open, with the caller's glibc handlers.
struct SignalsBlocked {
    old: u64,
}

impl SignalsBlocked {
    fn new() -> Result<Self> {
        let all = !0u64;
        let mut old = 0u64;
        // SAFETY: both sets are 8-byte kernel sigsets (`_NSIG` is 64 on
        // every architecture in `abi::UNIFIED_TABLE`), read or written only
        // during the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &all as *const u64,
                &mut old as *mut u64,
                std::mem::size_of::<u64>(),
            )
        };
        if rc != 0 {
            return Err(Error::os(Op::SignalMask, super::last_errno()));
        }
        Ok(SignalsBlocked { old })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &self.old as *const u64,
                std::ptr::null_mut::<u64>(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

/// Whether to ask for a pidfd with `CLONE_PIDFD` (Linux 5.2+); cleared the
/// first time `clone` refuses it.
static CLONE_PIDFD: AtomicBool = AtomicBool::new(true);

/// Runs `f` with a child that sits in a new user namespace with no maps
/// yet. The child is killed and reaped before this returns, whatever `f`
/// returns and even if it panics.
fn with_userns_child<T>(f: impl FnOnce(&Child) -> Result<T>) -> Result<T> {
    // Declared before the guard so that it outlives the child.
    let mut stack = std::mem::MaybeUninit::<ChildStack>::uninit();
    let parent = rustix::process::getpid().as_raw_nonzero().get();
    let child = {
        let blocked = SignalsBlocked::new()?;
        // The stack grows down on every architecture Linux supports here.
        let top = stack.as_mut_ptr().wrapping_add(1).cast::<c_void>();
        // CLONE_FILES: the child shares the fd table (no copy) until it
        // drops its share, see `drop_fd_table`.
        let mut flags = libc::CLONE_NEWUSER | libc::CLONE_VM | libc::CLONE_FILES;
        if CLONE_PIDFD.load(Relaxed) {
            flags |= libc::CLONE_PIDFD;
        }
        let mut pidfd: libc::c_int = -1;
        // SAFETY: `child_main` touches no memory but its own frame on
        // `stack`, which lives until `Child` has reaped the child (it is
        // dropped after `child` at the end of this function). No CLONE_FS:
        // the kernel refuses CLONE_NEWUSER | CLONE_FS. With CLONE_PIDFD the
        // kernel stores the new pidfd in `pidfd` (the parent_tid argument)
        // before returning.
        let pid = unsafe {
            libc::clone(
                child_main,
                top,
                flags,
                parent as usize as *mut c_void,
                &mut pidfd as *mut libc::c_int,
            )
        };
        if pid < 0 {
            let errno = super::last_errno();
            if errno == libc::EINVAL && flags & libc::CLONE_PIDFD != 0 {
                // Before Linux 5.2 there is no CLONE_PIDFD.
                CLONE_PIDFD.store(false, Relaxed);
                drop(blocked);
                return with_userns_child(f);
            }
            return Err(Error::os(Op::CloneUserNs, errno));
        }
        let mut child = Child { pid, pidfd: None };
        if flags & libc::CLONE_PIDFD != 0 {
            if pidfd < 0 {
                // Not a kernel this code knows; `child` is killed by pid.
                return Err(Error::os(Op::CloneUserNs, libc::EBADF));
            }
            // SAFETY: a successful clone with CLONE_PIDFD returned a new fd
            // that nothing else owns.
            child.pidfd = Some(unsafe { OwnedFd::from_raw_fd(pidfd) });
        }
        child
    };
    let result = f(&child);
    drop(child);
    result
}

/// Whether to try `PIDFD_GET_USER_NAMESPACE` (Linux 6.11+); cleared the
/// first time the kernel shows it has not.
static PIDFD_USERNS: AtomicBool = AtomicBool::new(true);

/// `_IO(0xFF, 9)` from `<linux/pidfd.h>`.
const PIDFD_GET_USER_NAMESPACE: u32 = super::IOC_NONE | (0xff << 8) | 9;

/// `PROC_SUPER_MAGIC` from `<linux/magic.h>`.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The child's user namespace: `ioctl(pidfd, PIDFD_GET_USER_NAMESPACE)`,
/// else `ns/user` in the child's `/proc` directory, checked with
/// `NS_GET_NSTYPE`. Both give a close-on-exec fd.
fn open_child_userns(child: &Child, dir: &ChildDir) -> Result<OwnedFd> {
    if let Some(pidfd) = child.pidfd.as_ref().filter(|_| PIDFD_USERNS.load(Relaxed)) {
        // SAFETY: the ioctl reads no memory and returns a new fd or -1. Its
        // argument must be 0: the kernel refuses anything else with EINVAL.
        let fd = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_USER_NAMESPACE as _, 0usize) };
        if fd >= 0 {
            // SAFETY: the ioctl returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if matches!(super::last_errno(), libc::ENOTTY | libc::EINVAL) {
            // Before Linux 6.11.
            PIDFD_USERNS.store(false, Relaxed);
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
        .map_err(|e| super::os_err(Op::Open, Some(&self.path(name)), e))
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
fn open_child_dir(child: &Child) -> Result<ChildDir> {
    let proc = openat(
        rustix::fs::CWD,
        c"/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| super::os_err(Op::Open, Some("/proc".as_ref()), e))?;
    let fs = rustix::fs::fstatfs(&proc)
        .map_err(|e| super::os_err(Op::Fstatfs, Some("/proc".as_ref()), e))?;
    #[allow(clippy::unnecessary_cast)] // `f_type`'s type differs between architectures
    if fs.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(unusable("/proc", "not a procfs mount"));
    }
    let pid = match &child.pidfd {
        Some(pidfd) => match pid_in_proc(proc.as_fd(), pidfd.as_fd())? {
            Some(pid) => pid,
            None => same_pid_ns_or_err(proc.as_fd(), child.pid)?,
        },
        None => same_pid_ns_or_err(proc.as_fd(), child.pid)?,
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
        Err(e) => {
            return Err(super::os_err(
                Op::Open,
                Some("/proc/thread-self/fdinfo".as_ref()),
                e,
            ))
        }
    };
    let mut buf = [0u8; 512];
    let n = rustix::io::read(&info, &mut buf)
        .map_err(|e| super::os_err(Op::Read, Some("/proc/thread-self/fdinfo".as_ref()), e))?;
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
        Err(e) => Err(super::os_err(Op::Write, Some(&path()), e)),
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
    // libc types ioctl requests as c_ulong on glibc and c_int on musl.
    #[allow(clippy::unnecessary_cast)]
    fn pidfd_get_user_namespace_matches_libc() {
        assert_eq!(
            super::PIDFD_GET_USER_NAMESPACE as u64,
            libc::PIDFD_GET_USER_NAMESPACE as u64
        );
    }

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
