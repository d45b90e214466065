//! [`DetachedMount`]: a mount held by an fd and not attached anywhere yet.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::path::with_c_path;
use crate::raw::{self, abi};
use crate::{Error, MountAttr, Op, Result, UserNs};

mod attach;
mod replace;

/// A mount that is not attached anywhere yet, held by an fd.
///
/// It comes from [`clone_tree`](Self::clone_tree) and friends (a copy of an
/// existing tree) or from [`FsContext::mount`](crate::FsContext::mount) (a new filesystem). Change its
/// attributes, then [`attach`](Self::attach) it. Dropping it unattached
/// unmounts it: nothing is left behind.
#[derive(Debug)]
pub struct DetachedMount(OwnedFd);
fd_handle!(DetachedMount);

impl DetachedMount {
    /// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE)`—a detached copy of the
    /// mount at `path`.
    ///
    /// With `recursive`, submounts below `path` are copied too
    /// (`AT_RECURSIVE`, like `mount --rbind`). A final symlink in `path` is
    /// followed, as `mount --bind` does.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from `open_tree` (`ENOENT`, `EPERM` without
    /// `CAP_SYS_ADMIN`, `EINVAL` for an unbindable mount).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("clone-tree");
    /// # let (source, target) = (dir.join("source"), dir.join("target"));
    /// # std::fs::create_dir_all(&source).unwrap(); std::fs::create_dir_all(&target).unwrap();
    /// use mountfd::DetachedMount;
    ///
    /// DetachedMount::clone_tree(&source, false)?.attach(&target)?;
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/open_tree.2.html>.
    #[doc(alias = "open_tree")]
    pub fn clone_tree(path: impl AsRef<Path>, recursive: bool) -> Result<Self> {
        let path = path.as_ref();
        let flags = abi::OPEN_TREE_CLONE | if recursive { abi::AT_RECURSIVE } else { 0 };
        with_c_path(path, |c| {
            raw::open_tree(raw::cwd(), c, flags)
                .map(DetachedMount)
                .map_err(|e| Error::sys(Op::OpenTree, e).at(path))
        })
    }

