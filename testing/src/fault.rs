//! Fault injection: a seccomp filter on the calling thread that makes one
//! system call, or one ioctl request, fail with a chosen errno, or kills
//! whoever makes one call.
//!
//! A filter installed without `SECCOMP_FILTER_FLAG_TSYNC` binds only the
//! thread that installs it (`seccomp(2)`), so a test can make its own thread
//! look like an old kernel (`ENOSYS` for `open_tree_attr`, `EINVAL` for
//! `LOOP_CONFIGURE`) while the rest of the process is unaffected. Filters
//! cannot be removed: run the faulty part on a thread of its own.
//!
//! Every function here is `unsafe`: the standard library and libc assume
//! that some calls cannot fail (`munmap`, `close`, `futex`, `mmap` for
//! `malloc`...), so a filter on the wrong call makes safe code misbehave
//! (a failing `mmap` makes `malloc` return null, and code that cannot cope
//! crashes). Bad numbers are refused before anything is installed
//! ([`FaultError`]).
//!
//! Safe code cannot install one (the call below does not compile):
//!
//! ```compile_fail,E0133
//! #![forbid(unsafe_code)]
//! mountfd_testing::fault::fail_syscall(libc::SYS_mmap, libc::ENOMEM).unwrap();
//! ```
//!
//! <https://man7.org/linux/man-pages/man2/seccomp.2.html>

use std::fmt;

/// Why a filter was not installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultError {
    /// The errno is outside `1..=4095` (`MAX_ERRNO`): the kernel would turn
    /// it into something else, or into a successful return.
    BadErrno(i32),
    /// The system call number does not fit the filter's 32-bit `nr`, or is
    /// negative.
    BadSyscall(libc::c_long),
    /// No audit architecture is known for this target: without one the
    /// filter could match a call of another ABI with the same number.
    UnsupportedArch,
    /// `prctl` failed.
    Os {
        /// The call.
        op: &'static str,
        /// Its errno.
        errno: i32,
    },
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadErrno(e) => write!(f, "errno {e} is outside 1..=4095"),
            Self::BadSyscall(nr) => write!(f, "system call number {nr} does not fit a filter"),
            Self::UnsupportedArch => f.write_str("no seccomp audit architecture for this target"),
            Self::Os { op, errno } => {
                write!(f, "{op}: {}", std::io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

impl std::error::Error for FaultError {}

// Classic BPF opcodes (`<linux/filter.h>`).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const BPF_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

// `<linux/seccomp.h>`.
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

/// The largest errno the kernel passes back as one (`MAX_ERRNO` in
/// `include/linux/err.h`); `SECCOMP_RET_ERRNO` caps larger data to it.
const MAX_ERRNO: i32 = 4095;

// Offsets in `struct seccomp_data`: int nr, u32 arch, u64
// instruction_pointer, u64 args[6]. Every argument is a u64, on 32-bit
// targets too (i386, arm: the value is its low half), so the ioctl request
// is the low word of args[1] everywhere.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
#[cfg(target_endian = "little")]
const OFF_ARG1_LOW: u32 = 16 + 8;
#[cfg(target_endian = "big")]
const OFF_ARG1_LOW: u32 = 16 + 8 + 4;

// `AUDIT_ARCH_*` of every Linux target the crate supports
// (`<linux/audit.h>`: the ELF machine, | 0x8000_0000 for 64-bit, | 0x4000_0000
// for little-endian; each checked against `linux-raw-sys` below).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;
const AUDIT_ARCH_PPC64LE: u32 = 0xc000_0015;
const AUDIT_ARCH_PPC64: u32 = 0x8000_0015;
const AUDIT_ARCH_S390X: u32 = 0x8000_0016;
const AUDIT_ARCH_LOONGARCH64: u32 = 0xc000_0102;

/// The audit architecture of this target: the filter matches calls of this
/// ABI only (the same number means another call in another ABI).
const AUDIT_ARCH: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(AUDIT_ARCH_X86_64)
} else if cfg!(target_arch = "x86") {
    Some(AUDIT_ARCH_I386)
} else if cfg!(target_arch = "aarch64") {
    Some(AUDIT_ARCH_AARCH64)
} else if cfg!(target_arch = "arm") {
    Some(AUDIT_ARCH_ARM)
} else if cfg!(target_arch = "riscv64") {
    Some(AUDIT_ARCH_RISCV64)
} else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
    Some(AUDIT_ARCH_PPC64LE)
} else if cfg!(all(target_arch = "powerpc64", target_endian = "big")) {
    Some(AUDIT_ARCH_PPC64)
} else if cfg!(target_arch = "s390x") {
    Some(AUDIT_ARCH_S390X)
} else if cfg!(target_arch = "loongarch64") {
    Some(AUDIT_ARCH_LOONGARCH64)
} else {
    None
};

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

