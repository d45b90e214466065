//! The lifecycle on platforms without the Linux mount API.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use super::MountInfo;
use crate::{Error, Op, Result};

fn no<T>(op: Op) -> Result<T> {
    Err(Error::Unsupported { op })
}

pub(crate) fn is_mountpoint(_: &Path) -> Result<bool> {
    no(Op::Statx)
}
pub(crate) fn open_mount_root(_: &Path) -> Result<OwnedFd> {
    no(Op::Statx)
}
pub(crate) fn all_mounts() -> Result<Vec<MountInfo>> {
    no(Op::Listmount)
}
pub(crate) fn info_of_fd(_: BorrowedFd<'_>, _: &Path) -> Result<MountInfo> {
    no(Op::Statmount)
}
pub(crate) fn info_of_path(_: &Path) -> Result<MountInfo> {
    no(Op::Statmount)
}
pub(crate) fn mounts_under(_: &Path) -> Result<Vec<MountInfo>> {
    no(Op::Listmount)
}
pub(crate) fn unmount(_: &Path, _: u32) -> Result<()> {
    no(Op::Umount2)
}
pub(crate) fn unmount_all(_: &[MountInfo], _: u32) -> (usize, Option<Error>) {
    (0, Some(Error::Unsupported { op: Op::Umount2 }))
}
pub(crate) fn unmount_mount(_: OwnedFd, _: u32) -> Result<()> {
    no(Op::Umount2)
}
pub(crate) fn unmount_exact(_: OwnedFd, _: u32, _: &Path) -> Result<()> {
    no(Op::Umount2)
}
pub(crate) fn fspick(_: BorrowedFd<'_>) -> Result<OwnedFd> {
    no(Op::Fspick)
}
pub(crate) fn reconfigure(_: BorrowedFd<'_>) -> Result<()> {
    no(Op::FsconfigReconfigure)
}

pub(crate) fn is_detached(_: BorrowedFd<'_>) -> Result<bool> {
    no(Op::Read)
}
