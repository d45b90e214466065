//! What the crate knows of a path it has looked up once: the kind of file
//! (checked on the fd, never on the path again), the `O_PATH` fd itself,
//! and how much of the path may be a symlink. Shared by the Linux lookups
//! (`path.rs`) and the stubs of other platforms (`path_unsupported.rs`).
// Elsewhere than on Linux nothing resolves a path, so nothing reads these.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::os::fd::OwnedFd;

/// What an `O_PATH` fd refers to, from one `fstat`.
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
    /// The kind as a phrase for error messages ("a FIFO").
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Dir => "a directory",
            Kind::File => "a regular file",
            Kind::Symlink => "a symlink",
            Kind::BlockDevice => "a block device",
            Kind::CharDevice => "a character device",
            Kind::Fifo => "a FIFO",
            Kind::Socket => "a socket",
        }
    }
}

/// A path resolved once: the `O_PATH` fd and what `fstat` said of it.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) fd: OwnedFd,
    pub(crate) kind: Kind,
    /// `st_dev`: the filesystem holding the inode.
    pub(crate) dev: u64,
    /// `st_ino`.
    pub(crate) ino: u64,
    /// `st_rdev`: the device number of a device node.
    pub(crate) rdev: u64,
    /// `st_size` (0 for a block device: see `seek` on an open fd instead).
    pub(crate) size: u64,
}

/// How much of a path may be a symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Follow {
    /// Every component may be a symlink, the last one too (`mount --bind`'s
    /// source, an image path).
    All,
    /// Symlinks are followed except in the last component, which is opened
    /// as itself (`O_NOFOLLOW`), a trailing slash notwithstanding: a mount
    /// target.
    NotLast,
    /// No component may be a symlink (`RESOLVE_NO_SYMLINKS`): `ELOOP`
    /// otherwise (the directory of a mount point being unmounted).
    None,
}
