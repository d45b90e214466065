//! Typed owned handles: [`UserNs`], [`DetachedMount`], [`FsContext`].

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use crate::raw::{self, abi};
use crate::{Error, IdMap, MountAttr, Op, Result};

macro_rules! fd_handle {
    ($t:ident) => {
        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.as_fd()
            }
        }

        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }

        impl From<$t> for OwnedFd {
            fn from(h: $t) -> OwnedFd {
                h.0
            }
        }
    };
}

/// A user namespace, held open by an fd, used to id-map mounts.
///
/// Its `uid_map` and `gid_map` decide what an id stored on disk shows as
/// through a mount id-mapped with it: on-disk `from` is seen as `to`.
/// The namespace has no process in it; it lives as long as this fd (and any
/// mount id-mapped with it, which keeps its own reference).
///
/// See `user_namespaces(7)`: <https://man7.org/linux/man-pages/man7/user_namespaces.7.html>.
#[derive(Debug)]
pub struct UserNs(OwnedFd);
fd_handle!(UserNs);

impl UserNs {
    /// `clone(CLONE_NEWUSER | CLONE_VM)`—a new user namespace with these maps.
    ///
    /// Works from any process, including one with many threads (where
    /// `unshare(CLONE_NEWUSER)` is refused), runs no helper binary and does
    /// not copy the caller's address space: a child sharing the caller's
    /// memory enters the new namespace, each map is written to it in one
    /// `write()`, the namespace is opened, and the child is killed and reaped
    /// before this returns, on every path. If the caller is killed, exits or
    /// calls `execve` on another thread meanwhile, the child dies with it
    /// (`PR_SET_PDEATHSIG`), holding none of the caller's fds. The maps are
    /// written through the `/proc` that is mounted, to the child as that
    /// `/proc` numbers it. The returned fd is close-on-exec.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if a map's text does not fit the one write the
    /// kernel accepts (a page); [`Error::Os`] if `clone` fails (`EPERM` without
    /// `CAP_SYS_ADMIN`-equivalent rights or inside a chroot, `ENOSPC` at the
    /// `user.max_user_namespaces` limit) or the kernel rejects a map (`EPERM`
    /// when the caller may not map those ids); [`Error::ProcUnusable`] if
    /// the `/proc` mounted in the caller's mount namespace is not procfs or
    /// cannot show the caller's children (it belongs to a pid namespace in
    /// which they are not visible).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::privileged() { return Ok(()); }
    /// use mountfd::{IdMap, UserNs};
    ///
    /// let uids: IdMap = "0:100000:65536".parse()?;
    /// let gids: IdMap = "0:200000:65536".parse()?;
    /// let ns = UserNs::new(&uids, &gids)?;
    /// # drop(ns);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "clone")]
    #[doc(alias = "CLONE_NEWUSER")]
    pub fn new(uid_map: &IdMap, gid_map: &IdMap) -> Result<UserNs> {
        let (mut uid_buf, mut gid_buf) = ([0u8; MAP_BUF], [0u8; MAP_BUF]);
        let (mut uid_heap, mut gid_heap) = (String::new(), String::new());
        let uid_text = proc_text(uid_map, &mut uid_buf, &mut uid_heap);
        // `from_idmap` passes one map twice: format it once.
        let gid_text = if std::ptr::eq(uid_map, gid_map) {
            uid_text
        } else {
            proc_text(gid_map, &mut gid_buf, &mut gid_heap)
        };
        for (which, text) in [("uid map", uid_text), ("gid map", gid_text)] {
            check_fits_one_write(which, text)?;
        }
        raw::create_userns(uid_text, gid_text).map(UserNs)
    }

    /// A user namespace with the same map for uids and gids.
    ///
    /// # Errors
    ///
    /// As [`UserNs::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::privileged() { return Ok(()); }
    /// use mountfd::{IdMap, UserNs};
    ///
    /// let ns = UserNs::from_idmap(&"0:100000:65536".parse::<IdMap>()?)?;
    /// # drop(ns);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn from_idmap(map: &IdMap) -> Result<UserNs> {
        UserNs::new(map, map)
    }

    /// `open(path)`—an existing user namespace, such as `/proc/PID/ns/user`.
    ///
    /// `path` (symlinks and `/proc` magic links followed) is looked up once
    /// with `O_PATH`, which opens nothing, and checked to be a namespace file
    /// (a regular file on nsfs) before that same file is opened read-only
    /// through `/proc/thread-self/fd`: a FIFO does not block, a device's
    /// `open` never runs. `NS_GET_NSTYPE` then checks the namespace's type.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the path cannot be looked up (`ENOENT`, `EACCES`) or
    /// re-opened (without `/proc`); [`Error::InvalidInput`] if it is not a
    /// namespace file, or a namespace of another type.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// let mine = mountfd::UserNs::open("/proc/self/ns/user")?;
    /// assert!(mountfd::UserNs::open("/proc/self/ns/mnt").is_err());
    /// # drop(mine); }
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<UserNs> {
        let path = path.as_ref();
        raw::open_userns(path).map(UserNs)
    }

    /// Wraps an fd that the caller knows refers to a user namespace.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if it is not a user namespace.
    pub fn from_fd(fd: OwnedFd) -> Result<UserNs> {
        raw::check_userns(fd.as_fd())?;
        Ok(UserNs(fd))
    }
}

