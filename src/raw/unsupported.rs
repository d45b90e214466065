//! Every operation on a platform without the Linux mount API: each returns
//! [`Error::Unsupported`], so callers need no `cfg` of their own.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use crate::raw::abi::mount_attr;
use crate::{Error, Op, Result};

fn unsupported<T>(op: Op) -> Result<T> {
    Err(Error::Unsupported { op })
}

pub(crate) fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a sentinel the *at calls accept; it is never closed.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

pub(crate) fn page_size() -> usize {
    4096
}

pub(crate) fn open_tree_attr_missing(_: &Error) -> bool {
    false
}

pub(crate) fn open_tree_attr(
    _: BorrowedFd<'_>,
    _: &Path,
    _: u32,
    _: &mount_attr,
) -> Result<OwnedFd> {
    unsupported(Op::OpenTreeAttr)
}

pub(crate) fn open_tree_clone(_: BorrowedFd<'_>, _: &Path, _: bool) -> Result<OwnedFd> {
    unsupported(Op::OpenTree)
}

pub(crate) fn mount_setattr_fd(_: BorrowedFd<'_>, _: u32, _: &mount_attr) -> Result<(), i32> {
    Err(libc::ENOSYS)
}

pub(crate) fn attach(_: BorrowedFd<'_>, _: BorrowedFd<'_>, _: &Path) -> Result<()> {
    unsupported(Op::MoveMount)
}

pub(crate) fn create_userns(_: &[u8], _: &[u8]) -> Result<OwnedFd> {
    unsupported(Op::CloneUserNs)
}

pub(crate) fn open_userns(_: &Path) -> Result<OwnedFd> {
    unsupported(Op::NsGetNstype)
}

pub(crate) fn check_userns(_: BorrowedFd<'_>) -> Result<()> {
    unsupported(Op::NsGetNstype)
}

pub(crate) mod fs {
    use super::*;

    pub(crate) fn fsopen(_: &str) -> Result<OwnedFd> {
        unsupported(Op::Fsopen)
    }
    pub(crate) fn set_flag(_: BorrowedFd<'_>, _: &str) -> Result<()> {
        unsupported(Op::FsconfigSetString)
    }
    pub(crate) fn set_string(_: BorrowedFd<'_>, _: &str, _: &str) -> Result<()> {
        unsupported(Op::FsconfigSetString)
    }
    pub(crate) fn set_fd(_: BorrowedFd<'_>, _: &str, _: BorrowedFd<'_>) -> Result<()> {
        unsupported(Op::FsconfigSetString)
    }
    pub(crate) fn set_path(_: BorrowedFd<'_>, _: &str, _: &Path) -> Result<()> {
        unsupported(Op::FsconfigSetString)
    }
    pub(crate) fn create_and_mount(_: BorrowedFd<'_>, _: u32) -> Result<OwnedFd> {
        unsupported(Op::Fsmount)
    }
}

// --- loop devices ---

pub(crate) mod loop_dev {
    use std::path::PathBuf;

    use super::*;
    use crate::{LoopOptions, LoopStatus};

    pub(crate) struct Attached {
        pub(crate) fd: OwnedFd,
        pub(crate) number: u32,
        pub(crate) path: PathBuf,
    }

    pub(crate) fn attach(
        _: Option<BorrowedFd<'_>>,
        _: BorrowedFd<'_>,
        _: Option<&Path>,
        _: &LoopOptions,
    ) -> Result<Attached> {
        unsupported(Op::LoopConfigure)
    }
    pub(crate) fn open_control() -> Result<OwnedFd> {
        unsupported(Op::Open)
    }
    pub(crate) fn lock_control(_: BorrowedFd<'_>) -> Result<()> {
        unsupported(Op::Flock)
    }
    pub(crate) fn open_bound(_: u32) -> Result<Option<(OwnedFd, PathBuf, LoopStatus)>> {
        unsupported(Op::LoopGetStatus64)
    }
    pub(crate) fn status(_: BorrowedFd<'_>, _: &Path) -> Result<LoopStatus> {
        unsupported(Op::LoopGetStatus64)
    }
    pub(crate) fn detach(_: BorrowedFd<'_>, _: &Path) -> Result<()> {
        unsupported(Op::LoopClrFd)
    }
}

#[allow(dead_code)]
pub(crate) mod path {
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::path::Path;

    use super::unsupported;
    use crate::{Op, Result};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Kind {
        Dir,
        File,
        Symlink,
        BlockDevice,
        CharDevice,
        Fifo,
        Socket,
    }

    impl Kind {
        pub(crate) fn describe(self) -> &'static str {
            "a file"
        }
    }

    #[derive(Debug)]
    pub(crate) struct Resolved {
        pub(crate) fd: OwnedFd,
        pub(crate) kind: Kind,
        pub(crate) dev: u64,
        pub(crate) ino: u64,
        pub(crate) rdev: u64,
        pub(crate) size: u64,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Follow {
        All,
        NotLast,
        None,
    }

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
}

pub(crate) fn has_cap_sys_admin() -> bool {
    false
}
