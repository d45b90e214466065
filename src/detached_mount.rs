//! [`DetachedMount`]: a mount held by an fd and not attached anywhere yet.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::mountinfo::sys;
use crate::path::{self, with_c_path};
use crate::raw::{self, abi};
use crate::{Error, MountAttr, Op, Result, UserNs};

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

    /// `move_mount(fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH |
    /// MOVE_MOUNT_T_EMPTY_PATH)`—attaches the mount on `target` and returns
    /// it as a [`Mount`](crate::Mount) (the same fd, no further call).
    ///
    /// `target` is resolved to an `O_PATH` fd, checked on that fd, and the
    /// mount goes on that same fd: what was checked is what is mounted on. Symlinks before the
    /// final component are followed (`/var/run` → `/run`); the final
    /// component never is, even with a trailing slash, and a symlink there is
    /// refused. (The kernel itself refuses a *directory* mount on a symlink,
    /// but attaches a *file* mount over one, covering the link.)
    ///
    /// The target must exist and be of the same kind as the mount's root (a
    /// directory for a directory, a non-directory for a file); the kernel
    /// refuses a mismatch with `EINVAL`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the final component is a symlink;
    /// [`Error::Os`] from `open` (`ENOENT`, `ENOTDIR` for a trailing slash on
    /// a non-directory) or from `move_mount` (`EINVAL` for a kind mismatch).
    ///
    /// # Examples
    ///
    /// See [`clone_tree`](Self::clone_tree).
    ///
    /// See <https://man7.org/linux/man-pages/man2/move_mount.2.html>.
    #[doc(alias = "move_mount")]
    pub fn attach(self, target: impl AsRef<Path>) -> Result<crate::Mount> {
        self.attach_at(raw::cwd(), target)
    }

    /// `move_mount(fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH |
    /// MOVE_MOUNT_T_EMPTY_PATH)`—attaches the mount on `name`, looked up
    /// relative to the directory fd `dir`.
    ///
    /// `name` is resolved as in [`attach`](Self::attach), to an fd, with its
    /// final component not followed. A caller that must not follow any
    /// symlink opens each directory down to the target's parent itself
    /// (for example with `openat2(RESOLVE_NO_SYMLINKS)`) and passes the
    /// parent here with a single-component `name`. To attach on the
    /// directory `dir` itself, pass `"."`.
    ///
    /// # Errors
    ///
    /// As [`attach`](Self::attach).
    pub fn attach_at(self, dir: impl AsFd, name: impl AsRef<Path>) -> Result<crate::Mount> {
        let name = name.as_ref();
        let target = path::mount_target(dir.as_fd(), name)?;
        raw::move_mount_onto(self.0.as_fd(), target.as_fd())
            .map_err(|e| Error::sys(Op::MoveMount, e).at(name))?;
        // The fd now refers to the attached mount's root.
        Ok(crate::Mount::from_attached(self.0))
    }

    /// `openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, then
    /// `move_mount(fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH |
    /// MOVE_MOUNT_T_EMPTY_PATH)`—attaches the mount on `path` looked up as
    /// if `root` were `/`.
    ///
    /// For a target inside a container's root filesystem, which its owner
    /// may have filled with hostile symlinks (the runc CVE-2024-21626 class):
    /// every symlink in `path`, absolute or climbing with `..`, is resolved
    /// inside `root` and never leads out of it (a container's
    /// `/var/run -> /run` works, `/proc/self/root` or `../../..` stay in
    /// `root`), `/proc/*/fd` and `/proc/*/root` links are refused (`ELOOP`),
    /// and the mount goes on the very fd that was found. A final symlink is
    /// followed (inside `root`) for a directory mount; for a mount of a file
    /// it is refused, as in [`attach`](Self::attach), since the kernel would
    /// mount the file over the link itself.
    ///
    /// **Assembly.** `root` may be a detached tree itself (Linux 6.15+): the
    /// mount then becomes part of that tree, off the live system, and the
    /// whole tree—image root, volumes, overlays—appears at once, complete,
    /// with one [`attach`](Self::attach) of `root`, or vanishes without a
    /// trace if `root` is dropped unattached. The returned [`Mount`](crate::Mount)
    /// is then a mount inside that detached tree. Older kernels refuse a
    /// target in a detached tree (`EINVAL`, `check_mnt` in fs/namespace.c);
    /// that is [`Error::KernelTooOld`], never a silent non-atomic
    /// substitute.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a final symlink under a file mount or a
    /// target of the wrong kind (a directory for a file, or the reverse);
    /// [`Error::Os`] from `openat2` (`ENOENT`, `ELOOP` for a magic link,
    /// `EAGAIN` when concurrent renames kept racing the lookup, after a few
    /// tries; `ENOSYS` before Linux 5.6) or `move_mount`; [`Error::KernelTooOld`] as above.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("attach-in");
    /// # let rootfs = dir.join("rootfs");
    /// # std::fs::create_dir_all(rootfs.join("run")).unwrap();
    /// # std::fs::create_dir_all(rootfs.join("var")).unwrap();
    /// # std::os::unix::fs::symlink("/run", rootfs.join("var/run")).unwrap();
    /// use mountfd::{FsContext, MountAttr};
    ///
    /// let root = std::fs::File::open(&rootfs).unwrap();
    /// let tmp = FsContext::new("tmpfs")?.mount(&MountAttr::new())?;
    /// // /var/run -> /run, resolved inside the rootfs: lands on rootfs/run.
    /// tmp.attach_in(&root, "/var/run")?;
    /// assert!(mountfd::is_mountpoint(rootfs.join("run"))?);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// Assembling a tree detached, then attaching it in one step:
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("assemble");
    /// use mountfd::{FsContext, MountAttr};
    ///
    /// let root = FsContext::new("tmpfs")?.mount(&MountAttr::new())?;
    /// let data = FsContext::new("tmpfs")?.mount(&MountAttr::new())?;
    /// // Create /data inside the detached root and put the volume on it.
    /// data.attach_in_creating(&root, "/data")?;
    /// root.attach(&dir)?;
    /// assert!(mountfd::is_mountpoint(dir.join("data"))?);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/openat2.2.html>.
    #[doc(alias = "RESOLVE_IN_ROOT")]
    pub fn attach_in(self, root: impl AsFd, path: impl AsRef<Path>) -> Result<crate::Mount> {
        let path = path.as_ref();
        let root = root.as_fd();
        let dir_mount = self.root_is_dir()?;
        let target = path::resolve_in_root(root, path, dir_mount)?;
        self.attach_resolved(root, target.as_fd(), path)
    }

    /// [`attach_in`](Self::attach_in), creating the final component of
    /// `path` first if it is missing: a directory (mode 0755 less the
    /// umask) for a mount of a directory, an empty file (0644 less the
    /// umask) for a mount of a file.
    ///
    /// The parent is resolved inside `root` exactly as `attach_in` resolves
    /// the target, and the name is created relative to that parent's fd
    /// (`mkdirat`, or `openat(O_CREAT | O_EXCL | O_NOFOLLOW)`), so what is
    /// created is inside `root` too. Whatever is already there is left as
    /// it is (and judged as `attach_in` judges it).
    ///
    /// # Errors
    ///
    /// As [`attach_in`](Self::attach_in); [`Error::InvalidInput`] for a
    /// `path` that does not end in a name (`"/"`, `".."`); [`Error::Os`] from
    /// `mkdirat` or `open` (`ENOENT` for a missing parent, `EROFS`).
    ///
    /// # Examples
    ///
    /// See [`attach_in`](Self::attach_in).
    pub fn attach_in_creating(
        self,
        root: impl AsFd,
        path: impl AsRef<Path>,
    ) -> Result<crate::Mount> {
        let path = path.as_ref();
        let root = root.as_fd();
        let dir_mount = self.root_is_dir()?;
        path::create_in_root(root, path, dir_mount)?;
        let target = path::resolve_in_root(root, path, dir_mount)?;
        self.attach_resolved(root, target.as_fd(), path)
    }

    /// Whether this mount's root is a directory (else a file mount).
    fn root_is_dir(&self) -> Result<bool> {
        path::is_dir(self.0.as_fd())
    }

    /// `move_mount` onto `target`, found under `root`; an `EINVAL` for a
    /// `root` outside the caller's namespace (a detached tree) is a kernel
    /// that cannot assemble.
    fn attach_resolved(
        self,
        root: BorrowedFd<'_>,
        target: BorrowedFd<'_>,
        path: &Path,
    ) -> Result<crate::Mount> {
        match raw::move_mount_onto(self.0.as_fd(), target) {
            Ok(()) => Ok(crate::Mount::from_attached(self.0)),
            Err(e)
                if e.raw_os_error() == libc::EINVAL && sys::is_detached(root).unwrap_or(false) =>
            {
                Err(Error::KernelTooOld {
                    what: "attaching a mount inside a detached tree (assembly)",
                    version: "6.15",
                    errno: crate::Errno::from_raw(libc::EINVAL),
                })
            }
            Err(e) => Err(Error::sys(Op::MoveMount, e).at(path)),
        }
    }

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
