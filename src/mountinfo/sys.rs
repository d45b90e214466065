//! The Linux side of the lifecycle: mount ids from `statx`, descriptions
//! from `statmount`/`listmount` with the mountinfo fallback, `umount2`,
//! `fspick`. Safe code on rustix and the `crate::raw` leaf calls.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{statx, AtFlags, Mode, OFlags, StatxAttributes, StatxFlags};
use rustix::io::Errno;

use super::{
    from_line, idmap_from_extents, parse, path_of, MountFlags, MountInfo, MountPropagation,
};
use crate::path::{resolve, with_c_path, Follow, Kind};
use crate::raw::statmount as sm;
use crate::{Error, Op, Result};

/// `STATX_MNT_ID_UNIQUE` (Linux 6.8).
const STATX_MNT_ID_UNIQUE: u32 = 0x4000;

/// A mount id and whether it is the unique 64-bit kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MntId {
    pub(crate) id: u64,
    pub(crate) unique: bool,
}

/// What `statx` says of a path: the mount it is on and, where the kernel
/// reports it (5.8+), whether it is that mount's root.
pub(crate) struct MountStat {
    pub(crate) id: Option<MntId>,
    pub(crate) mount_root: Option<bool>,
}

/// `statx(dir, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | extra,
/// STATX_MNT_ID_UNIQUE)`. `None` where the kernel lacks `statx` (`ENOSYS`).
pub(crate) fn stat_mount(
    dir: BorrowedFd<'_>,
    path: &CStr,
    extra: AtFlags,
    shown: &Path,
) -> Result<Option<MountStat>> {
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT | extra;
    match statx(
        dir,
        path,
        flags,
        StatxFlags::from_bits_retain(STATX_MNT_ID_UNIQUE),
    ) {
        Ok(st) => {
            let mask = st.stx_mask;
            let id = if mask & STATX_MNT_ID_UNIQUE != 0 {
                Some(MntId {
                    id: st.stx_mnt_id,
                    unique: true,
                })
            } else if mask & StatxFlags::MNT_ID.bits() != 0 {
                Some(MntId {
                    id: st.stx_mnt_id,
                    unique: false,
                })
            } else {
                None
            };
            let mount_root = st
                .stx_attributes_mask
                .contains(StatxAttributes::MOUNT_ROOT)
                .then(|| st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT));
            Ok(Some(MountStat { id, mount_root }))
        }
        Err(Errno::NOSYS) => Ok(None),
        Err(e) => Err(Error::sys_at(Op::Statx, Some(shown), e)),
    }
}

/// The old mount id of `fd` from `/proc/thread-self/fdinfo/N` (`mnt_id:`,
/// Linux 3.15), for kernels (or threads) without `statx`.
fn fdinfo_mnt_id(fd: BorrowedFd<'_>) -> Result<MntId> {
    let p = format!("/proc/thread-self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read(&p).map_err(|e| Error::from_io(Op::Read, Some(Path::new(&p)), &e))?;
    text.split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"mnt_id:"))
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok())
        .map(|id| MntId { id, unique: false })
        .ok_or_else(|| Error::invalid("/proc", format!("{p} shows no mnt_id")))
}

/// The mount `fd` is on: `statx`, else fdinfo.
pub(crate) fn mount_id_of(fd: BorrowedFd<'_>, shown: &Path) -> Result<MntId> {
    match stat_mount(fd, c"", AtFlags::EMPTY_PATH, shown)? {
        Some(MountStat { id: Some(id), .. }) => Ok(id),
        _ => fdinfo_mnt_id(fd),
    }
}

/// The old (mountinfo) mount id of `fd`, whatever the kernel has.
fn old_mount_id_of(fd: BorrowedFd<'_>, shown: &Path) -> Result<u64> {
    match statx(
        fd,
        c"",
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::MNT_ID,
    ) {
        Ok(st) if st.stx_mask & StatxFlags::MNT_ID.bits() != 0 => Ok(st.stx_mnt_id),
        Ok(_) | Err(Errno::NOSYS) => fdinfo_mnt_id(fd).map(|m| m.id),
        Err(e) => Err(Error::sys_at(Op::Statx, Some(shown), e)),
    }
}