/// Big enough for any map the kernel accepts on a 4 KiB-page system.
const MAP_BUF: usize = 4096;

/// `map` as `/proc/PID/uid_map` text: in `buf` (no allocation) when it
/// fits, which any map the kernel accepts does on 4 KiB pages, else in `heap`.
fn proc_text<'a>(map: &IdMap, buf: &'a mut [u8; MAP_BUF], heap: &'a mut String) -> &'a [u8] {
    match map.write_proc_map(buf) {
        Some(n) => &buf[..n],
        None => {
            *heap = map.to_proc_map();
            heap.as_bytes()
        }
    }
}

/// `map_write` takes a map in one write of less than a page.
fn check_fits_one_write(which: &'static str, text: &[u8]) -> Result<()> {
    let page = raw::page_size();
    if text.len() >= page {
        return Err(Error::invalid(
            "id map",
            format!(
                "the {which} is {} bytes as text; the kernel takes at most {} in its one write",
                text.len(),
                page - 1
            ),
        ));
    }
    Ok(())
}

/// A mount that is not attached anywhere yet, held by an fd.
///
/// It comes from [`clone_tree`](Self::clone_tree) and friends (a copy of an
/// existing tree) or from [`FsContext::mount`] (a new filesystem). Change its
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
        raw::open_tree_clone(raw::cwd(), path.as_ref(), recursive).map(DetachedMount)
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
        let raw_attr = attr.to_raw();
        let mut flags = abi::OPEN_TREE_CLONE;
        if recursive {
            flags |= abi::AT_RECURSIVE;
        }
        match raw::open_tree_attr(raw::cwd(), path, flags, &raw_attr) {
            Err(e) if raw::open_tree_attr_missing(&e) => {
                let tree = DetachedMount::clone_tree(path, recursive)?;
                match tree.set_attr(attr, recursive) {
                    Err(e) if attr.is_idmapped() && e.errno() == Some(libc::EPERM) => {
                        Err(Error::RemapUnsupported {
                            path: path.to_owned(),
                            errno: crate::Errno::from_raw(libc::EPERM),
                        })
                    }
                    Err(e) => Err(e.at(path)),
                    Ok(()) => Ok(tree),
                }
            }
            r => r.map(DetachedMount),
        }
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
        let flags = if recursive { abi::AT_RECURSIVE } else { 0 };
        raw::mount_setattr_fd(self.0.as_fd(), flags, &attr.to_raw())
            .map_err(|errno| Error::os(Op::MountSetattr, errno))
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
    pub fn attach_at(self, dir: BorrowedFd<'_>, name: impl AsRef<Path>) -> Result<crate::Mount> {
        raw::attach(self.0.as_fd(), dir, name.as_ref())?;
        // The fd now refers to the attached mount's root.
        Ok(crate::Mount::from_attached(self.0))
    }
}

/// A filesystem context: `fsopen` → `fsconfig`… → `fsmount`.
///
/// Configure the new filesystem with [`set_flag`](Self::set_flag),
/// [`set_string`](Self::set_string) and [`set_fd`](Self::set_fd), then
/// [`mount`](Self::mount) it into a [`DetachedMount`]. When the kernel
/// refuses, the error carries what the filesystem logged on the context
/// ([`Error::kernel_message`]).
///
/// See <https://man7.org/linux/man-pages/man2/fsopen.2.html>.
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("fs-context");
/// use mountfd::{FsContext, MountAttr};
///
/// let fs = FsContext::new("tmpfs")?;
/// fs.set_string("size", "1m")?;
/// fs.set_string("mode", "0755")?;
/// fs.mount(&MountAttr::new().nodev())?.attach(&dir)?;
/// # Ok::<(), mountfd::Error>(())
/// ```
#[derive(Debug)]
pub struct FsContext(OwnedFd, Box<str>);
impl AsFd for FsContext {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl From<FsContext> for OwnedFd {
    fn from(c: FsContext) -> OwnedFd {
        c.0
    }
}

impl FsContext {
    /// A context `fspick` returned for a mount of `fstype`.
    pub(crate) fn picked(fd: OwnedFd, fstype: &str) -> FsContext {
        FsContext(fd, fstype.into())
    }

