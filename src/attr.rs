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

// Two attributes, not `cfg(all(test, ..))`: cargo-mutants recognises a
// test module by a plain `#[cfg(test)]` and would mutate it otherwise.
#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real user-namespace fd (our own), which `idmap` needs.
    fn own_userns() -> UserNs {
        UserNs::open("/proc/self/ns/user").expect("open /proc/self/ns/user")
    }

    const ALL_FLAGS: u64 = abi::MOUNT_ATTR_RDONLY
        | abi::MOUNT_ATTR_NOSUID
        | abi::MOUNT_ATTR_NODEV
        | abi::MOUNT_ATTR_NOEXEC
        | abi::MOUNT_ATTR_NOSYMFOLLOW
        | abi::MOUNT_ATTR_NODIRATIME;

    fn everything<'a>(attr: MountAttr<'a>) -> MountAttr<'a> {
        attr.readonly()
            .nosuid()
            .nodev()
            .noexec()
            .nosymfollow()
            .nodiratime()
    }

    #[test]
    fn an_access_time_mode_keeps_every_other_flag() {
        for mode in [Atime::Relative, Atime::None, Atime::Strict] {
            let raw = everything(MountAttr::new()).atime(mode).to_raw();
            assert_eq!(raw.attr_set & ALL_FLAGS, ALL_FLAGS, "{mode:?}: {raw:?}");
            assert_eq!(raw.attr_clr & !abi::MOUNT_ATTR__ATIME, 0, "{mode:?}");
        }
        let raw = MountAttr::new().read_write().atime(Atime::None).to_raw();
        assert_eq!(
            raw.attr_clr & abi::MOUNT_ATTR_RDONLY,
            abi::MOUNT_ATTR_RDONLY
        );
    }

    #[test]
    fn idmap_keeps_what_was_set_and_cleared_before() {
        let ns = own_userns();
        let raw = MountAttr::new().read_write().nosuid().idmap(&ns).to_raw();
        assert_eq!(
            raw.attr_clr,
            abi::MOUNT_ATTR_RDONLY,
            "read-write survives idmap"
        );
        assert_eq!(raw.attr_set, abi::MOUNT_ATTR_NOSUID | abi::MOUNT_ATTR_IDMAP);
        assert_eq!(raw.userns_fd, ns.as_raw_fd() as u64);
    }

    #[test]
    fn clear_idmap_keeps_every_other_flag() {
        let ns = own_userns();
        let raw = everything(MountAttr::new())
            .idmap(&ns)
            .propagation(Propagation::Slave)
            .clear_idmap()
            .to_raw();
        assert_eq!(raw.attr_set, ALL_FLAGS);
        assert_eq!(raw.attr_clr, abi::MOUNT_ATTR_IDMAP);
        assert_eq!(raw.propagation, abi::MS_SLAVE);
        assert_eq!(raw.userns_fd, 0);
    }

    #[test]
    fn read_write_and_nodev_and_is_empty() {
        assert!(MountAttr::new().is_empty());
        assert!(!MountAttr::new().read_write().is_empty());
        assert!(!MountAttr::new()
            .propagation(Propagation::Private)
            .is_empty());
        let rw = MountAttr::new().readonly().read_write();
        assert!(!rw.is_readonly());
        assert_eq!(
            (rw.to_raw().attr_set, rw.to_raw().attr_clr),
            (0, abi::MOUNT_ATTR_RDONLY)
        );
        assert_eq!(
            MountAttr::new().nodev().to_raw().attr_set,
            abi::MOUNT_ATTR_NODEV
        );
    }

    #[test]
    fn fsmount_takes_every_flag_but_the_id_map_and_the_rest_follows() {
        let ns = own_userns();
        let plain = everything(MountAttr::new());
        assert_eq!(u64::from(plain.fsmount_flags()), ALL_FLAGS);
        assert!(!plain.needs_setattr_after_fsmount());
        let mapped = plain.idmap(&ns);
        assert_eq!(u64::from(mapped.fsmount_flags()), ALL_FLAGS);
        assert!(mapped.needs_setattr_after_fsmount());
        for p in [
            Propagation::Private,
            Propagation::Slave,
            Propagation::Shared,
            Propagation::Unbindable,
        ] {
            assert!(
                MountAttr::new()
                    .propagation(p)
                    .needs_setattr_after_fsmount(),
                "{p:?} is dropped by fsmount"
            );
        }
    }

    /// One builder call, for the model below.
    #[derive(Clone, Copy, Debug)]
    enum Call {
        Readonly,
        ReadWrite,
        Nosuid,
        Nodev,
        Noexec,
        Nosymfollow,
        Nodiratime,
        Atime(Atime),
        Idmap,
        ClearIdmap,
        Propagation(Propagation),
    }

    fn call() -> impl Strategy<Value = Call> {
        let atime = prop_oneof![
            Just(Atime::Relative),
            Just(Atime::None),
            Just(Atime::Strict)
        ];
        let prop = prop_oneof![
            Just(Propagation::Private),
            Just(Propagation::Slave),
            Just(Propagation::Shared),
            Just(Propagation::Unbindable)
        ];
        prop_oneof![
            Just(Call::Readonly),
            Just(Call::ReadWrite),
            Just(Call::Nosuid),
            Just(Call::Nodev),
            Just(Call::Noexec),
            Just(Call::Nosymfollow),
            Just(Call::Nodiratime),
            atime.prop_map(Call::Atime),
            Just(Call::Idmap),
            Just(Call::ClearIdmap),
            prop.prop_map(Call::Propagation),
        ]
    }

    /// "Last call wins", tracked independently of the builder's bit logic.
    #[derive(Default)]
    struct Model {
        /// Per flag: `Some(true)` set, `Some(false)` cleared, `None` untouched.
        flags: Vec<(u64, bool)>,
        atime: Option<u64>,
        propagation: u64,
        idmap: Option<bool>,
    }

    impl Model {
        fn flag(&mut self, flag: u64, on: bool) {
            self.flags.retain(|(f, _)| *f != flag);
            self.flags.push((flag, on));
        }

        fn expect(&self, ns_fd: u64) -> mount_attr {
            let mut raw = mount_attr::default();
            for &(f, on) in &self.flags {
                if on {
                    raw.attr_set |= f;
                } else {
                    raw.attr_clr |= f;
                }
            }
            if let Some(bits) = self.atime {
                raw.attr_set |= bits;
                raw.attr_clr |= abi::MOUNT_ATTR__ATIME;
            }
            raw.propagation = self.propagation;
            match self.idmap {
                Some(true) => {
                    raw.attr_set |= abi::MOUNT_ATTR_IDMAP;
                    raw.userns_fd = ns_fd;
                }
                Some(false) => raw.attr_clr |= abi::MOUNT_ATTR_IDMAP,
                None => {}
            }
            raw
        }
    }

    proptest! {
        /// Any sequence of builder calls gives exactly what the last-call-wins
        /// model predicts (the same model as the `mount_attr` fuzz target).
        #[test]
        fn any_sequence_of_calls_matches_the_last_call_wins_model(
            calls in proptest::collection::vec(call(), 0..24)
        ) {
            let ns = own_userns();
            let ns_fd = ns.as_raw_fd() as u64;
            let mut attr = MountAttr::new();
            let mut model = Model::default();
            for c in calls {
                attr = match c {
                    Call::Readonly => attr.readonly(),
                    Call::ReadWrite => attr.read_write(),
                    Call::Nosuid => attr.nosuid(),
                    Call::Nodev => attr.nodev(),
                    Call::Noexec => attr.noexec(),
                    Call::Nosymfollow => attr.nosymfollow(),
                    Call::Nodiratime => attr.nodiratime(),
                    Call::Atime(a) => attr.atime(a),
                    Call::Idmap => attr.idmap(&ns),
                    Call::ClearIdmap => attr.clear_idmap(),
                    Call::Propagation(p) => attr.propagation(p),
                };
                match c {
                    Call::Readonly => model.flag(abi::MOUNT_ATTR_RDONLY, true),
                    Call::ReadWrite => model.flag(abi::MOUNT_ATTR_RDONLY, false),
                    Call::Nosuid => model.flag(abi::MOUNT_ATTR_NOSUID, true),
                    Call::Nodev => model.flag(abi::MOUNT_ATTR_NODEV, true),
                    Call::Noexec => model.flag(abi::MOUNT_ATTR_NOEXEC, true),
                    Call::Nosymfollow => model.flag(abi::MOUNT_ATTR_NOSYMFOLLOW, true),
                    Call::Nodiratime => model.flag(abi::MOUNT_ATTR_NODIRATIME, true),
                    Call::Atime(a) => {
                        model.atime = Some(match a {
                            Atime::Relative => abi::MOUNT_ATTR_RELATIME,
                            Atime::None => abi::MOUNT_ATTR_NOATIME,
                            Atime::Strict => abi::MOUNT_ATTR_STRICTATIME,
                        });
                    }
                    Call::Idmap => model.idmap = Some(true),
                    Call::ClearIdmap => model.idmap = Some(false),
                    Call::Propagation(p) => {
                        model.propagation = match p {
                            Propagation::Private => abi::MS_PRIVATE,
                            Propagation::Slave => abi::MS_SLAVE,
                            Propagation::Shared => abi::MS_SHARED,
                            Propagation::Unbindable => abi::MS_UNBINDABLE,
                        };
                    }
                }
                let raw = attr.to_raw();
                prop_assert_eq!(raw, model.expect(ns_fd), "after {:?}", c);
                prop_assert_eq!(attr.is_idmapped(), model.idmap == Some(true));
                prop_assert_eq!(attr.is_readonly(), raw.attr_set & abi::MOUNT_ATTR_RDONLY != 0);
                prop_assert_eq!(attr.is_empty(), raw == mount_attr::default());
                prop_assert_eq!(
                    u64::from(attr.fsmount_flags()),
                    raw.attr_set & !abi::MOUNT_ATTR_IDMAP
                );
            }
        }
    }
}