/// The fallback for kernels without `STATX_ATTR_MOUNT_ROOT` (before 5.8):
/// an object is a mount root if its parent is on another mount, or if it is
/// its own parent (the root of the caller's tree).
///
/// A directory's parent is its `..`, which the kernel resolves across a
/// mount root to the mount point's parent (`follow_dotdot` in fs/namei.c),
/// so it lands on the parent mount. A non-directory has no `..`: its
/// directory is looked up from `path` again and checked to hold the same
/// inode under the last name, or the answer would be about another file.
fn is_mount_root_by_parent(fd: BorrowedFd<'_>, kind: Kind, path: &Path) -> Result<bool> {
    let flags = OFlags::PATH | OFlags::CLOEXEC | OFlags::DIRECTORY;
    let parent: OwnedFd = if kind == Kind::Dir {
        rustix::fs::openat(fd, c"..", flags, Mode::empty())
            .map_err(|e| Error::sys_at(Op::Open, Some(path), e))?
    } else {
        let name = path
            .file_name()
            .ok_or_else(|| Error::invalid("path", format!("{} names no file", path.display())))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let parent = resolve(crate::raw::cwd(), dir, Follow::All)?.fd;
        let child = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::sys_at(Op::Fstat, Some(path), e))?;
        let me = rustix::fs::fstat(fd).map_err(|e| Error::sys_at(Op::Fstat, Some(path), e))?;
        if (child.st_dev, child.st_ino) != (me.st_dev, me.st_ino) {
            return Err(Error::invalid(
                "path",
                format!("{} changed while it was looked at", path.display()),
            ));
        }
        parent
    };
    let (me, up) = (
        old_mount_id_of(fd, path)?,
        old_mount_id_of(parent.as_fd(), path)?,
    );
    if me != up {
        return Ok(true);
    }
    let a = rustix::fs::fstat(fd).map_err(|e| Error::sys_at(Op::Fstat, Some(path), e))?;
    let b = rustix::fs::fstat(&parent).map_err(|e| Error::sys_at(Op::Fstat, Some(path), e))?;
    Ok((a.st_dev, a.st_ino) == (b.st_dev, b.st_ino))
}

/// `path` without trailing slashes (except `/` itself), so that a final
/// symlink is never followed because of one.
fn trimmed(path: &Path) -> &Path {
    let b = path.as_os_str().as_bytes();
    match b.iter().rposition(|&c| c != b'/') {
        Some(end) => Path::new(std::ffi::OsStr::from_bytes(&b[..=end])),
        None => path,
    }
}

/// `is_mountpoint`: one `statx` on the path when the kernel reports
/// `STATX_ATTR_MOUNT_ROOT`; else the parent comparison on an fd.
pub(crate) fn is_mountpoint(path: &Path) -> Result<bool> {
    let p = trimmed(path);
    if p.as_os_str().is_empty() {
        return Err(Error::invalid("path", "the path is empty"));
    }
    let st = with_c_path(p, |c| {
        stat_mount(crate::raw::cwd(), c, AtFlags::empty(), path)
    })?;
    if let Some(MountStat {
        mount_root: Some(root),
        ..
    }) = st
    {
        return Ok(root);
    }
    let r = resolve(crate::raw::cwd(), p, Follow::NotLast)?;
    is_mount_root_by_parent(r.fd.as_fd(), r.kind, p)
}

/// Resolves `path` (final component not followed) to an fd on a mount root,
/// or `NotMounted`.
pub(crate) fn open_mount_root(path: &Path) -> Result<OwnedFd> {
    // One lookup and one `statx`, whose mount-root attribute answers for
    // any kind of file: this is on the path of `replace`, where each call
    // shows against the bare system calls. Only a kernel without the
    // attribute (before 5.8) needs the kind, and `fstat`s for it.
    let fd = crate::path::open_o_path(crate::raw::cwd(), trimmed(path), Follow::NotLast, path)?;
    let (root, fd) = match stat_mount(fd.as_fd(), c"", AtFlags::EMPTY_PATH, path)? {
        Some(MountStat {
            mount_root: Some(root),
            ..
        }) => (root, fd),
        _ => {
            let r = crate::path::stat_resolved(fd, path)?;
            (is_mount_root_by_parent(r.fd.as_fd(), r.kind, path)?, r.fd)
        }
    };
    if !root {
        return Err(Error::NotMounted {
            path: path.to_owned(),
        });
    }
    Ok(fd)
}

// --- statmount ------------------------------------------------------------