fn arch() -> Result<u32, FaultError> {
    AUDIT_ARCH.ok_or(FaultError::UnsupportedArch)
}

/// The filter's `nr`: a non-negative `int`.
fn syscall_nr(nr: libc::c_long) -> Result<u32, FaultError> {
    match i32::try_from(nr) {
        Ok(n) if n >= 0 => Ok(n as u32),
        _ => Err(FaultError::BadSyscall(nr)),
    }
}

fn ret_errno(errno: i32) -> Result<u32, FaultError> {
    if (1..=MAX_ERRNO).contains(&errno) {
        Ok(SECCOMP_RET_ERRNO | errno as u32)
    } else {
        Err(FaultError::BadErrno(errno))
    }
}

/// Without `CAP_SYS_ADMIN` the kernel takes a filter only from a thread
/// that can gain no privileges (`seccomp_prepare_filter`): sets
/// `PR_SET_NO_NEW_PRIVS` then, and only then.
fn allow_filters_unprivileged() -> Result<(), FaultError> {
    if !crate::is_root() {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(last_os("prctl(PR_SET_NO_NEW_PRIVS)"));
        }
    }
    Ok(())
}

/// Installs `prog` on the calling thread.
///
/// # Safety
///
/// As for the public functions: the caller accepts what `prog` does to the
/// thread and its future children.
unsafe fn install(prog: &[libc::sock_filter]) -> Result<(), FaultError> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).expect("a short filter"),
        filter: prog.as_ptr().cast_mut(),
    };
    allow_filters_unprivileged()?;
    // SAFETY: `fprog` points to `prog`, which the kernel copies during the
    // call; what the filter then does is the caller's contract.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(last_os("prctl(PR_SET_SECCOMP)"));
    }
    Ok(())
}

fn last_os(op: &'static str) -> FaultError {
    FaultError::Os {
        op,
        errno: std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    }
}