    /// `fsconfig(FSCONFIG_CMD_RECONFIGURE)`—applies the options set on a
    /// context from [`Mount::pick`](crate::Mount::pick) to the live
    /// superblock: a remount (`ro`, `size=` of a tmpfs, ...).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with the kernel's message (a tmpfs too small for what
    /// it holds: "Too small a size for current use"); `EINVAL` on a
    /// context from [`FsContext::new`], which has no superblock yet.
    ///
    /// # Examples
    ///
    /// See [`Mount::pick`](crate::Mount::pick).
    pub fn reconfigure(self) -> Result<()> {
        crate::mountinfo::sys::reconfigure(self.0.as_fd()).map_err(|e| e.in_fs(&self.1))
    }

    /// `fsopen(fstype, FSOPEN_CLOEXEC)`—a new context for a filesystem type.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty name or one with a NUL, `/` or
    /// white space; [`Error::Os`] with `ENODEV` for a type the kernel does
    /// not know.
    #[doc(alias = "fsopen")]
    pub fn new(fstype: &str) -> Result<Self> {
        if fstype.is_empty()
            || fstype
                .bytes()
                .any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace())
        {
            return Err(Error::invalid(
                "fstype",
                format!("{fstype:?} is not a filesystem type name"),
            ));
        }
        raw::fs::fsopen(fstype).map(|fd| FsContext(fd, fstype.into()))
    }

    /// The filesystem type this context was opened for.
    #[must_use]
    pub fn fstype(&self) -> &str {
        &self.1
    }

    /// `fsconfig(FSCONFIG_SET_FLAG, key)`—sets a flag option such as `ro`.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with the kernel's message if the filesystem rejects it.
    #[doc(alias = "fsconfig")]
    pub fn set_flag(&self, key: &str) -> Result<()> {
        check_key(key)?;
        raw::fs::set_flag(self.0.as_fd(), key).map_err(|e| e.in_fs(&self.1))
    }

    /// `fsconfig(FSCONFIG_SET_STRING, key, value)`—sets a string option.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with the kernel's message if the filesystem rejects it.
    pub fn set_string(&self, key: &str, value: &str) -> Result<()> {
        check_key(key)?;
        if value.contains('\0') {
            return Err(Error::invalid(
                "fsconfig value",
                format!("{value:?} contains a NUL byte"),
            ));
        }
        raw::fs::set_string(self.0.as_fd(), key, value).map_err(|e| e.in_fs(&self.1))
    }

    /// `fsconfig(FSCONFIG_SET_FD, key, fd)`—passes an fd, such as a block
    /// device for `source`.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with the kernel's message if the filesystem rejects it.
    pub fn set_fd(&self, key: &str, fd: BorrowedFd<'_>) -> Result<()> {
        check_key(key)?;
        raw::fs::set_fd(self.0.as_fd(), key, fd).map_err(|e| e.in_fs(&self.1))
    }

    /// `fsconfig(FSCONFIG_SET_PATH, key, path)`—passes a path resolved by
    /// the kernel, such as an overlay layer.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with the kernel's message if the filesystem rejects it.
    pub fn set_path(&self, key: &str, path: impl AsRef<Path>) -> Result<()> {
        check_key(key)?;
        let path = path.as_ref();
        raw::fs::set_path(self.0.as_fd(), key, path).map_err(|e| e.in_fs(&self.1).at(path))
    }

    /// `fsconfig(FSCONFIG_CMD_CREATE)` + `fsmount`—creates the filesystem and
    /// returns it as a detached mount with `attr` applied.
    ///
    /// Flags go straight to `fsmount`; an id map and a propagation type,
    /// which `fsmount` cannot take, are applied with `mount_setattr` on the
    /// new mount before it is returned.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with the kernel's message (for example a filesystem
    /// that finds no superblock, or `ENOTBLK` for a block filesystem given a
    /// regular file as `source`).
    #[doc(alias = "fsmount")]
    pub fn mount(self, attr: &MountAttr<'_>) -> Result<DetachedMount> {
        let fd = raw::fs::create_and_mount(self.0.as_fd(), attr.fsmount_flags())
            .map_err(|e| e.in_fs(&self.1))?;
        let mnt = DetachedMount(fd);
        if attr.needs_setattr_after_fsmount() {
            mnt.set_attr(attr, false)?;
        }
        Ok(mnt)
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.contains('\0') {
        return Err(Error::invalid(
            "fsconfig key",
            format!("{key:?} is not an option name"),
        ));
    }
    Ok(())
}