    /// `open_tree_attr(AT_FDCWD, path, OPEN_TREE_CLONE, {MOUNT_ATTR_IDMAP, ns})`—a
    /// detached copy of `path`, id-mapped with `ns`.
    ///
    /// Shorthand for [`clone_tree_with`](Self::clone_tree_with) and
    /// `MountAttr::new().idmap(ns)`; see there for the fallback on older
    /// kernels. On a source that is already id-mapped, `ns`'s map replaces
    /// the source's: it applies to the on-disk ids, not to those the source
    /// shows. The clone keeps the source mount's other flags (read-only
    /// included).
    ///
    /// # Errors
    ///
    /// As [`clone_tree_with`](Self::clone_tree_with).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("clone-idmapped");
    /// # let (source, target) = (dir.join("source"), dir.join("target"));
    /// # std::fs::create_dir_all(&source).unwrap(); std::fs::create_dir_all(&target).unwrap();
    /// use std::os::unix::fs::MetadataExt;
    /// use mountfd::{DetachedMount, IdMap, UserNs};
    ///
    /// let ns = UserNs::from_idmap(&"0:100000:65536".parse::<IdMap>()?)?;
    /// DetachedMount::clone_tree_idmapped(&source, false, &ns)?.attach(&target)?;
    /// // The directory is owned by root on disk, and shows as 100000.
    /// assert_eq!(std::fs::metadata(&target).unwrap().uid(), 100000);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn clone_tree_idmapped(
        path: impl AsRef<Path>,
        recursive: bool,
        ns: &UserNs,
    ) -> Result<Self> {
        DetachedMount::clone_tree_with(path, recursive, &MountAttr::new().idmap(ns))
    }

    /// `open_tree_attr(AT_FDCWD, path, OPEN_TREE_CLONE, attr)`—a detached copy
    /// of `path` with new attributes, in one atomic call.
    ///
    /// With `recursive`, submounts are copied and `attr` applies to each of
    /// them. Only this call can give a new id map to a source that is already
    /// id-mapped: the kernel allows replacing a map only on a fresh clone that
    /// userspace has never seen (`MOUNT_KATTR_IDMAP_REPLACE` in
    /// `fs/namespace.c`).
    ///
    /// A new map **replaces** the source's, it does not stack on it: it
    /// applies to the ids stored on disk, not to the ids the source shows.
    /// On a source id-mapped with `0:100000:65536`, the map `0:2000:65536`
    /// shows root's files as 2000, and `100000:2000:65536` matches no on-disk
    /// id, so every file shows as 65534.
    ///
    /// The clone starts with its source mount's flags: a clone of a
    /// read-only (nosuid, nodev, noexec, …) mount is read-only too unless
    /// `attr` clears it ([`MountAttr::read_write`]).
    ///
    /// On kernels without `open_tree_attr` (before 6.15, `ENOSYS`) this falls
    /// back to `open_tree` followed by `mount_setattr`. That path applies the
    /// same attributes to a fresh source, but **cannot re-map an id-mapped
    /// source**: the kernel refuses with `EPERM`, reported as
    /// [`Error::RemapUnsupported`].
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from `open_tree_attr` (`EINVAL` for a filesystem that
    /// cannot be id-mapped, `EPERM` without the rights for it, `ENOENT`);
    /// [`Error::RemapUnsupported`] as above.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("clone-with");
    /// # let (source, target) = (dir.join("source"), dir.join("target"));
    /// # std::fs::create_dir_all(&source).unwrap(); std::fs::create_dir_all(&target).unwrap();
    /// use mountfd::{DetachedMount, MountAttr};
    ///
    /// let attr = MountAttr::new().readonly().nosuid().nodev();
    /// DetachedMount::clone_tree_with(&source, true, &attr)?.attach(&target)?;
    /// let err = std::fs::write(target.join("f"), b"x").unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>.
    #[doc(alias = "open_tree_attr")]
    pub fn clone_tree_with(
        path: impl AsRef<Path>,
        recursive: bool,
        attr: &MountAttr<'_>,
    ) -> Result<Self> {
        let path = path.as_ref();
        clone_with(raw::cwd(), path, 0, recursive, attr, Some(path))
    }

    /// `open_tree_attr(dir, path, OPEN_TREE_CLONE, attr)`—[`clone_tree_with`](Self::clone_tree_with)
    /// with `path` relative to the directory fd `dir`.
    ///
    /// For callers that hold a directory (or a mount) open rather than a
    /// path on the live system: a container's rootfs, a volume directory
    /// opened once. `path` is resolved from `dir` as `openat` would (an
    /// absolute `path` ignores `dir`; symlinks are followed); `"."` clones the
    /// mount `dir` is on, from `dir`.
    ///
    /// # Errors
    ///
    /// As [`clone_tree_with`](Self::clone_tree_with).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("clone-tree-at");
    /// # std::fs::create_dir_all(dir.join("volumes/db")).unwrap();
    /// # std::fs::create_dir_all(dir.join("target")).unwrap();
    /// use mountfd::{DetachedMount, MountAttr};
    ///
    /// let volumes = std::fs::File::open(dir.join("volumes")).unwrap();
    /// let db = DetachedMount::clone_tree_at(&volumes, "db", false, &MountAttr::new().nodev())?;
    /// db.attach(dir.join("target"))?;
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "open_tree_attr")]
    pub fn clone_tree_at(
        dir: impl AsFd,
        path: impl AsRef<Path>,
        recursive: bool,
        attr: &MountAttr<'_>,
    ) -> Result<Self> {
        let path = path.as_ref();
        clone_with(dir.as_fd(), path, 0, recursive, attr, Some(path))
    }

    /// `open_tree_attr(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE, attr)`—a
    /// fresh clone of this tree with new attributes, this one unchanged.
    ///
    /// The clone is a new detached mount of the same filesystem, with the
    /// attributes of this one changed by `attr`, in one atomic call. That
    /// includes a new id map on a tree that has one already (which
    /// [`set_attr`](Self::set_attr) refuses with `EPERM`): the new map
    /// replaces the old one and applies to the ids on disk. So a filesystem
    /// image mounted detached ([`mount_image`](crate::mount_image)) is
    /// id-mapped, or re-mapped per service, with no staging mount on the live
    /// system. With `recursive`, the submounts of this tree are cloned too.
    ///
    /// Before Linux 6.15 this falls back to `open_tree` + `mount_setattr`,
    /// as [`clone_tree_with`](Self::clone_tree_with) does, which cannot
    /// re-map a tree that is already id-mapped
    /// ([`Error::RemapUnsupported`]).
    ///
    /// # Errors
    ///
    /// As [`clone_tree_with`](Self::clone_tree_with).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("try-clone");
    /// # let (data, a, b) = (dir.join("data"), dir.join("a"), dir.join("b"));
    /// # for d in [&data, &a, &b] { std::fs::create_dir_all(d).unwrap(); }
    /// use std::os::unix::fs::MetadataExt;
    /// use mountfd::{DetachedMount, IdMap, MountAttr, UserNs};
    ///
    /// let base = UserNs::from_idmap(&"0:100000:65536".parse::<IdMap>()?)?;
    /// let service = UserNs::from_idmap(&"0:200000:65536".parse::<IdMap>()?)?;
    /// let tree = DetachedMount::clone_tree_idmapped(&data, false, &base)?;
    /// // A second copy of the same tree with another map; `tree` keeps its own.
    /// let other = tree.try_clone(false, &MountAttr::new().idmap(&service).readonly())?;
    /// tree.attach(&a)?;
    /// other.attach(&b)?;
    /// assert_eq!(std::fs::metadata(&a).unwrap().uid(), 100000);
    /// assert_eq!(std::fs::metadata(&b).unwrap().uid(), 200000);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "open_tree_attr")]
    pub fn try_clone(&self, recursive: bool, attr: &MountAttr<'_>) -> Result<DetachedMount> {
        clone_with(
            self.0.as_fd(),
            Path::new(""),
            abi::AT_EMPTY_PATH,
            recursive,
            attr,
            None,
        )
    }

    /// `mount_setattr(fd, "", AT_EMPTY_PATH, attr)`—changes this mount's
    /// attributes (and its submounts', with `recursive`).
    ///
    /// A mount that is already id-mapped cannot be given another map this
    /// way (`EPERM`); use [`clone_tree_with`](Self::clone_tree_with) on it.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from `mount_setattr`.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("set-attr");
    /// use mountfd::{DetachedMount, MountAttr};
    ///
    /// let tree = DetachedMount::clone_tree(&dir, false)?;
    /// tree.set_attr(&MountAttr::new().noexec().nodev(), false)?;
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "mount_setattr")]
    pub fn set_attr(&self, attr: &MountAttr<'_>, recursive: bool) -> Result<()> {
        set_attr_fd(self.0.as_fd(), attr, recursive)
    }

    /// Makes this mount (and its submounts, with `recursive`) read-only.
    ///
    /// # Errors
    ///
    /// As [`set_attr`](Self::set_attr).
    pub fn set_readonly(&self, recursive: bool) -> Result<()> {
        self.set_attr(&MountAttr::new().readonly(), recursive)
    }

    /// Wraps an fd that the caller knows refers to a detached mount, such
    /// as one from `open_tree(OPEN_TREE_CLONE)` or `fsmount`.
    ///
    /// Nothing is checked: on an fd that is no mount, the calls on the
    /// handle fail with the kernel's errno (`EINVAL`).
    #[must_use]
    pub fn from_fd(fd: OwnedFd) -> DetachedMount {
        DetachedMount(fd)
    }
}

