//! [`MountInfo`]: what the kernel says of a mount, from `statmount(2)` or,
//! where that is missing, from `/proc/thread-self/mountinfo`.

pub(crate) mod parse;
#[cfg(target_os = "linux")]
pub(crate) mod sys;
#[cfg(not(target_os = "linux"))]
#[path = "sys_unsupported.rs"]
pub(crate) mod sys;

use std::path::{Path, PathBuf};

use crate::{IdMap, Result};

bitflags::bitflags! {
    /// A mount's per-mount flags (`MOUNT_ATTR_*` as `statmount(2)` reports
    /// them; the same words in `/proc/PID/mountinfo`'s field 6).
    ///
    /// The access-time mode is one of relatime (no flag: the kernel's
    /// default), [`NOATIME`](Self::NOATIME) or
    /// [`STRICTATIME`](Self::STRICTATIME).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MountFlags: u64 {
        /// `MOUNT_ATTR_RDONLY`: read-only.
        const RDONLY = 0x0000_0001;
        /// `MOUNT_ATTR_NOSUID`.
        const NOSUID = 0x0000_0002;
        /// `MOUNT_ATTR_NODEV`.
        const NODEV = 0x0000_0004;
        /// `MOUNT_ATTR_NOEXEC`.
        const NOEXEC = 0x0000_0008;
        /// `MOUNT_ATTR_NOATIME`.
        const NOATIME = 0x0000_0010;
        /// `MOUNT_ATTR_STRICTATIME`.
        const STRICTATIME = 0x0000_0020;
        /// `MOUNT_ATTR_NODIRATIME`.
        const NODIRATIME = 0x0000_0080;
        /// `MOUNT_ATTR_IDMAP`: the mount is id-mapped.
        const IDMAP = 0x0010_0000;
        /// `MOUNT_ATTR_NOSYMFOLLOW`.
        const NOSYMFOLLOW = 0x0020_0000;
    }
}

/// A mount's propagation (`mount_namespaces(7)`): the peer group it shares
/// events with, the one it receives them from, and whether it is
/// unbindable. All `None` and `false`: a private mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MountPropagation {
    /// `shared:N`: the peer group this mount belongs to.
    pub shared_group: Option<u64>,
    /// `master:N`: the peer group this (slave) mount receives events from.
    pub master_group: Option<u64>,
    /// `propagate_from:N`: the closest dominant peer group that is
    /// visible to the caller, where it differs from the master.
    pub propagate_from: Option<u64>,
    /// `unbindable`.
    pub unbindable: bool,
}

/// One mount, as the kernel describes it.
///
/// From `statmount(2)` (Linux 6.8+) where the kernel has it; else from
/// `/proc/thread-self/mountinfo`, which gives the same fields except the id
/// maps (`None` there) and the ids: `id` and `parent_id` are then the old,
/// reusable 32-bit mount ids (mountinfo's fields 1 and 2), not the unique
/// 64-bit ids `statmount` uses. Ids from the two sources are never mixed in
/// one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountInfo {
    /// The mount's id: unique for the life of the system with `statmount`
    /// (`STATX_MNT_ID_UNIQUE`), mountinfo's reusable id in the fallback.
    pub id: u64,
    /// The parent mount's id, of the same kind as `id`.
    pub parent_id: u64,
    /// Where it is mounted, relative to the caller's root; exact bytes.
    pub mount_point: PathBuf,
    /// The directory of its filesystem that is mounted there (`/` for a
    /// whole filesystem, the subdirectory for a bind mount); exact bytes.
    pub root: PathBuf,
    /// The filesystem type (`"tmpfs"`, `"ext4"`), with a FUSE subtype
    /// after a dot as mountinfo shows it (`"fuse.sshfs"`).
    pub fs_type: String,
    /// The source (`"/dev/loop3"`, `"none"`); `None` only where the kernel
    /// reports no source at all.
    pub source: Option<String>,
    /// The per-mount flags.
    pub flags: MountFlags,
    /// Shared, slave, unbindable or private.
    pub propagation: MountPropagation,
    /// The superblock's options as mountinfo's field 11 shows them
    /// (`"rw,size=1024k,mode=755"`): `ro`/`rw` first.
    pub superblock_options: String,
    /// The uid map of an id-mapped mount, in the kernel's extent order
    /// (`STATMOUNT_MNT_UIDMAP`, Linux 6.15+); `None` elsewhere.
    pub uid_map: Option<IdMap>,
    /// The gid map, as `uid_map`.
    pub gid_map: Option<IdMap>,
}

