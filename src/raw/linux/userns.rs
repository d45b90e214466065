//! The `clone(CLONE_NEWUSER | CLONE_VM)` child that owns a fresh user
//! namespace while its maps are written: its stack, what it runs, and its
//! killing and reaping. Which `/proc` the maps are written through, the
//! fallbacks for older kernels and the errors are `UserNs`'s
//! (`src/userns/create.rs`).
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
//! Which `/proc` the maps go through is decided in `src/userns/create.rs`.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::Errno;
use rustix::ioctl::Opcode;
use rustix::process::Signal;

use super::mount::ioctl_int;
use super::Result;

/// The child makes a few system calls and parks; a few KiB would do, 16 KiB
/// leaves margin for the libc `clone` trampoline on every architecture.
const CHILD_STACK: usize = 16 * 1024;

#[repr(C, align(16))]
pub(crate) struct ChildStack([u8; CHILD_STACK]);

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

/// `close_range(2)`, Linux 5.9.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const SYS_CLOSE_RANGE: usize = linux_raw_sys::general::__NR_close_range as usize;
/// `CLOSE_RANGE_UNSHARE` from `<linux/close_range.h>`, as `libc` has it
/// (`linux-raw-sys` does not).
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const CLOSE_RANGE_UNSHARE: usize = libc::CLOSE_RANGE_UNSHARE as usize;

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
pub(crate) struct Child<'a> {
    /// The pid `clone` returned: in the caller's pid namespace, which need
    /// not be the one `/proc` shows. Used only when there is no pidfd.
    pid: libc::pid_t,
    /// From `CLONE_PIDFD` (Linux 5.2+); closed after the child is reaped.
    pidfd: Option<OwnedFd>,
    /// The stack the child runs on, which must outlive it.
    _stack: PhantomData<&'a mut ChildStack>,
}

impl Child<'_> {
    /// The pid `clone` returned, in the caller's pid namespace.
    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// The child's pidfd, if it was cloned with `CLONE_PIDFD`.
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }
}

/// `__WCLONE`: the child has no exit signal (`kernel/exit.c`,
/// `eligible_child`).
fn wclone() -> rustix::process::WaitIdOptions {
    rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::from_bits_retain(libc::__WCLONE as u32)
}

impl Drop for Child<'_> {
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
            if r >= 0 || super::last_errno() != Errno::INTR {
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
        // every architecture but mips, which the crate does not build for), read or written only
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
            return Err(super::last_errno());
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

/// Which step of [`spawn_userns_child`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpawnStep {
    /// `rt_sigprocmask`, blocking every signal around `clone`.
    SignalMask,
    /// `clone` itself.
    Clone,
}

/// `clone(CLONE_NEWUSER | CLONE_VM | CLONE_FILES [| CLONE_PIDFD])`: a child
/// that sits in a new user namespace with no maps yet, running on `stack`,
/// with every signal blocked around the call. Dropping the [`Child`] kills
/// and reaps it.
///
/// With `pidfd`, the child is tracked by the pidfd `CLONE_PIDFD` gives
/// (`EINVAL` before Linux 5.2: the caller retries without).
pub(crate) fn spawn_userns_child(
    stack: &mut MaybeUninit<ChildStack>,
    pidfd: bool,
) -> std::result::Result<Child<'_>, (SpawnStep, Errno)> {
    let parent = rustix::process::getpid().as_raw_nonzero().get();
    let _blocked = SignalsBlocked::new().map_err(|e| (SpawnStep::SignalMask, e))?;
    // The stack grows down on every architecture Linux supports here.
    let top = stack.as_mut_ptr().wrapping_add(1).cast::<c_void>();
    // CLONE_FILES: the child shares the fd table (no copy) until it
    // drops its share, see `drop_fd_table`.
    let mut flags = libc::CLONE_NEWUSER | libc::CLONE_VM | libc::CLONE_FILES;
    if pidfd {
        flags |= libc::CLONE_PIDFD;
    }
    let mut raw_pidfd: libc::c_int = -1;
    // SAFETY: `child_main` touches no memory but its own frame on `stack`,
    // which the returned `Child` borrows, so it lives until the child is
    // reaped. No CLONE_FS: the kernel refuses CLONE_NEWUSER | CLONE_FS.
    // With CLONE_PIDFD the kernel stores the new pidfd in `raw_pidfd` (the
    // parent_tid argument) before returning.
    let pid = unsafe {
        libc::clone(
            child_main,
            top,
            flags,
            parent as usize as *mut c_void,
            &mut raw_pidfd as *mut libc::c_int,
        )
    };
    if pid < 0 {
        return Err((SpawnStep::Clone, super::last_errno()));
    }
    let mut child = Child {
        pid,
        pidfd: None,
        _stack: PhantomData,
    };
    if pidfd {
        if raw_pidfd < 0 {
            // Not a kernel this code knows; `child` is killed by pid.
            return Err((SpawnStep::Clone, Errno::BADF));
        }
        // SAFETY: a successful clone with CLONE_PIDFD returned a new fd
        // that nothing else owns.
        child.pidfd = Some(unsafe { OwnedFd::from_raw_fd(raw_pidfd) });
    }
    Ok(child)
}

/// `ioctl(pidfd, PIDFD_GET_USER_NAMESPACE)` (Linux 6.11+): the user
/// namespace of the process `pidfd` refers to, close-on-exec.
pub(crate) fn pidfd_get_user_namespace(pidfd: BorrowedFd<'_>) -> Result<OwnedFd> {
    /// `_IO(0xFF, 9)` from `<linux/pidfd.h>`, which `linux-raw-sys` lacks.
    const OP: Opcode = rustix::ioctl::opcode::none(0xFF, 9);
    // Its argument must be 0: the kernel refuses anything else with EINVAL.
    let fd = ioctl_int::<OP>(pidfd, 0)?;
    // SAFETY: the ioctl returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    #[test]
    // libc types ioctl requests as c_ulong on glibc and c_int on musl.
    #[allow(clippy::unnecessary_cast)]
    fn pidfd_get_user_namespace_matches_libc() {
        assert_eq!(
            rustix::ioctl::opcode::none(0xFF, 9) as u64,
            libc::PIDFD_GET_USER_NAMESPACE as u64
        );
    }
}
