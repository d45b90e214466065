//! Attaching a [`DetachedMount`]: on a path, on a name in a directory fd,
//! or on a path resolved inside a root (a container's rootfs, or another
//! detached tree: assembly).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::DetachedMount;
use crate::mountinfo::sys;
use crate::path;
use crate::raw;
use crate::{Error, Op, Result};

impl DetachedMount {
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
}