impl MountInfo {
    /// The mount `path` lives on, like `findmnt -T path`.
    ///
    /// `path` is looked up once, its final component not followed (a
    /// symlink is described by the mount it is on), relative to the current
    /// directory if not absolute. `path` need not be a mount point.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a path with a
    /// NUL byte; [`Error::Os`](crate::Error::Os) from `open` (`ENOENT`) or
    /// from `statmount` (`ENOENT` if the mount vanished meanwhile).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// let root = mountfd::MountInfo::of("/")?;
    /// assert_eq!(root.mount_point, std::path::Path::new("/"));
    /// # }
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    ///
    /// See <https://man7.org/linux/man-pages/man2/statmount.2.html>.
    #[doc(alias = "statmount")]
    pub fn of(path: impl AsRef<Path>) -> Result<MountInfo> {
        sys::info_of_path(path.as_ref())
    }

    /// Parses the text of a `/proc/PID/mountinfo` file (`proc_pid_mountinfo(5)`),
    /// such as another process's, one `MountInfo` per well-formed line, in
    /// the file's order; malformed lines (which the kernel never writes) are
    /// skipped.
    ///
    /// Octal escapes (`\040` for a space, `\012` for a newline, ...) are
    /// undone and every other byte kept, so paths come out exactly, non-UTF-8
    /// ones too. The ids are mountinfo's (old, reusable) ones and the id maps
    /// are `None`, as in the fallback of [`mounts`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use mountfd::{MountFlags, MountInfo};
    ///
    /// let text = b"36 35 98:0 /mnt1 /mnt\\0402 ro,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
    /// let m = &MountInfo::parse_mountinfo(text)[0];
    /// assert_eq!(m.mount_point, Path::new("/mnt 2"));
    /// assert_eq!(m.flags, MountFlags::RDONLY | MountFlags::NOATIME);
    /// assert_eq!(m.propagation.master_group, Some(1));
    /// ```
    #[must_use]
    pub fn parse_mountinfo(text: &[u8]) -> Vec<MountInfo> {
        parse::parse(text).into_iter().map(from_line).collect()
    }
}

/// `listmount(2)` + `statmount(2)`—every mount in the caller's mount
/// namespace (the calling thread's), in id order.
///
/// Without `listmount` (before Linux 6.8) the list is read from
/// `/proc/thread-self/mountinfo`, in that file's order. A mount that goes
/// away while the list is read is left out.
///
/// # Errors
///
/// [`Error::Os`](crate::Error::Os) from `listmount`/`statmount` or, in the
/// fallback, from reading `/proc`.
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// let all = mountfd::mounts()?;
/// assert!(all.iter().any(|m| m.mount_point == std::path::Path::new("/")));
/// # }
/// # Ok::<(), mountfd::Error>(())
/// ```
///
/// See <https://man7.org/linux/man-pages/man2/listmount.2.html>.
#[doc(alias = "listmount")]
pub fn mounts() -> Result<Vec<MountInfo>> {
    sys::all_mounts()
}

/// The mount whose root is `path`, then every mount beneath it, at any
/// depth (what `umount -R path` would unmount, `findmnt -R path`).
///
/// `path` is looked up once, its final component not followed. The
/// submounts come in id order (`listmount`'s), or in mountinfo's order in
/// the fallback; use [`MountInfo::parent_id`] for the tree.
///
/// # Errors
///
/// [`Error::NotMounted`](crate::Error::NotMounted) if `path` is not a mount
/// point; otherwise as [`mounts`].
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("mounts-under");
/// use mountfd::{FsContext, MountAttr};
///
/// FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(&dir)?;
/// std::fs::create_dir(dir.join("sub")).unwrap();
/// FsContext::new("tmpfs")?.mount(&MountAttr::new())?.attach(dir.join("sub"))?;
/// let tree = mountfd::mounts_under(&dir)?;
/// assert_eq!(tree.len(), 2);
/// assert_eq!(tree[0].mount_point, dir);
/// # Ok::<(), mountfd::Error>(())
/// ```
pub fn mounts_under(path: impl AsRef<Path>) -> Result<Vec<MountInfo>> {
    sys::mounts_under(path.as_ref())
}

