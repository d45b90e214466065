//! Linux implementations of the raw calls.

pub(crate) mod fs;
pub(crate) mod loop_dev;
mod mount;
pub(crate) mod statmount;
mod userns;

pub use mount::*;
pub(crate) use userns::*;

pub(crate) use rustix::io::{Errno, Result};

/// The errno left by the last failed libc call on this thread.
pub(crate) fn last_errno() -> Errno {
    Errno::from_raw_os_error(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// Whether the calling thread has `CAP_SYS_ADMIN` in its effective set, which
/// every mounting call needs (an `EPERM` without it is explained so).
pub(crate) fn has_cap_sys_admin() -> bool {
    rustix::thread::capabilities(None).is_ok_and(|c| {
        c.effective
            .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
    })
}

/// `AT_FDCWD` as a borrowed fd.
pub(crate) fn cwd() -> std::os::fd::BorrowedFd<'static> {
    rustix::fs::CWD
}

/// The system page size: the most `uid_map` text one write may carry, less one.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}
