//! Kernel ABI definitions for the mount API, spelled as in `<linux/mount.h>`.
#![allow(non_camel_case_types)]

/// `struct mount_attr` from `<linux/mount.h>`, as passed to `mount_setattr(2)`
/// and `open_tree_attr(2)`.
///
/// [`MountAttr`](crate::MountAttr) builds one safely; this is the wire form.
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

/// The size of the first (and so far only) version of [`mount_attr`].
pub const MOUNT_ATTR_SIZE_VER0: usize = 32;

/// Mount read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// Ignore suid and sgid bits.
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
/// Disallow access to device special files.
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
/// Disallow program execution.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// The mask of the access-time setting; clear it to change the setting.
pub const MOUNT_ATTR__ATIME: u64 = 0x0000_0070;
/// Update atime relative to mtime/ctime (the default).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
/// Do not update access times.
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
/// Always update access times.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
/// Do not update directory access times.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
/// Id-map the mount with the user namespace in `userns_fd`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// Do not follow symlinks.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// Propagation type: private.
pub const MS_PRIVATE: u64 = 1 << 18;
/// Propagation type: slave.
pub const MS_SLAVE: u64 = 1 << 19;
/// Propagation type: shared.
pub const MS_SHARED: u64 = 1 << 20;
/// Propagation type: unbindable.
pub const MS_UNBINDABLE: u64 = 1 << 17;

/// `open_tree` flag: clone the tree into a new detached mount.
pub const OPEN_TREE_CLONE: u32 = 1;
/// `AT_RECURSIVE`: apply to the whole subtree.
pub const AT_RECURSIVE: u32 = 0x8000;
/// `AT_EMPTY_PATH`: operate on the fd itself.
pub const AT_EMPTY_PATH: u32 = 0x1000;
/// `AT_SYMLINK_NOFOLLOW`: do not follow a final symlink.
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;

/// `move_mount` flag: follow symlinks on the source path.
pub const MOVE_MOUNT_F_SYMLINKS: u32 = 0x0000_0001;
/// `move_mount` flag: the source path may be empty (use the fd).
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x0000_0004;
/// `move_mount` flag: follow symlinks on the target path.
pub const MOVE_MOUNT_T_SYMLINKS: u32 = 0x0000_0010;
/// `move_mount` flag: the target path may be empty (use the fd).
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x0000_0040;

/// Whether this architecture's numbers for the calls added since Linux 5.1
/// are those of the unified table, as on every architecture listed. One
/// whose table is shifted (mips by 4000/5000/6000, alpha by 110, ia64 by
/// 1024) must be checked and added by hand; until then the crate does not
/// build there.
const UNIFIED_TABLE: bool = cfg!(any(
    not(target_os = "linux"),
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "riscv32",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "s390x",
    target_arch = "loongarch64",
));
const _: () = assert!(
    UNIFIED_TABLE,
    "mountfd: the open_tree_attr syscall number for this architecture has not been checked"
);

/// The number of `open_tree_attr(2)` (Linux 6.15): 467 in the unified table.
pub const SYS_OPEN_TREE_ATTR: libc::c_long = 467;

/// The number of `mount_setattr(2)` (Linux 5.12): 442 in the unified table.
pub const SYS_MOUNT_SETATTR: libc::c_long = 442;

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    #[test]
    fn mount_attr_is_ver0_sized() {
        assert_eq!(size_of::<mount_attr>(), MOUNT_ATTR_SIZE_VER0);
        // The alignment of the target's `__u64`: 8, but 4 on i386. The kernel
        // reads the struct by size (copy_struct_from_user in
        // fs/namespace.c), so the alignment only has to be the C one.
        assert_eq!(align_of::<mount_attr>(), align_of::<u64>());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn layout_matches_linux_raw_sys() {
        use linux_raw_sys::general as k;
        use std::mem::offset_of;
        assert_eq!(size_of::<mount_attr>(), size_of::<k::mount_attr>());
        assert_eq!(align_of::<mount_attr>(), align_of::<k::mount_attr>());
        assert_eq!(
            offset_of!(mount_attr, attr_set),
            offset_of!(k::mount_attr, attr_set)
        );
        assert_eq!(
            offset_of!(mount_attr, attr_clr),
            offset_of!(k::mount_attr, attr_clr)
        );
        assert_eq!(
            offset_of!(mount_attr, propagation),
            offset_of!(k::mount_attr, propagation)
        );
        assert_eq!(
            offset_of!(mount_attr, userns_fd),
            offset_of!(k::mount_attr, userns_fd)
        );
        assert_eq!(
            MOUNT_ATTR_SIZE_VER0 as u64,
            u64::from(k::MOUNT_ATTR_SIZE_VER0)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn constants_match_linux_raw_sys() {
        use linux_raw_sys::general as k;
        let pairs: [(u64, u64); 16] = [
            (MOUNT_ATTR_RDONLY, k::MOUNT_ATTR_RDONLY.into()),
            (MOUNT_ATTR_NOSUID, k::MOUNT_ATTR_NOSUID.into()),
            (MOUNT_ATTR_NODEV, k::MOUNT_ATTR_NODEV.into()),
            (MOUNT_ATTR_NOEXEC, k::MOUNT_ATTR_NOEXEC.into()),
            (MOUNT_ATTR__ATIME, k::MOUNT_ATTR__ATIME.into()),
            (MOUNT_ATTR_NOATIME, k::MOUNT_ATTR_NOATIME.into()),
            (MOUNT_ATTR_STRICTATIME, k::MOUNT_ATTR_STRICTATIME.into()),
            (MOUNT_ATTR_NODIRATIME, k::MOUNT_ATTR_NODIRATIME.into()),
            (MOUNT_ATTR_IDMAP, k::MOUNT_ATTR_IDMAP.into()),
            (MOUNT_ATTR_NOSYMFOLLOW, k::MOUNT_ATTR_NOSYMFOLLOW.into()),
            (MS_PRIVATE, k::MS_PRIVATE.into()),
            (MS_SLAVE, k::MS_SLAVE.into()),
            (MS_SHARED, k::MS_SHARED.into()),
            (MS_UNBINDABLE, k::MS_UNBINDABLE.into()),
            (OPEN_TREE_CLONE.into(), k::OPEN_TREE_CLONE.into()),
            (AT_RECURSIVE.into(), k::AT_RECURSIVE.into()),
        ];
        for (i, (ours, theirs)) in pairs.iter().enumerate() {
            assert_eq!(ours, theirs, "constant #{i}");
        }
        assert_eq!(AT_EMPTY_PATH, k::AT_EMPTY_PATH);
        assert_eq!(AT_SYMLINK_NOFOLLOW, k::AT_SYMLINK_NOFOLLOW);
        assert_eq!(MOVE_MOUNT_F_SYMLINKS, k::MOVE_MOUNT_F_SYMLINKS);
        assert_eq!(MOVE_MOUNT_F_EMPTY_PATH, k::MOVE_MOUNT_F_EMPTY_PATH);
        assert_eq!(MOVE_MOUNT_T_SYMLINKS, k::MOVE_MOUNT_T_SYMLINKS);
        assert_eq!(MOVE_MOUNT_T_EMPTY_PATH, k::MOVE_MOUNT_T_EMPTY_PATH);
        assert_eq!(
            SYS_OPEN_TREE_ATTR as i128,
            i128::from(k::__NR_open_tree_attr)
        );
        assert_eq!(SYS_MOUNT_SETATTR as i128, i128::from(k::__NR_mount_setattr));
        assert_eq!(SYS_MOUNT_SETATTR, libc::SYS_mount_setattr);
    }
}
