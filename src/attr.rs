//! [`MountAttr`]: the attributes of a mount, as `struct mount_attr`.

use std::marker::PhantomData;
use std::os::fd::AsRawFd;

use crate::raw::abi::{self, mount_attr};
use crate::UserNs;

/// A mount's propagation type (`mount_namespaces(7)`).
///
/// See <https://man7.org/linux/man-pages/man7/mount_namespaces.7.html>.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagation {
    /// `MS_PRIVATE`: no events in or out.
    Private,
    /// `MS_SLAVE`: receives events from its master, sends none.
    Slave,
    /// `MS_SHARED`: sends and receives events within its peer group.
    Shared,
    /// `MS_UNBINDABLE`: private, and may not be bind-mounted.
    Unbindable,
}

impl Propagation {
    fn raw(self) -> u64 {
        match self {
            Propagation::Private => abi::MS_PRIVATE,
            Propagation::Slave => abi::MS_SLAVE,
            Propagation::Shared => abi::MS_SHARED,
            Propagation::Unbindable => abi::MS_UNBINDABLE,
        }
    }
}

/// How access times are updated (`MOUNT_ATTR_*ATIME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Atime {
    /// `MOUNT_ATTR_RELATIME`, the kernel's default.
    Relative,
    /// `MOUNT_ATTR_NOATIME`.
    None,
    /// `MOUNT_ATTR_STRICTATIME`.
    Strict,
}

/// `struct mount_attr`—the attributes to set on a mount, built safely.
///
/// Each setter adds to the set; a later setter overrides an earlier one that
/// it contradicts (`readonly()` then `read_write()` is read-write). The
/// builder borrows the [`UserNs`] given to [`idmap`](Self::idmap), so the
/// namespace fd stays open for as long as the attributes can be used.
///
/// Used by [`DetachedMount::clone_tree_with`](crate::DetachedMount::clone_tree_with),
/// [`DetachedMount::set_attr`](crate::DetachedMount::set_attr) and
/// [`FsContext::mount`](crate::FsContext::mount). See `mount_setattr(2)`:
/// <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>.
///
/// # Examples
///
/// ```
/// use mountfd::{MountAttr, Propagation};
///
/// let attr = MountAttr::new().readonly().nosuid().nodev().propagation(Propagation::Private);
/// assert!(attr.is_readonly());
/// let raw = attr.to_raw();
/// assert_eq!(raw.attr_set, mountfd::raw::MOUNT_ATTR_RDONLY
///     | mountfd::raw::MOUNT_ATTR_NOSUID | mountfd::raw::MOUNT_ATTR_NODEV);
/// assert_eq!(raw.propagation, mountfd::raw::MS_PRIVATE);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[doc(alias = "mount_attr")]
pub struct MountAttr<'ns> {
    raw: mount_attr,
    ns: PhantomData<&'ns UserNs>,
}

impl MountAttr<'static> {
    /// No attribute changes: the empty `struct mount_attr`.
    #[must_use]
    pub const fn new() -> Self {
        MountAttr {
            raw: mount_attr {
                attr_set: 0,
                attr_clr: 0,
                propagation: 0,
                userns_fd: 0,
            },
            ns: PhantomData,
        }
    }
}

impl<'ns> MountAttr<'ns> {
    #[must_use]
    fn set(mut self, flag: u64) -> Self {
        self.raw.attr_set |= flag;
        self.raw.attr_clr &= !flag;
        self
    }

    #[must_use]
    fn clear(mut self, flag: u64) -> Self {
        self.raw.attr_clr |= flag;
        self.raw.attr_set &= !flag;
        self
    }

    /// `MOUNT_ATTR_RDONLY`: writes through the mount fail with `EROFS`.
    #[must_use]
    pub fn readonly(self) -> Self {
        self.set(abi::MOUNT_ATTR_RDONLY)
    }

    /// Clears `MOUNT_ATTR_RDONLY`.
    #[must_use]
    pub fn read_write(self) -> Self {
        self.clear(abi::MOUNT_ATTR_RDONLY)
    }

    /// `MOUNT_ATTR_NOSUID`: set-user-id and set-group-id bits are ignored.
    #[must_use]
    pub fn nosuid(self) -> Self {
        self.set(abi::MOUNT_ATTR_NOSUID)
    }

    /// `MOUNT_ATTR_NODEV`: device files cannot be opened.
    #[must_use]
    pub fn nodev(self) -> Self {
        self.set(abi::MOUNT_ATTR_NODEV)
    }

    /// `MOUNT_ATTR_NOEXEC`: programs cannot be executed.
    #[must_use]
    pub fn noexec(self) -> Self {
        self.set(abi::MOUNT_ATTR_NOEXEC)
    }