/// `open_tree_attr(dir, path, OPEN_TREE_CLONE | extra [| AT_RECURSIVE],
/// attr)`, with the pre-6.15 fallback; errors name `named`.
pub(crate) fn clone_with(
    dir: BorrowedFd<'_>,
    path: &Path,
    extra: u32,
    recursive: bool,
    attr: &MountAttr<'_>,
    named: Option<&Path>,
) -> Result<DetachedMount> {
    let mut flags = abi::OPEN_TREE_CLONE | extra;
    if recursive {
        flags |= abi::AT_RECURSIVE;
    }
    let name = |e: Error| match named {
        Some(p) => e.at(p),
        None => e,
    };
    with_c_path(path, |c| {
        match raw::open_tree_attr(dir, c, flags, &attr.to_raw().to_bytes()) {
            Ok(fd) => Ok(DetachedMount(fd)),
            // Before Linux 6.15: the two-step clone, which cannot re-map.
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) && cfg!(target_os = "linux") => {
                let tree = raw::open_tree(dir, c, flags)
                    .map(DetachedMount)
                    .map_err(|e| name(Error::sys(Op::OpenTree, e)))?;
                match tree.set_attr(attr, recursive) {
                    Err(e) if attr.is_idmapped() && e.errno() == Some(libc::EPERM) => {
                        Err(Error::RemapUnsupported {
                            path: named.map_or_else(PathBuf::new, Path::to_owned),
                            errno: crate::Errno::from_raw(libc::EPERM),
                        })
                    }
                    Err(e) => Err(name(e)),
                    Ok(()) => Ok(tree),
                }
            }
            Err(e) => Err(Error::sys_io(Op::OpenTreeAttr, named, &e)),
        }
    })
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`: the
/// attribute change of a detached or an attached mount held by `fd`.
pub(crate) fn set_attr_fd(fd: BorrowedFd<'_>, attr: &MountAttr<'_>, recursive: bool) -> Result<()> {
    let flags = if recursive { abi::AT_RECURSIVE } else { 0 };
    raw::mount_setattr(
        fd,
        c"",
        flags | abi::AT_EMPTY_PATH,
        &attr.to_raw().to_bytes(),
    )
    .map_err(|e| Error::sys_io(Op::MountSetattr, None, &e))
}
