//! [`FsContext`]: a new filesystem being configured, `fsopen` to `fsmount`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use crate::path::with_c_path;
use crate::raw;
use crate::{DetachedMount, Error, MountAttr, Op, Result};

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
fd_handle!(FsContext);

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
    #[doc(alias = "FSCONFIG_CMD_RECONFIGURE")]
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
        raw::fs::fsopen(fstype)
            .map(|fd| FsContext(fd, fstype.into()))
            .map_err(|e| Error::sys(Op::Fsopen, e).in_fs(fstype))
    }

    /// Wraps an fd that the caller knows refers to a filesystem context
    /// opened (with `fsopen`) for `fstype`, which errors then name.
    ///
    /// Nothing is checked: on an fd that is no context, the calls on the
    /// handle fail with the kernel's errno (`EINVAL`).
    #[must_use]
    pub fn from_fd(fd: OwnedFd, fstype: &str) -> FsContext {
        FsContext(fd, fstype.into())
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
        raw::fs::set_flag(self.0.as_fd(), key)
            .map_err(|e| self.error(Op::FsconfigSetFlag, Some(key), e))
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
        raw::fs::set_string(self.0.as_fd(), key, value)
            .map_err(|e| self.error(Op::FsconfigSetString, Some(key), e))
    }

    /// `fsconfig(FSCONFIG_SET_FD, key, fd)`—passes an fd, such as a block
    /// device for `source`.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with the kernel's message if the filesystem rejects it.
    pub fn set_fd(&self, key: &str, fd: impl AsFd) -> Result<()> {
        check_key(key)?;
        raw::fs::set_fd(self.0.as_fd(), key, fd.as_fd())
            .map_err(|e| self.error(Op::FsconfigSetFd, Some(key), e))
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
        with_c_path(path, |c| {
            raw::fs::set_path(self.0.as_fd(), key, c)
                .map_err(|e| self.error(Op::FsconfigSetPath, Some(key), e).at(path))
        })
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
        raw::fs::create(self.0.as_fd()).map_err(|e| self.error(Op::FsconfigCreate, None, e))?;
        let fd = raw::fs::fsmount(self.0.as_fd(), attr.fsmount_flags())
            .map_err(|e| self.error(Op::Fsmount, None, e))?;
        let mnt = DetachedMount::from_fd(fd);
        if attr.needs_setattr_after_fsmount() {
            mnt.set_attr(attr, false)?;
        }
        Ok(mnt)
    }
}

impl FsContext {
    /// A failed call on this context: the option it set, if any, the
    /// filesystem type, and what the kernel logged on the context.
    fn error(&self, op: Op, key: Option<&str>, e: raw::Errno) -> Error {
        let err = Error::sys(op, e)
            .in_fs(&self.1)
            .with_kernel_message(raw::fs::read_messages(self.0.as_fd()));
        match key {
            Some(k) => err.for_key(k),
            None => err,
        }
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
