//! [`Mount`]: an attached mount held by an fd, and the calls that find and
//! remove mounts: [`unmount`], [`unmount_tree`], [`is_mountpoint`].

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use crate::mountinfo::sys;
use crate::{Error, FsContext, MountAttr, MountInfo, Result};

bitflags::bitflags! {
    /// How [`unmount`], [`unmount_tree`] and [`Mount::unmount`] unmount
    /// (`umount2(2)`'s flags). `UMOUNT_NOFOLLOW` is always added: a final
    /// symlink is never followed.
    ///
    /// [`EXPIRE`](Self::EXPIRE) cannot be combined with the others, and
    /// only takes effect on a second call: the first marks an unused mount
    /// as expired and fails with `EAGAIN`, a second one (with no use in
    /// between) unmounts it.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct UnmountFlags: u32 {
        /// `MNT_FORCE`: abort pending requests (NFS, FUSE); the mount may
        /// still be busy.
        const FORCE = 0x1;
        /// `MNT_DETACH`: lazy; detach now, free when no longer busy. The
        /// mount's submounts go with it.
        const DETACH = 0x2;
        /// `MNT_EXPIRE`: see above.
        const EXPIRE = 0x4;
    }
}

impl UnmountFlags {
    fn check(self) -> Result<u32> {
        if self.contains(UnmountFlags::EXPIRE)
            && self.intersects(UnmountFlags::DETACH | UnmountFlags::FORCE)
        {
            return Err(Error::invalid(
                "unmount flags",
                "EXPIRE cannot be combined with DETACH or FORCE",
            ));
        }
        Ok(self.bits())
    }
}

/// An attached mount, held by an fd on its root.
///
/// From [`Mount::open`] (an existing mount point) or from
/// [`DetachedMount::attach`](crate::DetachedMount::attach) (what was just
/// attached). The fd keeps the mount busy: a non-lazy unmount by anyone else
/// fails with `EBUSY` while it is open. Dropping a `Mount` only closes the
/// fd; use [`unmount`](Self::unmount) or
/// [`unmount_on_drop`](Self::unmount_on_drop) to remove it.
#[derive(Debug)]
pub struct Mount(OwnedFd);

impl AsFd for Mount {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl AsRawFd for Mount {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
impl From<Mount> for OwnedFd {
    fn from(m: Mount) -> OwnedFd {
        m.0
    }
}

impl Mount {
    /// Wraps the fd of a mount that was just attached.
    pub(crate) fn from_attached(fd: OwnedFd) -> Mount {
        Mount(fd)
    }

    /// Opens the mount whose root is exactly `path`.
    ///
    /// `path` is looked up once to an `O_PATH` fd, relative to the current
    /// directory if not absolute, its final component not followed (a
    /// symlink is not a mount point, even if it points at one); where
    /// several mounts are stacked on `path`, the topmost is opened. Whether
    /// it is a mount root is `statx`'s `STATX_ATTR_MOUNT_ROOT` (Linux 5.8),
    /// or on older kernels a comparison of its mount id with its parent's.
    ///
    /// # Errors
    ///
    /// [`Error::NotMounted`] if `path` is not a mount point;
    /// [`Error::InvalidInput`] for a path with a NUL byte; [`Error::Os`]
    /// from `open` (`ENOENT`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use mountfd::{Error, Mount};
    ///
    /// let root = Mount::open("/")?;
    /// assert!(matches!(Mount::open("/proc/self"), Err(Error::NotMounted { .. })));
    /// # drop(root); }
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Mount> {
        sys::open_mount_root(path.as_ref()).map(Mount)
    }

    /// `mount_setattr(fd, "", AT_EMPTY_PATH, attr)`—changes this mount's
    /// attributes (and its submounts', with `recursive`): read-only or
    /// read-write, nosuid…, propagation (`Propagation::Shared` with
    /// `recursive` is `mount --make-rshared`).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from `mount_setattr` (`EPERM` to give an id-mapped
    /// mount another map).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("mount-set-attr");
    /// use mountfd::{FsContext, MountAttr, MountFlags, Propagation};
    ///
    /// let m = FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?;
    /// m.set_attr(&MountAttr::new().readonly().propagation(Propagation::Shared), true)?;
    /// let info = m.info()?;
    /// assert!(info.flags.contains(MountFlags::RDONLY));
    /// assert!(info.propagation.shared_group.is_some());
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>.
    #[doc(alias = "mount_setattr")]
    pub fn set_attr(&self, attr: &MountAttr<'_>, recursive: bool) -> Result<()> {
        crate::detached_mount::set_attr_fd(self.0.as_fd(), attr, recursive)
    }