    /// `MOUNT_ATTR_NOSYMFOLLOW`: symlinks are not followed during lookups.
    #[must_use]
    pub fn nosymfollow(self) -> Self {
        self.set(abi::MOUNT_ATTR_NOSYMFOLLOW)
    }

    /// `MOUNT_ATTR_NODIRATIME`: directory access times are not updated.
    #[must_use]
    pub fn nodiratime(self) -> Self {
        self.set(abi::MOUNT_ATTR_NODIRATIME)
    }

    /// Sets how access times are updated. The kernel takes the access-time
    /// setting as a whole, so this also clears the `MOUNT_ATTR__ATIME` mask.
    #[must_use]
    pub fn atime(mut self, atime: Atime) -> Self {
        let bits = match atime {
            Atime::Relative => abi::MOUNT_ATTR_RELATIME,
            Atime::None => abi::MOUNT_ATTR_NOATIME,
            Atime::Strict => abi::MOUNT_ATTR_STRICTATIME,
        };
        self.raw.attr_set = (self.raw.attr_set & !abi::MOUNT_ATTR__ATIME) | bits;
        self.raw.attr_clr |= abi::MOUNT_ATTR__ATIME;
        self
    }

    /// `MOUNT_ATTR_IDMAP`: id-map the mount with `ns`'s maps.
    ///
    /// An on-disk id `from` shows as `to` through the mount, following the
    /// namespace's `uid_map` and `gid_map`. On a clone of a mount that is
    /// already id-mapped, this map replaces the old one (it is applied to the
    /// ids stored on disk, not to the ids the old map showed); see
    /// [`DetachedMount::clone_tree_with`](crate::DetachedMount::clone_tree_with).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mountfd::{IdMap, MountAttr, UserNs};
    ///
    /// let ns = UserNs::from_idmap(&"0:100000:65536".parse::<IdMap>()?)?;
    /// let attr = MountAttr::new().idmap(&ns).readonly();
    /// assert!(attr.is_idmapped());
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn idmap<'a>(self, ns: &'a UserNs) -> MountAttr<'a>
    where
        'ns: 'a,
    {
        let mut raw = self.raw;
        raw.attr_set |= abi::MOUNT_ATTR_IDMAP;
        raw.attr_clr &= !abi::MOUNT_ATTR_IDMAP;
        raw.userns_fd = ns.as_raw_fd() as u64;
        MountAttr {
            raw,
            ns: PhantomData,
        }
    }

    /// Removes an existing id map (`MOUNT_ATTR_IDMAP` in `attr_clr`).
    ///
    /// The kernel only allows this on a fresh clone, so it takes effect
    /// through [`DetachedMount::clone_tree_with`](crate::DetachedMount::clone_tree_with)
    /// on Linux 6.15+; elsewhere the call fails with `EINVAL`.
    #[must_use]
    pub fn clear_idmap(mut self) -> Self {
        self.raw.attr_set &= !abi::MOUNT_ATTR_IDMAP;
        self.raw.attr_clr |= abi::MOUNT_ATTR_IDMAP;
        self.raw.userns_fd = 0;
        self
    }

    /// Sets the propagation type.
    #[must_use]
    pub fn propagation(mut self, p: Propagation) -> Self {
        self.raw.propagation = p.raw();
        self
    }

    /// Whether [`readonly`](Self::readonly) is set.
    #[must_use]
    pub fn is_readonly(&self) -> bool {
        self.raw.attr_set & abi::MOUNT_ATTR_RDONLY != 0
    }

    /// Whether [`idmap`](Self::idmap) is set.
    #[must_use]
    pub fn is_idmapped(&self) -> bool {
        self.raw.attr_set & abi::MOUNT_ATTR_IDMAP != 0
    }

    /// Whether this changes nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.raw == mount_attr::default()
    }

    /// The attributes as the kernel's `struct mount_attr`.
    #[must_use]
    pub fn to_raw(&self) -> mount_attr {
        self.raw
    }

    /// The subset of the attributes that `fsmount(2)` takes directly: every
    /// flag to set except the id map (`fsmount` has no namespace argument).
    pub(crate) fn fsmount_flags(&self) -> u32 {
        (self.raw.attr_set & !abi::MOUNT_ATTR_IDMAP) as u32
    }

    /// Whether anything is left for `mount_setattr` after `fsmount` applied
    /// [`fsmount_flags`](Self::fsmount_flags).
    pub(crate) fn needs_setattr_after_fsmount(&self) -> bool {
        self.is_idmapped() || self.raw.propagation != 0
    }
}
