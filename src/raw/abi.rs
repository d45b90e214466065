//! The mount API's kernel ABI, as `<linux/mount.h>` spells it.
//!
//! Every value comes from `linux-raw-sys` (the crate rustix is built on),
//! widened to the type `struct mount_attr` gives the field it goes in; only
//! the struct is our own, checked at compile time against the kernel's.
#![allow(non_camel_case_types)]

use linux_raw_sys::general as k;

/// `struct mount_attr` from `<linux/mount.h>`, as passed to `mount_setattr(2)`
/// and `open_tree_attr(2)`.
///
/// `mountfd::MountAttr` builds one safely; this is the wire form.
/// It is the crate's own type rather than `linux_raw_sys::general::mount_attr`
/// because it is public and compared, hashed and defaulted; its layout is
/// checked against that one when the crate compiles.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct mount_attr {
    /// `MOUNT_ATTR_*` flags to set.
    pub attr_set: u64,
    /// `MOUNT_ATTR_*` flags to clear.
    pub attr_clr: u64,
    /// One of `MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED`, `MS_UNBINDABLE`, or 0.
    pub propagation: u64,
    /// A user-namespace fd, read when `MOUNT_ATTR_IDMAP` is in `attr_set`.
    pub userns_fd: u64,
}

impl mount_attr {
    /// The struct as the bytes [`open_tree_attr`](super::open_tree_attr)
    /// and [`mount_setattr`](super::mount_setattr) pass to the kernel.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; MOUNT_ATTR_SIZE_VER0] {
        let mut out = [0u8; MOUNT_ATTR_SIZE_VER0];
        let fields = [
            self.attr_set,
            self.attr_clr,
            self.propagation,
            self.userns_fd,
        ];
        for (chunk, field) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        out
    }
}

// The layout must be the kernel's: it is copied in by size
// (`copy_struct_from_user` in `mount_setattr`, fs/namespace.c).
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<mount_attr>() == size_of::<k::mount_attr>());
    assert!(size_of::<mount_attr>() == MOUNT_ATTR_SIZE_VER0);
    assert!(align_of::<mount_attr>() == align_of::<k::mount_attr>());
    assert!(offset_of!(mount_attr, attr_set) == offset_of!(k::mount_attr, attr_set));
    assert!(offset_of!(mount_attr, attr_clr) == offset_of!(k::mount_attr, attr_clr));
    assert!(offset_of!(mount_attr, propagation) == offset_of!(k::mount_attr, propagation));
    assert!(offset_of!(mount_attr, userns_fd) == offset_of!(k::mount_attr, userns_fd));
};

/// The size of the first (and so far only) version of [`mount_attr`].
pub const MOUNT_ATTR_SIZE_VER0: usize = k::MOUNT_ATTR_SIZE_VER0 as usize;

/// Mount read-only.
pub const MOUNT_ATTR_RDONLY: u64 = k::MOUNT_ATTR_RDONLY as u64;
/// Ignore suid and sgid bits.
pub const MOUNT_ATTR_NOSUID: u64 = k::MOUNT_ATTR_NOSUID as u64;
/// Disallow access to device special files.
pub const MOUNT_ATTR_NODEV: u64 = k::MOUNT_ATTR_NODEV as u64;
/// Disallow program execution.
pub const MOUNT_ATTR_NOEXEC: u64 = k::MOUNT_ATTR_NOEXEC as u64;
/// The mask of the access-time setting; clear it to change the setting.
pub const MOUNT_ATTR__ATIME: u64 = k::MOUNT_ATTR__ATIME as u64;
/// Update atime relative to mtime/ctime (the default).
pub const MOUNT_ATTR_RELATIME: u64 = k::MOUNT_ATTR_RELATIME as u64;
/// Do not update access times.
pub const MOUNT_ATTR_NOATIME: u64 = k::MOUNT_ATTR_NOATIME as u64;
/// Always update access times.
pub const MOUNT_ATTR_STRICTATIME: u64 = k::MOUNT_ATTR_STRICTATIME as u64;
/// Do not update directory access times.
pub const MOUNT_ATTR_NODIRATIME: u64 = k::MOUNT_ATTR_NODIRATIME as u64;
/// Id-map the mount with the user namespace in `userns_fd`.
pub const MOUNT_ATTR_IDMAP: u64 = k::MOUNT_ATTR_IDMAP as u64;
/// Do not follow symlinks.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = k::MOUNT_ATTR_NOSYMFOLLOW as u64;

/// Propagation type: private.
pub const MS_PRIVATE: u64 = k::MS_PRIVATE as u64;
/// Propagation type: slave.
pub const MS_SLAVE: u64 = k::MS_SLAVE as u64;
/// Propagation type: shared.
pub const MS_SHARED: u64 = k::MS_SHARED as u64;
/// Propagation type: unbindable.
pub const MS_UNBINDABLE: u64 = k::MS_UNBINDABLE as u64;

/// `open_tree` flag: clone the tree into a new detached mount.
pub const OPEN_TREE_CLONE: u32 = k::OPEN_TREE_CLONE;
/// `AT_RECURSIVE`: apply to the whole subtree.
pub const AT_RECURSIVE: u32 = k::AT_RECURSIVE;
/// `AT_EMPTY_PATH`: operate on the fd itself.
pub const AT_EMPTY_PATH: u32 = k::AT_EMPTY_PATH;
/// `AT_SYMLINK_NOFOLLOW`: do not follow a final symlink.
pub const AT_SYMLINK_NOFOLLOW: u32 = k::AT_SYMLINK_NOFOLLOW;

/// `move_mount` flag: follow symlinks on the source path.
pub const MOVE_MOUNT_F_SYMLINKS: u32 = k::MOVE_MOUNT_F_SYMLINKS;
/// `move_mount` flag: the source path may be empty (use the fd).
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = k::MOVE_MOUNT_F_EMPTY_PATH;
/// `move_mount` flag: follow symlinks on the target path.
pub const MOVE_MOUNT_T_SYMLINKS: u32 = k::MOVE_MOUNT_T_SYMLINKS;
/// `move_mount` flag: the target path may be empty (use the fd).
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = k::MOVE_MOUNT_T_EMPTY_PATH;

/// The number of `open_tree_attr(2)` (Linux 6.15): 467 in the unified
/// table, shifted on mips and alpha.
#[cfg(target_os = "linux")]
pub const SYS_OPEN_TREE_ATTR: libc::c_long = k::__NR_open_tree_attr as libc::c_long;

/// The number of `mount_setattr(2)` (Linux 5.12): 442 in the unified table.
#[cfg(target_os = "linux")]
pub const SYS_MOUNT_SETATTR: libc::c_long = k::__NR_mount_setattr as libc::c_long;