/// Runs `f` on a new thread and returns what it returns: where a test
/// installs a filter, which stays with its thread for life and must not
/// reach the test harness's own threads.
///
/// # Panics
///
/// If `f` panics: the caller then panics too.
pub fn on_own_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// Makes system call `nr` fail with `errno` on the calling thread, for the
/// rest of its life (and in every process it creates from now on).
///
/// # Errors
///
/// [`FaultError::BadErrno`] for an errno outside `1..=4095`,
/// [`FaultError::BadSyscall`] for a number that does not fit, both before
/// anything is installed; [`FaultError::UnsupportedArch`]; the failed
/// `prctl`.
///
/// # Safety
///
/// The calling thread, and any process it forks afterwards, must cope with
/// every later `nr` failing with `errno`, including the calls the standard
/// library and libc make on its behalf and assume cannot fail (`mmap` under
/// `malloc`, `munmap`, `futex`, `close`...). Fail only calls that the code
/// run on this thread afterwards handles as errors (`open_tree_attr` for
/// `mountfd`, say), and run that code on a thread of its own.
pub unsafe fn fail_syscall(nr: libc::c_long, errno: i32) -> Result<(), FaultError> {
    let nr = syscall_nr(nr)?;
    let ret = ret_errno(errno)?;
    let prog = [
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(arch()?, 0, 3),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jeq(nr, 0, 1),
        stmt(BPF_RET_K, ret),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the caller's contract.
    unsafe { install(&prog) }
}

/// Makes `ioctl(_, request, ..)` fail with `errno` on the calling thread,
/// for the rest of its life (and in every process it creates from now on).
/// Only the low 32 bits of the request are compared: the kernel's `cmd` is
/// an `unsigned int`.
///
/// # Errors
///
/// [`FaultError::BadErrno`] for an errno outside `1..=4095`, before
/// anything is installed; [`FaultError::UnsupportedArch`]; the failed
/// `prctl`.
///
/// # Safety
///
/// The calling thread, and any process it forks afterwards, must cope with
/// every later `ioctl` of that request failing with `errno`, including
/// those the standard library and libc make on its behalf (`TCGETS` from
/// `isatty`, say).
pub unsafe fn fail_ioctl(request: u32, errno: i32) -> Result<(), FaultError> {
    let ret = ret_errno(errno)?;
    let ioctl = syscall_nr(libc::SYS_ioctl)?;
    let prog = [
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(arch()?, 0, 5),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jeq(ioctl, 0, 3),
        stmt(BPF_LD_W_ABS, OFF_ARG1_LOW),
        jeq(request, 0, 1),
        stmt(BPF_RET_K, ret),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the caller's contract.
    unsafe { install(&prog) }
}

/// A condition on the low 32 bits of one argument of a system call, for
/// [`fail_syscall_if`]. Every argument is seen as a `u64` (`struct
/// seccomp_data`); an `int` flags word or fd is its low half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Argument `index` (0..=5) equals `value` in its low 32 bits.
    Eq {
        /// Which argument, from 0.
        index: u8,
        /// The value its low word must have.
        value: u32,
    },
    /// Argument `index` (0..=5) has at least one bit of `mask` set in its
    /// low 32 bits (`BPF_JSET`).
    HasAnyBit {
        /// Which argument, from 0.
        index: u8,
        /// The bits.
        mask: u32,
    },
}

impl Arg {
    fn index(self) -> u8 {
        match self {
            Arg::Eq { index, .. } | Arg::HasAnyBit { index, .. } => index,
        }
    }
}

const BPF_JSET_K: u16 = 0x05 | 0x40; // BPF_JMP | BPF_JSET | BPF_K

/// The offset of the low word of argument `index` in `struct seccomp_data`.
fn arg_low(index: u8) -> u32 {
    let base = 16 + 8 * u32::from(index);
    if cfg!(target_endian = "big") {
        base + 4
    } else {
        base
    }
}

/// Makes system call `nr` fail with `errno` on the calling thread when
/// every one of `conds` holds, for the rest of its life (and in every
/// process it creates from now on): `clone` only when its flags ask for
/// `CLONE_PIDFD`, `fsconfig` only on one fd, say. Other calls of `nr` run.
///
/// # Errors
///
/// As [`fail_syscall`]; [`FaultError::BadSyscall`] also for an argument
/// index above 5 or more than 8 conditions, before anything is installed.
///
/// # Safety
///
/// As [`fail_syscall`], for the calls that match.
pub unsafe fn fail_syscall_if(
    nr: libc::c_long,
    conds: &[Arg],
    errno: i32,
) -> Result<(), FaultError> {
    let ret = ret_errno(errno)?;
    // SAFETY: the caller's contract.
    unsafe { install_if(nr, conds, ret) }
}

/// Makes system call `nr` return 0 without running when every one of
/// `conds` holds (`SECCOMP_RET_ERRNO` with errno 0), on the calling thread
/// for the rest of its life: a kernel that takes a request and ignores it,
/// such as a `LOOP_SET_STATUS64` that sets nothing.
///
/// # Errors
///
/// As [`fail_syscall_if`].
///
/// # Safety
///
/// As [`fail_syscall`]; worse, the caller sees success from a call that
/// did nothing, so any output it expects from the call is left as it was.
/// Use it only for calls whose output (if any) the code run on this thread
/// checks.
pub unsafe fn skip_syscall_if(nr: libc::c_long, conds: &[Arg]) -> Result<(), FaultError> {
    // SAFETY: the caller's contract.
    unsafe { install_if(nr, conds, SECCOMP_RET_ERRNO) }
}

/// Installs a filter returning `ret` for call `nr` when all `conds` hold.
///
/// # Safety
///
/// As [`fail_syscall`].
unsafe fn install_if(nr: libc::c_long, conds: &[Arg], ret: u32) -> Result<(), FaultError> {
    let nr32 = syscall_nr(nr)?;
    if conds.len() > 8 || conds.iter().any(|c| c.index() > 5) {
        return Err(FaultError::BadSyscall(nr));
    }
    // Layout: arch check, nr check, two instructions per condition, then
    // RET errno, RET allow. A failed check jumps to RET allow.
    let n = conds.len();
    let mut prog = Vec::with_capacity(6 + 2 * n);
    let to_allow = |at: usize| -> u8 {
        // From the instruction after `at` to the last one (RET allow).
        let last = 4 + 2 * n + 1;
        u8::try_from(last - (at + 1)).expect("a short filter")
    };
    prog.push(stmt(BPF_LD_W_ABS, OFF_ARCH));
    prog.push(jeq(arch()?, 0, to_allow(1)));
    prog.push(stmt(BPF_LD_W_ABS, OFF_NR));
    prog.push(jeq(nr32, 0, to_allow(3)));
    for (i, c) in conds.iter().enumerate() {
        let at = 4 + 2 * i + 1;
        prog.push(stmt(BPF_LD_W_ABS, arg_low(c.index())));
        prog.push(match *c {
            Arg::Eq { value, .. } => jeq(value, 0, to_allow(at)),
            Arg::HasAnyBit { mask, .. } => libc::sock_filter {
                code: BPF_JSET_K,
                jt: 0,
                jf: to_allow(at),
                k: mask,
            },
        });
    }
    prog.push(stmt(BPF_RET_K, ret));
    prog.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    // SAFETY: the caller's contract.
    unsafe { install(&prog) }
}

/// Kills the calling thread, and any process it creates from now on
/// (filters are inherited: the child that owns a new user namespace, say),
/// the moment it makes system call `nr` (`SECCOMP_RET_KILL_THREAD`).
///
/// # Errors
///
/// [`FaultError::BadSyscall`] for a number that does not fit, before
/// anything is installed; [`FaultError::UnsupportedArch`]; the failed
/// `prctl`.
///
/// # Safety
///
/// A killed thread does not unwind: its locks stay held, its stack vanishes
/// under whatever borrows it, and a thread joining it waits for ever. The
/// calling thread itself must never make call `nr` afterwards, only the
/// processes it creates, which must be expendable.
pub unsafe fn kill_on_syscall(nr: libc::c_long) -> Result<(), FaultError> {
    let nr = syscall_nr(nr)?;
    let prog = [
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(arch()?, 0, 3),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jeq(nr, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_KILL_THREAD),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the caller's contract.
    unsafe { install(&prog) }
}

/// `struct seccomp_notif` from `<linux/seccomp.h>`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif_resp` from `<linux/seccomp.h>`.
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// `_IOWR('!', nr, size)` in the generic ioctl encoding (x86, arm, riscv,
/// s390x, loongarch); checked against libc below.
const fn iowr(nr: u32, size: usize) -> u32 {
    (3 << 30) | ((size as u32) << 16) | ((b'!' as u32) << 8) | nr
}
const SECCOMP_IOCTL_NOTIF_RECV: u32 = iowr(0, std::mem::size_of::<SeccompNotif>());
const SECCOMP_IOCTL_NOTIF_SEND: u32 = iowr(1, std::mem::size_of::<SeccompNotifResp>());
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;
const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_long = 1 << 3;

/// A system call stopped by [`notify_on_syscall`], waiting for
/// [`Listener::resume`].
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// The kernel's cookie for the call.
    pub id: u64,
    /// The thread that made it, in the listener's pid namespace.
    pub tid: u32,
    /// The system call number.
    pub nr: i32,
    /// Its arguments.
    pub args: [u64; 6],
}

/// The listener fd of a [`notify_on_syscall`] filter: every call the filter
/// stops waits until another thread resumes it here.
#[derive(Debug)]
pub struct Listener(std::os::fd::OwnedFd);

impl Listener {
    /// Waits up to `timeout` for a stopped call; `None` if none came.
    ///
    /// # Errors
    ///
    /// The failed `poll` or `SECCOMP_IOCTL_NOTIF_RECV`.
    pub fn next(&self, timeout: std::time::Duration) -> std::io::Result<Option<Notification>> {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 || pfd.revents & libc::POLLIN == 0 {
            return Ok(None);
        }
        let mut notif = SeccompNotif::default();
        // SAFETY: the kernel fills in exactly one zeroed `seccomp_notif`.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut notif as *mut SeccompNotif,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Some(Notification {
            id: notif.id,
            tid: notif.pid,
            nr: notif.nr,
            args: notif.args,
        }))
    }

    /// Lets the stopped call `id` run as if never stopped
    /// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`, Linux 5.5+).
    ///
    /// # Errors
    ///
    /// The failed `SECCOMP_IOCTL_NOTIF_SEND` (`ENOENT` if the caller died).
    pub fn resume(&self, id: u64) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut resp = SeccompNotifResp {
            id,
            val: 0,
            error: 0,
            flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE,
        };
        // SAFETY: the kernel reads exactly one `seccomp_notif_resp`.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                SECCOMP_IOCTL_NOTIF_SEND as _,
                &mut resp as *mut SeccompNotifResp,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Stops every call of `nr` on the calling thread (and in every process it
/// creates from now on) until another thread [resumes](Listener::resume)
/// it through the returned [`Listener`] (`SECCOMP_RET_USER_NOTIF`): a
/// window in which a test can look at the world, such as the state of a
/// child, at an exact point of the code under test.
///
/// # Errors
///
/// As [`kill_on_syscall`]; the failed `seccomp` call.
///
/// # Safety
///
/// Each call of `nr` on the thread waits until it is resumed: something
/// must read the listener for as long as the thread (or a process it
/// created) can make the call, or it hangs. Dropping the listener makes
/// later calls fail with `ENOSYS`.
pub unsafe fn notify_on_syscall(nr: libc::c_long) -> Result<Listener, FaultError> {
    use std::os::fd::FromRawFd;
    let nr = syscall_nr(nr)?;
    let prog = [
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(arch()?, 0, 3),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jeq(nr, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_USER_NOTIF),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr().cast_mut(),
    };
    allow_filters_unprivileged()?;
    // SAFETY: `fprog` points to `prog`, which the kernel copies during the
    // call; it returns a new fd that nothing else owns.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(last_os("seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)"));
    }
    // SAFETY: as above.
    Ok(Listener(unsafe {
        std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `fcntl` glibc makes: `fcntl64` on 32-bit targets.
    #[cfg(target_pointer_width = "64")]
    const SYS_FCNTL: libc::c_long = libc::SYS_fcntl;
    #[cfg(target_pointer_width = "32")]
    const SYS_FCNTL: libc::c_long = libc::SYS_fcntl64;

    #[test]
    fn errnos_outside_1_to_4095_are_refused_before_anything_is_installed() {
        for errno in [0, -1, 4096, 0x1_0000, i32::MIN, i32::MAX] {
            on_own_thread(|| {
                // SAFETY: refused before a filter exists; if one were
                // installed anyway, getppid failing harms no one.
                let r = unsafe { fail_syscall(libc::SYS_getppid, errno) };
                assert_eq!(r, Err(FaultError::BadErrno(errno)));
                // SAFETY: as above; no code here issues this request.
                let r = unsafe { fail_ioctl(0x4C81, errno) };
                assert_eq!(r, Err(FaultError::BadErrno(errno)));
                // Nothing was installed: the call still works.
                assert!(rustix::process::getppid().is_some());
            });
        }
    }

    #[test]
    fn syscall_numbers_that_do_not_fit_are_refused() {
        let too_big = [-1, libc::c_long::from(i32::MIN)]
            .into_iter()
            .chain(libc::c_long::try_from(i64::from(i32::MAX) + 1).ok());
        for nr in too_big {
            on_own_thread(|| {
                // SAFETY: refused before a filter exists.
                let r = unsafe { fail_syscall(nr, libc::EPERM) };
                assert_eq!(r, Err(FaultError::BadSyscall(nr)));
                // SAFETY: refused before a filter exists.
                let r = unsafe { kill_on_syscall(nr) };
                assert_eq!(r, Err(FaultError::BadSyscall(nr)));
            });
        }
    }

    #[test]
    fn a_failed_syscall_fails_on_its_thread_only() {
        if AUDIT_ARCH.is_none() {
            return;
        }
        on_own_thread(|| {
            // SAFETY: nothing run on this thread afterwards needs
            // getppid, and the test code handles its failure.
            unsafe { fail_syscall(libc::SYS_getppid, 4095) }.unwrap();
            // SAFETY: getppid takes no arguments.
            let r = unsafe { libc::syscall(libc::SYS_getppid) };
            assert_eq!(r, -1);
            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(4095));
        });
        // SAFETY: as above.
        assert!(unsafe { libc::syscall(libc::SYS_getppid) } > 0);
    }

    #[test]
    fn a_conditional_fault_fails_only_the_calls_whose_arguments_match() {
        if AUDIT_ARCH.is_none() {
            return;
        }
        on_own_thread(|| {
            // fcntl(fd, F_GETFD) on one fd only, and fcntl(_, F_SETFL) with
            // O_NONBLOCK only: nothing on this thread needs either.
            let a = std::fs::File::open("/dev/null").unwrap();
            let b = std::fs::File::open("/dev/null").unwrap();
            use std::os::fd::AsRawFd;
            let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
            let conds = [
                Arg::Eq {
                    index: 0,
                    value: fa as u32,
                },
                Arg::Eq {
                    index: 1,
                    value: libc::F_GETFD as u32,
                },
            ];
            // SAFETY: only fcntl(fa, F_GETFD) fails, which nothing but the
            // lines below calls.
            unsafe { fail_syscall_if(SYS_FCNTL, &conds, libc::EXDEV) }.unwrap();
            // The command too: the third argument of an F_GETFD is whatever
            // the register held, which may have the bit set.
            let flags = [
                Arg::Eq {
                    index: 1,
                    value: libc::F_SETFL as u32,
                },
                Arg::HasAnyBit {
                    index: 2,
                    mask: libc::O_NONBLOCK as u32,
                },
            ];
            // SAFETY: only an F_SETFL with O_NONBLOCK fails.
            unsafe { fail_syscall_if(SYS_FCNTL, &flags, libc::EL2HLT) }.unwrap();
            let err = || std::io::Error::last_os_error().raw_os_error();
            // SAFETY: fcntl with integer arguments on fds we own.
            unsafe {
                assert_eq!(libc::fcntl(fa, libc::F_GETFD), -1);
                assert_eq!(err(), Some(libc::EXDEV));
                assert!(libc::fcntl(fb, libc::F_GETFD) >= 0, "another fd");
                assert!(libc::fcntl(fa, libc::F_GETFL) >= 0, "another command");
                assert_eq!(libc::fcntl(fb, libc::F_SETFL, libc::O_NONBLOCK), -1);
                assert_eq!(err(), Some(libc::EL2HLT));
                assert_eq!(libc::fcntl(fb, libc::F_SETFL, libc::O_APPEND), 0);
            }
        });
        // Other threads are not filtered.
        let a = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: as above.
        assert!(unsafe { libc::fcntl(a.as_raw_fd(), libc::F_GETFD) } >= 0);
    }

    #[test]
    fn a_skipped_call_returns_zero_and_does_nothing() {
        if AUDIT_ARCH.is_none() {
            return;
        }
        on_own_thread(|| {
            use std::os::fd::AsRawFd;
            let f = std::fs::File::open("/dev/null").unwrap();
            let cond = [Arg::Eq {
                index: 1,
                value: libc::F_SETFL as u32,
            }];
            // SAFETY: only F_SETFL is skipped, which nothing but the lines
            // below calls, and they check its (missing) effect.
            unsafe { skip_syscall_if(SYS_FCNTL, &cond) }.unwrap();
            // SAFETY: fcntl with integer arguments on an fd we own.
            unsafe {
                assert_eq!(
                    libc::fcntl(f.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK),
                    0
                );
                assert_eq!(
                    libc::fcntl(f.as_raw_fd(), libc::F_GETFL) & libc::O_NONBLOCK,
                    0
                );
            }
        });
    }

    #[test]
    fn conditions_on_a_seventh_argument_are_refused() {
        on_own_thread(|| {
            let bad = [Arg::Eq { index: 6, value: 0 }];
            // SAFETY: refused before a filter exists.
            let r = unsafe { fail_syscall_if(libc::SYS_getppid, &bad, libc::EPERM) };
            assert_eq!(r, Err(FaultError::BadSyscall(libc::SYS_getppid)));
            assert!(rustix::process::getppid().is_some());
        });
    }

    #[test]
    fn user_notification_structs_and_requests_are_the_kernels() {
        use std::mem::size_of;
        assert_eq!(size_of::<SeccompNotif>(), size_of::<libc::seccomp_notif>());
        assert_eq!(
            size_of::<SeccompNotifResp>(),
            size_of::<libc::seccomp_notif_resp>()
        );
        // libc types ioctl requests as c_ulong on glibc and c_int on musl.
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        #[allow(clippy::unnecessary_cast)]
        {
            // Compared as the kernel's 32-bit `cmd`: musl's c_int would
            // sign-extend into a u64.
            assert_eq!(
                SECCOMP_IOCTL_NOTIF_RECV,
                libc::SECCOMP_IOCTL_NOTIF_RECV as u32
            );
            assert_eq!(
                SECCOMP_IOCTL_NOTIF_SEND,
                libc::SECCOMP_IOCTL_NOTIF_SEND as u32
            );
        }
        assert_eq!(SECCOMP_RET_USER_NOTIF, libc::SECCOMP_RET_USER_NOTIF);
    }

    #[test]
    fn a_notified_call_waits_until_resumed() {
        if AUDIT_ARCH.is_none() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let resumed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let caller = s.spawn(|| {
                // SAFETY: the other thread reads the listener until this
                // thread's one getppid has been resumed.
                let l = unsafe { notify_on_syscall(libc::SYS_getppid) }.unwrap();
                tx.send(l).unwrap();
                // SAFETY: getppid takes no arguments.
                let r = unsafe { libc::syscall(libc::SYS_getppid) };
                (r, resumed.load(std::sync::atomic::Ordering::SeqCst))
            });
            let l: Listener = rx.recv().unwrap();
            let n = l
                .next(std::time::Duration::from_secs(10))
                .unwrap()
                .expect("the call stops");
            assert_eq!(libc::c_long::from(n.nr), libc::SYS_getppid);
            resumed.store(true, std::sync::atomic::Ordering::SeqCst);
            l.resume(n.id).unwrap();
            let (r, seen) = caller.join().unwrap();
            assert!(seen, "getppid returned before it was resumed");
            // SAFETY: getppid cannot fail on this thread.
            assert_eq!(r, libc::c_long::from(unsafe { libc::getppid() }));
        });
    }

    #[test]
    fn audit_archs_are_the_kernels() {
        // `<linux/audit.h>` (in `linux-raw-sys`'s ptrace module) defines every
        // architecture's value on every architecture.
        use linux_raw_sys::ptrace as k;
        assert_eq!(AUDIT_ARCH_X86_64, k::AUDIT_ARCH_X86_64);
        assert_eq!(AUDIT_ARCH_I386, k::AUDIT_ARCH_I386);
        assert_eq!(AUDIT_ARCH_AARCH64, k::AUDIT_ARCH_AARCH64);
        assert_eq!(AUDIT_ARCH_ARM, k::AUDIT_ARCH_ARM);
        assert_eq!(AUDIT_ARCH_RISCV64, k::AUDIT_ARCH_RISCV64);
        assert_eq!(AUDIT_ARCH_PPC64LE, k::AUDIT_ARCH_PPC64LE);
        assert_eq!(AUDIT_ARCH_PPC64, k::AUDIT_ARCH_PPC64);
        assert_eq!(AUDIT_ARCH_S390X, k::AUDIT_ARCH_S390X);
        assert_eq!(AUDIT_ARCH_LOONGARCH64, k::AUDIT_ARCH_LOONGARCH64);
    }
}
