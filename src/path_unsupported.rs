//! Path resolution on a platform without the Linux mount API: every
//! lookup returns [`Error::Unsupported`].
#![allow(dead_code)]

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use crate::{Error, Op, Result};

fn unsupported<T>(op: Op) -> Result<T> {
    Err(Error::Unsupported { op })
}

pub(crate) use crate::resolved::{Follow, Kind, Resolved};

pub(crate) fn resolve(_: BorrowedFd<'_>, _: &Path, _: Follow) -> Result<Resolved> {
    unsupported(Op::Open)
}
pub(crate) fn stat_resolved(_: OwnedFd, _: &Path) -> Result<Resolved> {
    unsupported(Op::Fstat)
}
pub(crate) fn fd_path(_: BorrowedFd<'_>) -> String {
    String::new()
}
pub(crate) fn reopen(_: &Resolved, _: bool, _: &Path) -> Result<OwnedFd> {
    unsupported(Op::Open)
}

pub(crate) fn with_c_path<T>(
    path: &Path,
    f: impl FnOnce(&std::ffi::CStr) -> Result<T>,
) -> Result<T> {
    use std::os::unix::ffi::OsStrExt;
    match std::ffi::CString::new(path.as_os_str().as_bytes()) {
        Ok(c) => f(&c),
        Err(_) => Err(Error::invalid(
            "path",
            format!("{} contains a NUL byte", path.display()),
        )),
    }
}

pub(crate) fn mount_target(_: BorrowedFd<'_>, _: &Path) -> Result<OwnedFd> {
    unsupported(Op::Open)
}

pub(crate) fn resolve_in_root(_: BorrowedFd<'_>, _: &Path, _: bool) -> Result<OwnedFd> {
    unsupported(Op::Open)
}

pub(crate) fn create_in_root(_: BorrowedFd<'_>, _: &Path, _: bool) -> Result<()> {
    unsupported(Op::Open)
}

pub(crate) fn is_dir(_: BorrowedFd<'_>) -> Result<bool> {
    unsupported(Op::Fstat)
}