/// The mask this crate asks `statmount` for.
const WANTED: u32 = sm::STATMOUNT_SB_BASIC
    | sm::STATMOUNT_MNT_BASIC
    | sm::STATMOUNT_PROPAGATE_FROM
    | sm::STATMOUNT_MNT_ROOT
    | sm::STATMOUNT_MNT_POINT
    | sm::STATMOUNT_FS_TYPE
    | sm::STATMOUNT_MNT_OPTS
    | sm::STATMOUNT_SB_SOURCE
    | sm::STATMOUNT_FS_SUBTYPE;

/// The id maps (6.15), asked for in a second call and only for an
/// id-mapped mount: few mounts are, and every bit costs kernel time on
/// every mount (measured here: the full mask 16 µs per call against 7 µs
/// for `MNT_BASIC | MNT_POINT | FS_TYPE`).
const MAPS: u32 = sm::STATMOUNT_MNT_UIDMAP | sm::STATMOUNT_MNT_GIDMAP;

/// What 6.8's `statmount` knows. `SB_SOURCE` and the maps came in later
/// releases; a kernel that refuses bits it does not know (`EINVAL`) is
/// asked again with this mask, and one that ignores them leaves them out
/// of the returned `mask`, which is checked before any string is read.
const BASE: u32 = sm::STATMOUNT_SB_BASIC
    | sm::STATMOUNT_MNT_BASIC
    | sm::STATMOUNT_PROPAGATE_FROM
    | sm::STATMOUNT_MNT_ROOT
    | sm::STATMOUNT_MNT_POINT
    | sm::STATMOUNT_FS_TYPE
    | sm::STATMOUNT_MNT_OPTS;

/// The mask the kernel accepted last (0: not asked yet). Only narrows on
/// `EINVAL`, which `statmount` returns for an unknown bit.
static MASK: AtomicU64 = AtomicU64::new(0);

/// A reusable statmount buffer, grown on `EOVERFLOW`.
pub(crate) struct Reader {
    buf: Vec<u64>,
}

impl Reader {
    pub(crate) fn new() -> Reader {
        Reader { buf: vec![0; 512] }
    }

    fn raw(&mut self, id: u64, mask: u32) -> std::result::Result<(), Errno> {
        loop {
            match sm::statmount(id, u64::from(mask), &mut self.buf) {
                Err(Errno::OVERFLOW) if self.buf.len() < (1 << 24) => {
                    let n = self.buf.len() * 2;
                    self.buf.resize(n, 0);
                }
                r => return r,
            }
        }
    }

