//! The loop device ioctls (`<linux/loop.h>`), each one call on an fd the
//! caller opened. Which device to take, retries, the pre-5.8 fallback and
//! the check of the result are `LoopDevice`'s.
//!
//! The request numbers are plain `0x4Cxx` values from `linux-raw-sys`, the
//! same on every architecture.

use std::os::fd::{AsRawFd, BorrowedFd};

use linux_raw_sys::loop_device::{self as k, loop_config, loop_info64};
use rustix::ioctl::{ioctl, Getter, Opcode, Setter};

use super::mount::ioctl_int;
use super::Result;

const fn op(request: u32) -> Opcode {
    request as Opcode
}

/// `ioctl(loop-control, LOOP_CTL_GET_FREE)`: the number of an unbound
/// device, created on the spot if there is none.
pub(crate) fn ctl_get_free(ctl: BorrowedFd<'_>) -> Result<u32> {
    ioctl_int::<{ op(k::LOOP_CTL_GET_FREE) }>(ctl, 0).map(|n| n as u32)
}

/// `ioctl(dev, LOOP_CONFIGURE, cfg)` (Linux 5.8+).
pub(crate) fn configure(dev: BorrowedFd<'_>, cfg: loop_config) -> Result<()> {
    // SAFETY: LOOP_CONFIGURE reads a `loop_config` (`copy_from_user` of
    // exactly its size), which `Setter` passes a pointer to.
    unsafe {
        ioctl(
            dev,
            Setter::<{ op(k::LOOP_CONFIGURE) }, loop_config>::new(cfg),
        )
    }
}

/// `ioctl(dev, LOOP_SET_FD, backing)`.
pub(crate) fn set_fd(dev: BorrowedFd<'_>, backing: BorrowedFd<'_>) -> Result<()> {
    let fd = backing.as_raw_fd() as usize;
    ioctl_int::<{ op(k::LOOP_SET_FD) }>(dev, fd).map(drop)
}

/// `ioctl(dev, LOOP_SET_STATUS64, info)`.
pub(crate) fn set_status64(dev: BorrowedFd<'_>, info: loop_info64) -> Result<()> {
    // SAFETY: LOOP_SET_STATUS64 reads a `loop_info64`.
    unsafe {
        ioctl(
            dev,
            Setter::<{ op(k::LOOP_SET_STATUS64) }, loop_info64>::new(info),
        )
    }
}

/// `ioctl(dev, LOOP_GET_STATUS64, &info)`.
pub(crate) fn get_status64(dev: BorrowedFd<'_>) -> Result<loop_info64> {
    // SAFETY: LOOP_GET_STATUS64 fills in a whole `loop_info64`
    // (`copy_to_user` of exactly its size).
    unsafe {
        ioctl(
            dev,
            Getter::<{ op(k::LOOP_GET_STATUS64) }, loop_info64>::new(),
        )
    }
}

/// `ioctl(dev, LOOP_SET_BLOCK_SIZE, size)`.
pub(crate) fn set_block_size(dev: BorrowedFd<'_>, size: u32) -> Result<()> {
    ioctl_int::<{ op(k::LOOP_SET_BLOCK_SIZE) }>(dev, size as usize).map(drop)
}

/// `ioctl(dev, LOOP_SET_DIRECT_IO, on)`.
pub(crate) fn set_direct_io(dev: BorrowedFd<'_>, on: bool) -> Result<()> {
    ioctl_int::<{ op(k::LOOP_SET_DIRECT_IO) }>(dev, on as usize).map(drop)
}

/// `ioctl(dev, LOOP_CLR_FD)`. While someone else still has the device open
/// (a mounted filesystem), the kernel only marks it autoclear and unbinds
/// it on the last close (`loop_clr_fd` in `drivers/block/loop.c`).
pub(crate) fn clr_fd(dev: BorrowedFd<'_>) -> Result<()> {
    ioctl_int::<{ op(k::LOOP_CLR_FD) }>(dev, 0).map(drop)
}

/// `ioctl(dev, BLKSSZGET)`: the logical block size.
pub(crate) fn block_size(dev: BorrowedFd<'_>) -> Result<u32> {
    rustix::fs::ioctl_blksszget(dev)
}

/// `open(path, flags | O_CLOEXEC)` of a device node.
pub(crate) fn open_dev(path: &std::path::Path, write: bool) -> Result<std::os::fd::OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    let flags = if write {
        OFlags::RDWR
    } else {
        // Read-only and non-blocking is enough for LOOP_GET_STATUS64, and a
        // read-only open never makes udev rescan the device when it is
        // closed (udev watches for a close after writing).
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY
    };
    open(path, flags | OFlags::CLOEXEC, Mode::empty())
}

/// `flock(fd, LOCK_EX)`, retried on `EINTR`.
pub(crate) fn lock_exclusive(fd: BorrowedFd<'_>) -> Result<()> {
    loop {
        match rustix::fs::flock(fd, rustix::fs::FlockOperation::LockExclusive) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r,
        }
    }
}