    /// `open_tree_attr(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE, attr)`—a
    /// detached clone of this mount (and its submounts, with `recursive`)
    /// with new attributes; this one stays as it is.
    ///
    /// As [`DetachedMount::try_clone`](crate::DetachedMount::try_clone): a
    /// new id map replaces the mount's own (and applies to the ids on disk),
    /// and before Linux 6.15 the fallback cannot re-map an id-mapped mount.
    ///
    /// # Errors
    ///
    /// As [`DetachedMount::clone_tree_with`](crate::DetachedMount::clone_tree_with)
    /// (`EINVAL` for an unbindable mount).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("mount-try-clone");
    /// # let (a, b) = (dir.join("a"), dir.join("b"));
    /// # std::fs::create_dir_all(&a).unwrap(); std::fs::create_dir_all(&b).unwrap();
    /// use mountfd::{FsContext, MountAttr};
    ///
    /// let m = FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&a)?;
    /// m.try_clone(false, &MountAttr::new().readonly())?.attach(&b)?;
    /// assert!(std::fs::write(b.join("f"), b"x").is_err(), "the clone is read-only");
    /// std::fs::write(a.join("f"), b"x").unwrap();
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "open_tree_attr")]
    pub fn try_clone(&self, recursive: bool, attr: &MountAttr<'_>) -> Result<crate::DetachedMount> {
        crate::detached_mount::clone_with(
            self.0.as_fd(),
            Path::new(""),
            crate::raw::abi::AT_EMPTY_PATH,
            recursive,
            attr,
            None,
        )
    }

    /// `fspick(fd, "", FSPICK_EMPTY_PATH)`—a filesystem context on this
    /// mount's superblock, to change its options with
    /// [`FsContext::set_string`] & co. and apply them with
    /// [`FsContext::reconfigure`] (a remount). The options touch the
    /// superblock, so every mount of the same filesystem sees them.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from `fspick` (`ENOSYS` before Linux 5.2).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("mount-pick");
    /// use mountfd::{FsContext, MountAttr};
    ///
    /// let fs = FsContext::new("tmpfs")?;
    /// fs.set_string("size", "1m")?;
    /// let m = fs.mount(&MountAttr::new())?.attach(&dir)?;
    /// let ctx = m.pick()?;
    /// ctx.set_string("size", "2m")?;
    /// ctx.reconfigure()?;
    /// assert!(m.info()?.superblock_options.contains("size=2048k"));
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/fspick.2.html>.
    #[doc(alias = "fspick")]
    pub fn pick(&self) -> Result<FsContext> {
        let fd = sys::fspick(self.0.as_fd())?;
        let fstype = sys::info_of_fd(self.0.as_fd(), Path::new(""))
            .map(|i| i.fs_type)
            .unwrap_or_default();
        Ok(FsContext::picked(fd, &fstype))
    }

    /// `statmount(2)`—what the kernel says of this mount.
    ///
    /// # Errors
    ///
    /// As [`MountInfo::of`].
    pub fn info(&self) -> Result<MountInfo> {
        sys::info_of_fd(self.0.as_fd(), Path::new(""))
    }

    /// `umount2(2)`—unmounts this mount, and never another.
    ///
    /// No call unmounts by fd, and `umount2` on `/proc/self/fd/N` takes
    /// whatever is mounted on top at that place, not necessarily this mount.
    /// So the mount point is found from the fd, its parent directory opened
    /// without following symlinks, and the mount on top there compared (by
    /// mount id) with this one: if another mount is stacked on it (or it was
    /// moved), [`Error::Covered`] and nothing is unmounted. Otherwise this
    /// handle's fd is closed (it would keep the mount busy: `EBUSY`) and the
    /// name in that parent is unmounted with `UMOUNT_NOFOLLOW`. With
    /// [`UnmountFlags::DETACH`] submounts go with it; without, a mount with
    /// submounts is `EBUSY`.
    ///
    /// A race remains: a mount stacked on this one between the check and the
    /// `umount2` is what gets unmounted. Only a process that may mount there
    /// can cause it.
    ///
    /// # Errors
    ///
    /// [`Error::Covered`] as above; [`Error::InvalidInput`] for flags that
    /// cannot combine; [`Error::Os`] from `umount2` (`EBUSY`, `EPERM`).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("mount-unmount");
    /// use mountfd::{FsContext, MountAttr, UnmountFlags};
    ///
    /// let m = FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?;
    /// m.unmount(UnmountFlags::empty())?;
    /// assert!(!mountfd::is_mountpoint(&dir)?);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "umount2")]
    pub fn unmount(self, flags: UnmountFlags) -> Result<()> {
        let flags = flags.check()?;
        sys::unmount_mount(self.0, flags)
    }

    /// A guard that unmounts this mount (lazily, [`UnmountFlags::DETACH`])
    /// when dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("mount-guard");
    /// use mountfd::{FsContext, MountAttr};
    ///
    /// {
    ///     let _g = FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?.unmount_on_drop();
    ///     assert!(mountfd::is_mountpoint(&dir)?);
    /// }
    /// assert!(!mountfd::is_mountpoint(&dir)?);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use = "dropping the guard unmounts at once"]
    pub fn unmount_on_drop(self) -> MountGuard {
        MountGuard(Some(self))
    }
}

/// Unmounts its [`Mount`] (lazily, `MNT_DETACH`, as [`Mount::unmount`]
/// does) when dropped; errors on drop are ignored. From
/// [`Mount::unmount_on_drop`].
#[derive(Debug)]
pub struct MountGuard(Option<Mount>);

