//! Fault injection for tests: a seccomp filter on the calling thread that
//! makes one system call, or one ioctl request, fail with a chosen errno.
//!
//! A filter installed without `SECCOMP_FILTER_FLAG_TSYNC` binds only the
//! thread that installs it (`seccomp(2)`), so a test can make its own thread
//! look like an old kernel (`ENOSYS` for `open_tree_attr`, `EINVAL` for
//! `LOOP_CONFIGURE`) while the rest of the process is unaffected. Filters
//! cannot be removed: run the faulty part on a thread of its own.

use crate::{Error, Result};

// Classic BPF opcodes (`<linux/filter.h>`).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const BPF_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

// Offsets in `struct seccomp_data`: nr, arch, instruction_pointer, args[6].
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
#[cfg(target_endian = "little")]
const OFF_ARG1_LOW: u32 = 16 + 8;
#[cfg(target_endian = "big")]
const OFF_ARG1_LOW: u32 = 16 + 8 + 4;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

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

fn install(prog: &[libc::sock_filter]) -> Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr().cast_mut(),
    };
    if !super::is_root() {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(Error::os("prctl(PR_SET_NO_NEW_PRIVS)", super::last_errno()));
        }
    }
    // SAFETY: `fprog` points to `prog`, which the kernel copies during the call.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(Error::os("prctl(PR_SET_SECCOMP)", super::last_errno()));
    }
    Ok(())
}

fn arch() -> Result<u32> {
    AUDIT_ARCH.ok_or(Error::Unsupported {
        op: "seccomp fault injection on this architecture",
    })
}

/// Makes system call `nr` fail with `errno` on the calling thread, for the
/// rest of its life.
pub(crate) fn fail_syscall(nr: libc::c_long, errno: i32) -> Result<()> {
    let prog = [
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(arch()?, 0, 3),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jeq(nr as u32, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_ERRNO | (errno as u32 & 0xffff)),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    install(&prog)
}

/// Makes `ioctl(_, request, ..)` fail with `errno` on the calling thread,
/// for the rest of its life.
pub(crate) fn fail_ioctl(request: u32, errno: i32) -> Result<()> {
    let prog = [
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(arch()?, 0, 5),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jeq(libc::SYS_ioctl as u32, 0, 3),
        stmt(BPF_LD_W_ABS, OFF_ARG1_LOW),
        jeq(request, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_ERRNO | (errno as u32 & 0xffff)),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    install(&prog)
}

/// Kills the calling thread, or any process it creates from now on (filters
/// are inherited), the moment it makes system call `nr`.
pub(crate) fn kill_on_syscall(nr: libc::c_long) -> Result<()> {
    let prog = [
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(arch()?, 0, 3),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jeq(nr as u32, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_KILL_THREAD),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    install(&prog)
}
