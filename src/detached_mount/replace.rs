//! Swapping a [`DetachedMount`] in for what is mounted on a target, in one
//! step (`MOVE_MOUNT_BENEATH`, Linux 6.5).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::DetachedMount;
use crate::mountinfo::sys;
use crate::raw::{self, abi};
use crate::{Error, Op, Result};

impl DetachedMount {
    /// `move_mount(MOVE_MOUNT_BENEATH)` under the mount on `target`, then a
    /// lazy unmount of that mount—swaps what is mounted on `target` for this
    /// tree in one step, and returns the old tree, detached.
    ///
    /// A process that opens a path under `target` meanwhile sees the old
    /// tree or the new one, never the directory beneath both nor an error:
    /// the new mount is put under the old one (at the same place, Linux
    /// 6.5+), then the old one is taken off, which reveals the new one.
    ///
    /// `target` must be a mount point; where mounts are stacked there, the
    /// topmost is the one replaced. Before anything changes, the old tree
    /// (with its submounts) is cloned (`open_tree(OPEN_TREE_CLONE |
    /// AT_RECURSIVE)`): a lazily unmounted mount cannot be attached again,
    /// so the clone is what is returned, for a rollback
    /// (`old.replace(target)`). An old tree the kernel will not clone (an
    /// unbindable mount) is an error, and nothing is changed. The old top
    /// is then unmounted exactly—the mount that was found on `target`, held
    /// by fd, not whatever the path names by then—with whatever is mounted
    /// on or under it, as `umount -l` does.
    ///
    /// The new tree is made while the old one is mounted, and the old one
    /// lives on, lazily unmounted, while a process uses it: an overlay in
    /// the new tree needs upper and work directories of its own (see
    /// [`Overlay::upper`](crate::Overlay::upper)).
    ///
    /// Dropping the returned tree unmounts it, which costs what any
    /// unmount costs (the kernel waits for an RCU grace period); a caller
    /// that wants no rollback uses
    /// [`replace_discarding_old`](Self::replace_discarding_old), which
    /// takes no clone.
    ///
    /// # Errors
    ///
    /// [`Error::NotMounted`] if `target` is not a mount point;
    /// [`Error::KernelTooOld`] before Linux 6.5 (no `MOVE_MOUNT_BENEATH`);
    /// [`Error::Os`] from `open_tree` (`EINVAL` for an unbindable old tree),
    /// `move_mount` (`EINVAL` beneath the namespace's root or the caller's
    /// root, or a kind mismatch) or `umount2` (after which both trees stay
    /// mounted, the new one beneath the old).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("replace");
    /// use mountfd::{FsContext, MountAttr};
    ///
    /// let v1 = FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?;
    /// std::fs::write(dir.join("version"), b"1").unwrap();
    /// let v2 = FsContext::new("tmpfs")?.mount(&MountAttr::new())?;
    /// let old = v2.replace(&dir)?;
    /// assert!(!dir.join("version").exists(), "the new tmpfs is on top");
    /// // Roll back: the old tree, kept as a clone, swapped in again.
    /// old.replace(&dir)?;
    /// assert_eq!(std::fs::read(dir.join("version")).unwrap(), b"1");
    /// # drop(v1);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/move_mount.2.html>.
    #[doc(alias = "MOVE_MOUNT_BENEATH")]
    pub fn replace(self, target: impl AsRef<Path>) -> Result<DetachedMount> {
        let target = target.as_ref();
        let top = sys::open_mount_root(target)?;
        let old = raw::open_tree(
            top.as_fd(),
            c"",
            abi::OPEN_TREE_CLONE | abi::AT_RECURSIVE | abi::AT_EMPTY_PATH,
        )
        .map(DetachedMount)
        .map_err(|e| Error::sys(Op::OpenTree, e).at(target))?;
        self.swap_beneath(top, target)?;
        Ok(old)
    }

    /// `move_mount(MOVE_MOUNT_BENEATH)` under the mount on `target`, then a
    /// lazy unmount of that mount—the atomic swap of
    /// [`replace`](Self::replace), keeping no copy of the old tree.
    ///
    /// A reader of `target` sees the old tree or the new one, never neither.
    /// The old tree is gone once its last user lets go of it (a process
    /// with a file open in it keeps it, as after `umount -l`). Returns the
    /// new tree's handle, attached at `target`.
    ///
    /// This is the bare swap: the same system calls as a hand-written one
    /// (`move_mount` and `umount2`), plus the `O_PATH` lookup and mount-root
    /// check of `target`. [`replace`](Self::replace)'s rollback clone costs
    /// one more unmount when it is dropped.
    ///
    /// # Errors
    ///
    /// As [`replace`](Self::replace), less the clone's.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("replace-discarding");
    /// use mountfd::{FsContext, MountAttr};
    ///
    /// FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?;
    /// std::fs::write(dir.join("version"), b"1").unwrap();
    /// let v2 = FsContext::new("tmpfs")?.mount(&MountAttr::new())?;
    /// let mounted = v2.replace_discarding_old(&dir)?;
    /// assert!(!dir.join("version").exists(), "the new tmpfs is on top");
    /// assert_eq!(mounted.info()?.fs_type, "tmpfs");
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/move_mount.2.html>.
    #[doc(alias = "MOVE_MOUNT_BENEATH")]
    pub fn replace_discarding_old(self, target: impl AsRef<Path>) -> Result<crate::Mount> {
        let target = target.as_ref();
        let top = sys::open_mount_root(target)?;
        self.swap_beneath(top, target)
    }

    /// Attaches this tree beneath `top` (the root of the mount on top at
    /// `target`), then lazily unmounts `top` itself.
    fn swap_beneath(self, top: OwnedFd, target: &Path) -> Result<crate::Mount> {
        match raw::move_mount_beneath(self.0.as_fd(), top.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == libc::EINVAL && !raw::move_mount_knows_beneath() => {
                return Err(Error::KernelTooOld {
                    what: "MOVE_MOUNT_BENEATH",
                    version: "6.5",
                    errno: crate::Errno::from_raw(libc::EINVAL),
                });
            }
            Err(e) => return Err(Error::sys(Op::MoveMount, e).at(target)),
        }
        // `self` is attached now: its fd is the new tree's handle.
        let new = crate::Mount::from_attached(self.0);
        sys::unmount_exact(top, crate::UnmountFlags::DETACH.bits(), target)?;
        Ok(new)
    }
}