impl MountGuard {
    /// The mount.
    #[must_use]
    pub fn mount(&self) -> &Mount {
        self.0
            .as_ref()
            .expect("a guard holds its mount until dropped")
    }

    /// Unmounts now, with these flags, and reports the result.
    ///
    /// # Errors
    ///
    /// As [`Mount::unmount`].
    pub fn unmount(mut self, flags: UnmountFlags) -> Result<()> {
        self.0
            .take()
            .expect("a guard holds its mount until dropped")
            .unmount(flags)
    }

    /// Disarms the guard: the mount stays.
    #[must_use]
    pub fn into_mount(mut self) -> Mount {
        self.0
            .take()
            .expect("a guard holds its mount until dropped")
    }
}

impl AsFd for MountGuard {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.mount().as_fd()
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            let _ = m.unmount(UnmountFlags::DETACH);
        }
    }
}

/// `umount2(path, flags | UMOUNT_NOFOLLOW)`—unmounts the mount on `path`.
///
/// A final symlink is never followed (a trailing slash notwithstanding);
/// `path` is relative to the current directory if not absolute. Where
/// mounts are stacked, the topmost goes.
///
/// # Errors
///
/// [`Error::NotMounted`] if `path` is not a mount point (never an errno to
/// match a string against); [`Error::InvalidInput`] for a NUL byte or flags
/// that cannot combine; [`Error::Os`] from `umount2` (`EBUSY`, `EPERM`,
/// `ENOENT`, `EAGAIN` for a first [`UnmountFlags::EXPIRE`]).
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("unmount");
/// use mountfd::{Error, FsContext, MountAttr, UnmountFlags};
///
/// FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?;
/// mountfd::unmount(&dir, UnmountFlags::empty())?;
/// let again = mountfd::unmount(&dir, UnmountFlags::empty());
/// assert!(matches!(again, Err(Error::NotMounted { .. })));
/// # Ok::<(), mountfd::Error>(())
/// ```
///
/// See <https://man7.org/linux/man-pages/man2/umount2.2.html>.
#[doc(alias = "umount2")]
#[doc(alias = "umount")]
pub fn unmount(path: impl AsRef<Path>, flags: UnmountFlags) -> Result<()> {
    let flags = flags.check()?;
    sys::unmount(path.as_ref(), flags)
}

/// Unmounts `path` and every mount beneath it, deepest first (`umount -R`);
/// returns how many mounts went.
///
/// The tree is [`mounts_under`](crate::mounts_under)`(path)`. A mount that
/// vanishes meanwhile is skipped; if mounts appear beneath meanwhile and
/// keep the top busy, the tree is listed again (a few times) and they go
/// too.
///
/// # Errors
///
/// [`Error::NotMounted`] if `path` is not a mount point; otherwise as
/// [`unmount`], naming the mount point that failed.
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("unmount-tree");
/// use mountfd::{FsContext, MountAttr, UnmountFlags};
///
/// FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?;
/// std::fs::create_dir(dir.join("a")).unwrap();
/// FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(dir.join("a"))?;
/// assert_eq!(mountfd::unmount_tree(&dir, UnmountFlags::empty())?, 2);
/// # Ok::<(), mountfd::Error>(())
/// ```
pub fn unmount_tree(path: impl AsRef<Path>, flags: UnmountFlags) -> Result<usize> {
    let path = path.as_ref();
    let bits = flags.check()?;
    let mut total = 0;
    for round in 0..4 {
        let tree = match crate::mounts_under(path) {
            Ok(t) => t,
            Err(Error::NotMounted { .. }) if round > 0 => return Ok(total),
            Err(e) => return Err(e),
        };
        let (n, err) = sys::unmount_all(&tree, bits);
        total += n;
        match err {
            None => return Ok(total),
            Some(e) if e.errno() == Some(libc::EBUSY) && round < 3 => continue,
            Some(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Whether `path` is a mount point: the root of a mount (`mountpoint(1)`).
///
/// Right for a bind mount of a directory of the same filesystem (which
/// `st_dev` comparisons miss), for `/`, and for a bind-mounted file. The
/// final component is never followed (a symlink to a mount point is not
/// one). One `statx` (`STATX_ATTR_MOUNT_ROOT`, Linux 5.8); on older
/// kernels, a comparison of the mount ids of `path` and its parent.
///
/// # Errors
///
/// [`Error::InvalidInput`] for an empty path or one with a NUL byte;
/// [`Error::Os`] from `statx` (`ENOENT`, `EACCES`).
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// assert!(mountfd::is_mountpoint("/")?);
/// assert!(mountfd::is_mountpoint("/proc")?);
/// assert!(!mountfd::is_mountpoint("/proc/self")?);
/// # }
/// # Ok::<(), mountfd::Error>(())
/// ```
pub fn is_mountpoint(path: impl AsRef<Path>) -> Result<bool> {
    sys::is_mountpoint(path.as_ref())
}