/// Flags of mountinfo's per-mount options field.
pub(crate) fn flags_from_options(opts: &[u8]) -> MountFlags {
    let mut f = MountFlags::empty();
    let mut relatime = false;
    for o in opts.split(|&b| b == b',') {
        match o {
            b"ro" => f |= MountFlags::RDONLY,
            b"nosuid" => f |= MountFlags::NOSUID,
            b"nodev" => f |= MountFlags::NODEV,
            b"noexec" => f |= MountFlags::NOEXEC,
            b"noatime" => f |= MountFlags::NOATIME,
            b"nodiratime" => f |= MountFlags::NODIRATIME,
            b"relatime" => relatime = true,
            b"nosymfollow" => f |= MountFlags::NOSYMFOLLOW,
            b"idmapped" => f |= MountFlags::IDMAP,
            _ => {}
        }
    }
    // `show_mnt_opts` (fs/proc_namespace.c) writes nothing for strictatime.
    if !relatime && !f.contains(MountFlags::NOATIME) {
        f |= MountFlags::STRICTATIME;
    }
    f
}

/// Propagation from mountinfo's optional fields.
pub(crate) fn propagation_from_optional(fields: &[Vec<u8>]) -> MountPropagation {
    let mut p = MountPropagation::default();
    for f in fields {
        let mut kv = f.splitn(2, |&b| b == b':');
        let (k, v) = (kv.next().unwrap_or_default(), kv.next());
        let v = v.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
        match k {
            b"shared" => p.shared_group = v,
            b"master" => p.master_group = v,
            b"propagate_from" => p.propagate_from = v,
            b"unbindable" => p.unbindable = true,
            _ => {}
        }
    }
    p
}

/// An `IdMap` from `statmount`'s `"from to range"` strings.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // statmount is Linux's
pub(crate) fn idmap_from_extents(extents: &[&[u8]]) -> Option<IdMap> {
    let mut maps = Vec::with_capacity(extents.len());
    for e in extents {
        let s = std::str::from_utf8(e).ok()?;
        let mut n = s.split_ascii_whitespace().map(|x| x.parse::<u32>().ok());
        let (from, to, range) = (n.next()??, n.next()??, n.next()??);
        maps.push(crate::IdMapping { from, to, range });
    }
    IdMap::new(maps).ok()
}

/// Bytes as a path, exactly.
pub(crate) fn path_of(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// Builds a `MountInfo` from a parsed mountinfo line.
pub(crate) fn from_line(l: parse::Line) -> MountInfo {
    MountInfo {
        id: l.id,
        parent_id: l.parent_id,
        mount_point: path_of(&l.mount_point),
        root: path_of(&l.root),
        fs_type: String::from_utf8_lossy(&l.fs_type).into_owned(),
        source: Some(String::from_utf8_lossy(&l.source).into_owned()),
        flags: flags_from_options(&l.mount_options),
        propagation: propagation_from_optional(&l.optional),
        superblock_options: String::from_utf8_lossy(&l.super_options).into_owned(),
        uid_map: None,
        gid_map: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_mountinfo_words() {
        assert_eq!(
            flags_from_options(b"ro,nosuid,nodev,noexec,relatime,nosymfollow,idmapped"),
            MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC
                | MountFlags::NOSYMFOLLOW
                | MountFlags::IDMAP
        );
        assert_eq!(flags_from_options(b"rw"), MountFlags::STRICTATIME);
        assert_eq!(flags_from_options(b"rw,noatime"), MountFlags::NOATIME);
    }

    #[test]
    fn flag_values_are_the_uapi_ones() {
        use linux_raw_sys::general as k;
        for (f, v) in [
            (MountFlags::RDONLY, k::MOUNT_ATTR_RDONLY),
            (MountFlags::NOSUID, k::MOUNT_ATTR_NOSUID),
            (MountFlags::NODEV, k::MOUNT_ATTR_NODEV),
            (MountFlags::NOEXEC, k::MOUNT_ATTR_NOEXEC),
            (MountFlags::NOATIME, k::MOUNT_ATTR_NOATIME),
            (MountFlags::STRICTATIME, k::MOUNT_ATTR_STRICTATIME),
            (MountFlags::NODIRATIME, k::MOUNT_ATTR_NODIRATIME),
            (MountFlags::IDMAP, k::MOUNT_ATTR_IDMAP),
            (MountFlags::NOSYMFOLLOW, k::MOUNT_ATTR_NOSYMFOLLOW),
        ] {
            assert_eq!(f.bits(), u64::from(v));
        }
    }

    #[test]
    fn propagation_fields() {
        let p = propagation_from_optional(&[
            b"shared:3".to_vec(),
            b"master:2".to_vec(),
            b"propagate_from:1".to_vec(),
        ]);
        assert_eq!(
            (
                p.shared_group,
                p.master_group,
                p.propagate_from,
                p.unbindable
            ),
            (Some(3), Some(2), Some(1), false)
        );
        assert!(propagation_from_optional(&[b"unbindable".to_vec()]).unbindable);
    }
}
