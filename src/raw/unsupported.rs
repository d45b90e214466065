//! The raw calls on a platform without the Linux mount API: each fails with
//! `ENOSYS`, which the crate turns into `Error::Unsupported`,
//! so callers need no `cfg` of their own.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

/// An errno, as `rustix::io::Errno` is on Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Errno(i32);

impl Errno {
    pub(crate) const NOSYS: Errno = Errno(libc::ENOSYS);

    pub(crate) fn raw_os_error(self) -> i32 {
        self.0
    }
}

pub(crate) type Result<T> = std::result::Result<T, Errno>;

fn nosys<T>() -> Result<T> {
    Err(Errno::NOSYS)
}

pub(crate) fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a sentinel the *at calls accept; it is never closed.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

pub(crate) fn page_size() -> usize {
    4096
}

pub(crate) fn has_cap_sys_admin() -> bool {
    false
}

/// `open_tree_attr(2)`: `ENOSYS` here.
///
/// # Errors
///
/// Always `ENOSYS`.
pub fn open_tree_attr(_: BorrowedFd<'_>, _: &CStr, _: u32, _: &[u8]) -> std::io::Result<OwnedFd> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

/// `mount_setattr(2)`: `ENOSYS` here.
///
/// # Errors
///
/// Always `ENOSYS`.
pub fn mount_setattr(_: BorrowedFd<'_>, _: &CStr, _: u32, _: &[u8]) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

pub(crate) fn open_tree(_: BorrowedFd<'_>, _: &CStr, _: u32) -> Result<OwnedFd> {
    nosys()
}

pub(crate) fn move_mount_onto(_: BorrowedFd<'_>, _: BorrowedFd<'_>) -> Result<()> {
    nosys()
}

pub(crate) fn move_mount_beneath(_: BorrowedFd<'_>, _: BorrowedFd<'_>) -> Result<()> {
    nosys()
}

pub(crate) fn move_mount_knows_beneath() -> bool {
    false
}

pub(crate) fn fs_type(_: BorrowedFd<'_>) -> Result<u64> {
    nosys()
}

pub(crate) fn ns_get_nstype(_: BorrowedFd<'_>) -> Result<i32> {
    nosys()
}

pub(crate) mod fs {
    use super::*;

    pub(crate) fn fsopen(_: &str) -> Result<OwnedFd> {
        nosys()
    }
    pub(crate) fn read_messages(_: BorrowedFd<'_>) -> Option<String> {
        None
    }
    pub(crate) fn set_flag(_: BorrowedFd<'_>, _: &str) -> Result<()> {
        nosys()
    }
    pub(crate) fn set_string(_: BorrowedFd<'_>, _: &str, _: &str) -> Result<()> {
        nosys()
    }
    pub(crate) fn set_fd(_: BorrowedFd<'_>, _: &str, _: BorrowedFd<'_>) -> Result<()> {
        nosys()
    }
    pub(crate) fn set_path(_: BorrowedFd<'_>, _: &str, _: &CStr) -> Result<()> {
        nosys()
    }
    pub(crate) fn create(_: BorrowedFd<'_>) -> Result<()> {
        nosys()
    }
    pub(crate) fn fsmount(_: BorrowedFd<'_>, _: u32) -> Result<OwnedFd> {
        nosys()
    }
}

pub(crate) mod loop_dev {
    use std::path::Path;

    use linux_raw_sys::loop_device::{loop_config, loop_info64};

    use super::*;

    pub(crate) fn ctl_get_free(_: BorrowedFd<'_>) -> Result<u32> {
        nosys()
    }
    pub(crate) fn configure(_: BorrowedFd<'_>, _: loop_config) -> Result<()> {
        nosys()
    }
    pub(crate) fn set_fd(_: BorrowedFd<'_>, _: BorrowedFd<'_>) -> Result<()> {
        nosys()
    }
    pub(crate) fn set_status64(_: BorrowedFd<'_>, _: loop_info64) -> Result<()> {
        nosys()
    }
    pub(crate) fn get_status64(_: BorrowedFd<'_>) -> Result<loop_info64> {
        nosys()
    }
    pub(crate) fn set_block_size(_: BorrowedFd<'_>, _: u32) -> Result<()> {
        nosys()
    }
    pub(crate) fn set_direct_io(_: BorrowedFd<'_>, _: bool) -> Result<()> {
        nosys()
    }
    pub(crate) fn clr_fd(_: BorrowedFd<'_>) -> Result<()> {
        nosys()
    }
    pub(crate) fn block_size(_: BorrowedFd<'_>) -> Result<u32> {
        nosys()
    }
    pub(crate) fn open_dev(_: &Path, _: bool) -> Result<OwnedFd> {
        nosys()
    }
    pub(crate) fn lock_exclusive(_: BorrowedFd<'_>) -> Result<()> {
        nosys()
    }
}