    /// `statmount` of one id: `Ok(None)` if the mount is gone (`ENOENT`);
    /// `Err` with `ENOSYS` where the kernel lacks the call.
    pub(crate) fn info(&mut self, id: u64) -> std::result::Result<Option<MountInfo>, Errno> {
        let mut mask = match MASK.load(Ordering::Relaxed) {
            0 => WANTED,
            m => m as u32,
        };
        loop {
            match self.raw(id, mask) {
                Ok(()) => break,
                Err(Errno::INVAL) if mask != BASE => {
                    mask = BASE;
                    MASK.store(u64::from(mask), Ordering::Relaxed);
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        MASK.store(u64::from(mask), Ordering::Relaxed);
        let mut info = decode(&sm::Statmount::parse(&self.buf));
        if info.flags.contains(MountFlags::IDMAP) {
            match self.raw(id, MAPS) {
                Ok(()) => {
                    let s = sm::Statmount::parse(&self.buf);
                    let map = |v: Option<Vec<&[u8]>>| {
                        v.filter(|v| !v.is_empty())
                            .and_then(|v| idmap_from_extents(&v))
                    };
                    info.uid_map = map(s.uidmap());
                    info.gid_map = map(s.gidmap());
                }
                // Before 6.15 (unknown bits refused), or gone meanwhile: no maps.
                Err(Errno::INVAL) | Err(Errno::NOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(info))
    }
}

// <linux/fs.h> superblock flags, as `show_sb_opts` (fs/proc_namespace.c)
// writes them after ro/rw.
const SB_RDONLY: u32 = 1;
const SB_SYNCHRONOUS: u32 = 16;
const SB_MANDLOCK: u32 = 64;
const SB_DIRSYNC: u32 = 128;
const SB_LAZYTIME: u32 = 1 << 25;

fn decode(s: &sm::Statmount<'_>) -> MountInfo {
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    let h = &s.hdr;
    // mountinfo's field 11: ro/rw and the sb flags, then the filesystem's
    // own options, which is what STATMOUNT_MNT_OPTS holds.
    let mut sbo = String::from(if h.sb_flags & SB_RDONLY != 0 {
        "ro"
    } else {
        "rw"
    });
    for (bit, name) in [
        (SB_SYNCHRONOUS, ",sync"),
        (SB_DIRSYNC, ",dirsync"),
        (SB_MANDLOCK, ",mand"),
        (SB_LAZYTIME, ",lazytime"),
    ] {
        if h.sb_flags & bit != 0 {
            sbo.push_str(name);
        }
    }
    if let Some(o) = s.mnt_opts().filter(|o| !o.is_empty()) {
        sbo.push(',');
        sbo.push_str(&String::from_utf8_lossy(o));
    }
    let prop = h.mnt_propagation;
    let group = |v: u64| (v != 0).then_some(v);
    let master_group = if prop & crate::raw::MS_SLAVE != 0 {
        group(h.mnt_master)
    } else {
        None
    };
    let propagation = MountPropagation {
        shared_group: if prop & crate::raw::MS_SHARED != 0 {
            group(h.mnt_peer_group)
        } else {
            None
        },
        master_group,
        // statmount reports the dominating group even when it is the
        // master; mountinfo (`show_mountinfo` in fs/proc_namespace.c) only
        // where it differs, which is the one worth telling.
        propagate_from: group(h.propagate_from).filter(|&g| Some(g) != master_group),
        unbindable: prop & crate::raw::MS_UNBINDABLE != 0,
    };
    MountInfo {
        id: h.mnt_id,
        parent_id: h.mnt_parent_id,
        mount_point: path_of(s.mnt_point().unwrap_or_default()),
        root: path_of(s.mnt_root().unwrap_or_default()),
        // mountinfo writes `type.subtype` (`show_type` in
        // fs/proc_namespace.c: "fuse.sshfs"); statmount has them apart.
        fs_type: match s.fs_subtype().filter(|t| !t.is_empty()) {
            Some(sub) => format!("{}.{}", text(s.fs_type()), String::from_utf8_lossy(sub)),
            None => text(s.fs_type()),
        },
        source: s
            .sb_source()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        flags: MountFlags::from_bits_truncate(h.mnt_attr),
        propagation,
        superblock_options: sbo,
        // Filled by `Reader::info` for an id-mapped mount.
        uid_map: None,
        gid_map: None,
    }
}

/// `listmount` of everything below `id` (its whole subtree), in batches.
fn list(id: u64) -> std::result::Result<Vec<u64>, Errno> {
    let mut out = Vec::new();
    let mut batch = vec![0u64; 1024];
    let mut last = 0;
    loop {
        let n = sm::listmount(id, last, &mut batch)?;
        out.extend_from_slice(&batch[..n]);
        if n < batch.len() {
            return Ok(out);
        }
        last = batch[n - 1];
    }
}

fn missing(e: Errno) -> bool {
    e == Errno::NOSYS
}

// --- mountinfo fallback ----------------------------------------------------

fn read_mountinfo() -> Result<Vec<parse::Line>> {
    // The thread's own namespace: a thread may have unshared its own.
    let p = Path::new("/proc/thread-self/mountinfo");
    let text = std::fs::read(p).map_err(|e| Error::from_io(Op::Read, Some(p), &e))?;
    Ok(parse::parse(&text))
}

// --- the public operations ------------------------------------------------

pub(crate) fn all_mounts() -> Result<Vec<MountInfo>> {
    match list(sm::LSMT_ROOT as i64 as u64) {
        Ok(ids) => {
            let mut r = Reader::new();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match r.info(id) {
                    Ok(Some(m)) => out.push(m),
                    Ok(None) => {}
                    Err(e) if missing(e) => return fallback_all(),
                    Err(e) => return Err(Error::os(Op::Statmount, e.raw_os_error())),
                }
            }
            Ok(out)
        }
        Err(e) if missing(e) => fallback_all(),
        Err(e) => Err(Error::os(Op::Listmount, e.raw_os_error())),
    }
}

fn fallback_all() -> Result<Vec<MountInfo>> {
    Ok(read_mountinfo()?.into_iter().map(from_line).collect())
}

/// The description of the mount `fd` is on.
pub(crate) fn info_of_fd(fd: BorrowedFd<'_>, shown: &Path) -> Result<MountInfo> {
    let id = mount_id_of(fd, shown)?;
    if id.unique {
        match Reader::new().info(id.id) {
            Ok(Some(m)) => return Ok(m),
            Ok(None) => return Err(Error::os_at(Op::Statmount, shown, libc::ENOENT)),
            Err(e) if missing(e) => {}
            Err(e) => return Err(Error::os_at(Op::Statmount, shown, e.raw_os_error())),
        }
    }
    let old = if id.unique {
        old_mount_id_of(fd, shown)?
    } else {
        id.id
    };
    read_mountinfo()?
        .into_iter()
        .find(|l| l.id == old)
        .map(from_line)
        .ok_or_else(|| Error::os_at(Op::Read, shown, libc::ENOENT))
}

pub(crate) fn info_of_path(path: &Path) -> Result<MountInfo> {
    let r = resolve(crate::raw::cwd(), trimmed(path), Follow::NotLast)?;
    info_of_fd(r.fd.as_fd(), path)
}

pub(crate) fn mounts_under(path: &Path) -> Result<Vec<MountInfo>> {
    // One statx on the path answers both "is it a mount root?" and "which
    // mount?"; the id, not the path, is used from then on. Older kernels
    // take the fd route.
    let p = trimmed(path);
    let st = with_c_path(p, |c| {
        stat_mount(crate::raw::cwd(), c, AtFlags::empty(), path)
    })?;
    if let Some(MountStat {
        id: Some(id @ MntId { unique: true, .. }),
        mount_root: Some(root),
    }) = st
    {
        if !root {
            return Err(Error::NotMounted {
                path: path.to_owned(),
            });
        }
        if let Some(v) = subtree_by_id(id.id, path)? {
            return Ok(v);
        }
    }
    let fd = open_mount_root(path)?;
    mounts_under_fd(fd.as_fd(), path)
}

/// `statmount` of `id`, then `listmount` of its subtree; `None` where the
/// kernel lacks either call.
fn subtree_by_id(id: u64, path: &Path) -> Result<Option<Vec<MountInfo>>> {
    let mut r = Reader::new();
    let top = match r.info(id) {
        Ok(Some(m)) => m,
        Ok(None) => return Err(Error::os_at(Op::Statmount, path, libc::ENOENT)),
        Err(e) if missing(e) => return Ok(None),
        Err(e) => return Err(Error::os_at(Op::Statmount, path, e.raw_os_error())),
    };
    let ids = match list(id) {
        Ok(ids) => ids,
        Err(e) if missing(e) => return Ok(None),
        Err(e) => return Err(Error::os_at(Op::Listmount, path, e.raw_os_error())),
    };
    let mut out = Vec::with_capacity(ids.len() + 1);
    out.push(top);
    for sub in ids {
        match r.info(sub) {
            Ok(Some(m)) => out.push(m),
            // Unmounted since the listing.
            Ok(None) => {}
            Err(e) => return Err(Error::os_at(Op::Statmount, path, e.raw_os_error())),
        }
    }
    Ok(Some(out))
}

pub(crate) fn mounts_under_fd(fd: BorrowedFd<'_>, path: &Path) -> Result<Vec<MountInfo>> {
    let id = mount_id_of(fd, path)?;
    if id.unique {
        if let Some(v) = subtree_by_id(id.id, path)? {
            return Ok(v);
        }
    }
    let old = if id.unique {
        old_mount_id_of(fd, path)?
    } else {
        id.id
    };
    let lines = read_mountinfo()?;
    subtree(lines, old).ok_or_else(|| Error::os_at(Op::Read, path, libc::ENOENT))
}

/// The line with id `top`, then its descendants in the file's order.
fn subtree(lines: Vec<parse::Line>, top: u64) -> Option<Vec<MountInfo>> {
    let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
    for l in &lines {
        if l.id != l.parent_id {
            children.entry(l.parent_id).or_default().push(l.id);
        }
    }
    let mut keep = HashSet::new();
    let mut todo = vec![top];
    while let Some(id) = todo.pop() {
        if keep.insert(id) {
            todo.extend(children.get(&id).into_iter().flatten());
        }
    }
    let mut out: Vec<MountInfo> = Vec::with_capacity(keep.len());
    let mut first = None;
    for l in lines {
        if l.id == top {
            first = Some(from_line(l));
        } else if keep.contains(&l.id) {
            out.push(from_line(l));
        }
    }
    let mut all = vec![first?];
    all.extend(out);
    Some(all)
}

// The unmounting and fspick half, in a file of its own.
#[path = "sys_unmount.rs"]
mod unmount;
pub(crate) use unmount::*;
