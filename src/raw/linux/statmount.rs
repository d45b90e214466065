//! `statmount(2)` and `listmount(2)` (Linux 6.8), which rustix does not
//! wrap, plus `umount2` on a path relative to a directory fd.
//!
//! A leaf: plain values in, `rustix::io::Result` out. The layouts are
//! `linux-raw-sys`'s own `struct mnt_id_req` and `struct statmount`.

use linux_raw_sys::general as k;
use rustix::io::Result;

pub(crate) use k::{
    LSMT_ROOT, STATMOUNT_FS_SUBTYPE, STATMOUNT_FS_TYPE, STATMOUNT_MNT_BASIC, STATMOUNT_MNT_GIDMAP,
    STATMOUNT_MNT_OPTS, STATMOUNT_MNT_POINT, STATMOUNT_MNT_ROOT, STATMOUNT_MNT_UIDMAP,
    STATMOUNT_PROPAGATE_FROM, STATMOUNT_SB_BASIC, STATMOUNT_SB_SOURCE,
};

/// The system call numbers, the same in every architecture's table
/// (the unified numbering from 424 on).
pub(crate) const SYS_STATMOUNT: libc::c_long = 457;
/// See [`SYS_STATMOUNT`].
pub(crate) const SYS_LISTMOUNT: libc::c_long = 458;

fn request(mnt_id: u64, param: u64) -> k::mnt_id_req {
    k::mnt_id_req {
        // VER0 (24 bytes): the size 6.8 knows; the namespace fields after it
        // stay unused, so the caller's own namespace is listed.
        size: k::MNT_ID_REQ_SIZE_VER0,
        spare: 0,
        mnt_id,
        param,
        mnt_ns_id: 0,
    }
}

/// `statmount({mnt_id, mask}, buf, sizeof buf, 0)`: fills `buf` (u64s, for
/// the struct's alignment) with a `struct statmount` and its string table.
/// `EOVERFLOW` when the strings do not fit: grow `buf` and call again.
pub(crate) fn statmount(mnt_id: u64, mask: u64, buf: &mut [u64]) -> Result<()> {
    let req = request(mnt_id, mask);
    // SAFETY: `req` is a live `mnt_id_req` of the size it states, and `buf`
    // is writable for the byte length passed; the kernel writes at most that.
    let ret = unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            &req as *const k::mnt_id_req,
            buf.as_mut_ptr(),
            std::mem::size_of_val(buf),
            0u32,
        )
    };
    if ret < 0 {
        Err(super::last_errno())
    } else {
        Ok(())
    }
}

/// `listmount({mnt_id, last_id}, out, out.len(), 0)`: the ids of the mounts
/// below `mnt_id` ([`LSMT_ROOT`] as `u64` for the whole namespace) greater
/// than `last_id`, in id order; returns how many it wrote.
pub(crate) fn listmount(mnt_id: u64, last_id: u64, out: &mut [u64]) -> Result<usize> {
    let req = request(mnt_id, last_id);
    // SAFETY: `req` is a live `mnt_id_req`; `out` is writable for the number
    // of u64s passed.
    let ret = unsafe {
        libc::syscall(
            SYS_LISTMOUNT,
            &req as *const k::mnt_id_req,
            out.as_mut_ptr(),
            out.len(),
            0u32,
        )
    };
    if ret < 0 {
        Err(super::last_errno())
    } else {
        Ok(ret as usize)
    }
}

/// The fixed part of what [`statmount`] wrote, and its string table.
pub(crate) struct Statmount<'a> {
    pub(crate) hdr: StatmountHeader,
    strings: &'a [u8],
}

/// The numeric fields of `struct statmount` this crate reads.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StatmountHeader {
    pub(crate) mask: u64,
    pub(crate) sb_flags: u32,
    pub(crate) mnt_id: u64,
    pub(crate) mnt_parent_id: u64,
    pub(crate) mnt_attr: u64,
    pub(crate) mnt_propagation: u64,
    pub(crate) mnt_peer_group: u64,
    pub(crate) mnt_master: u64,
    pub(crate) propagate_from: u64,
    pub(crate) mnt_uidmap_num: u32,
    pub(crate) mnt_gidmap_num: u32,
    fs_type: u32,
    fs_subtype: u32,
    mnt_root: u32,
    mnt_point: u32,
    mnt_opts: u32,
    sb_source: u32,
    mnt_uidmap: u32,
    mnt_gidmap: u32,
}

impl<'a> Statmount<'a> {
    /// Reads a buffer [`statmount`] filled.
    pub(crate) fn parse(buf: &'a [u64]) -> Statmount<'a> {
        let head = std::mem::size_of::<k::statmount>();
        assert!(
            std::mem::size_of_val(buf) >= head,
            "statmount buffer too small"
        );
        // SAFETY: `buf` is at least one `struct statmount` long and u64-aligned
        // (the struct's alignment); every bit pattern is a valid value of its
        // integer fields, and the flexible array at its end has no size.
        let s: k::statmount = unsafe { std::ptr::read(buf.as_ptr().cast::<k::statmount>()) };
        // SAFETY: a u64 slice is also a valid byte slice of 8 times its length.
        let bytes: &[u8] = unsafe {
            std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), std::mem::size_of_val(buf))
        };
        let end = (s.size as usize).clamp(head, bytes.len());
        Statmount {
            hdr: StatmountHeader {
                mask: s.mask,
                sb_flags: s.sb_flags,
                mnt_id: s.mnt_id,
                mnt_parent_id: s.mnt_parent_id,
                mnt_attr: s.mnt_attr,
                mnt_propagation: s.mnt_propagation,
                mnt_peer_group: s.mnt_peer_group,
                mnt_master: s.mnt_master,
                propagate_from: s.propagate_from,
                mnt_uidmap_num: s.mnt_uidmap_num,
                mnt_gidmap_num: s.mnt_gidmap_num,
                fs_type: s.fs_type,
                fs_subtype: s.fs_subtype,
                mnt_root: s.mnt_root,
                mnt_point: s.mnt_point,
                mnt_opts: s.mnt_opts,
                sb_source: s.sb_source,
                mnt_uidmap: s.mnt_uidmap,
                mnt_gidmap: s.mnt_gidmap,
            },
            strings: &bytes[head..end],
        }
    }

    fn string(&self, bit: u32, off: u32) -> Option<&'a [u8]> {
        if self.hdr.mask & u64::from(bit) == 0 {
            return None;
        }
        let rest = self.strings.get(off as usize..)?;
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        Some(&rest[..len])
    }

    /// The filesystem type (`STATMOUNT_FS_TYPE`).
    pub(crate) fn fs_type(&self) -> Option<&'a [u8]> {
        self.string(STATMOUNT_FS_TYPE, self.hdr.fs_type)
    }
    /// The filesystem's subtype, for FUSE (`STATMOUNT_FS_SUBTYPE`).
    pub(crate) fn fs_subtype(&self) -> Option<&'a [u8]> {
        self.string(STATMOUNT_FS_SUBTYPE, self.hdr.fs_subtype)
    }
    /// The root of the mount within its filesystem (`STATMOUNT_MNT_ROOT`).
    pub(crate) fn mnt_root(&self) -> Option<&'a [u8]> {
        self.string(STATMOUNT_MNT_ROOT, self.hdr.mnt_root)
    }
    /// Where it is mounted, in the caller's root (`STATMOUNT_MNT_POINT`).
    pub(crate) fn mnt_point(&self) -> Option<&'a [u8]> {
        self.string(STATMOUNT_MNT_POINT, self.hdr.mnt_point)
    }
    /// The superblock's options (`STATMOUNT_MNT_OPTS`).
    pub(crate) fn mnt_opts(&self) -> Option<&'a [u8]> {
        self.string(STATMOUNT_MNT_OPTS, self.hdr.mnt_opts)
    }
    /// The source (`STATMOUNT_SB_SOURCE`).
    pub(crate) fn sb_source(&self) -> Option<&'a [u8]> {
        self.string(STATMOUNT_SB_SOURCE, self.hdr.sb_source)
    }
    /// The uid map's extents, one `"from to range"` each (`STATMOUNT_MNT_UIDMAP`).
    pub(crate) fn uidmap(&self) -> Option<Vec<&'a [u8]>> {
        self.strings_n(
            STATMOUNT_MNT_UIDMAP,
            self.hdr.mnt_uidmap,
            self.hdr.mnt_uidmap_num,
        )
    }
    /// The gid map's extents (`STATMOUNT_MNT_GIDMAP`).
    pub(crate) fn gidmap(&self) -> Option<Vec<&'a [u8]>> {
        self.strings_n(
            STATMOUNT_MNT_GIDMAP,
            self.hdr.mnt_gidmap,
            self.hdr.mnt_gidmap_num,
        )
    }

    fn strings_n(&self, bit: u32, off: u32, n: u32) -> Option<Vec<&'a [u8]>> {
        if self.hdr.mask & u64::from(bit) == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(n as usize);
        let mut rest = self.strings.get(off as usize..)?;
        for _ in 0..n {
            let len = rest.iter().position(|&b| b == 0)?;
            out.push(&rest[..len]);
            rest = &rest[len + 1..];
        }
        Some(out)
    }
}

/// `umount2(path, flags)`.
pub(crate) fn umount2(path: &std::ffi::CStr, flags: u32) -> Result<()> {
    // SAFETY: `path` is NUL-terminated and only read during the call.
    let ret = unsafe { libc::umount2(path.as_ptr(), flags as libc::c_int) };
    if ret < 0 {
        Err(super::last_errno())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use linux_raw_sys::general as k;

    #[test]
    fn syscall_numbers_match_linux_raw_sys() {
        assert_eq!(super::SYS_STATMOUNT, k::__NR_statmount as libc::c_long);
        assert_eq!(super::SYS_LISTMOUNT, k::__NR_listmount as libc::c_long);
    }

    #[test]
    fn struct_sizes_are_the_uapi_ones() {
        // include/uapi/linux/mount.h: MNT_ID_REQ_SIZE_VER1, and struct
        // statmount's fixed part is 512 bytes.
        assert_eq!(std::mem::size_of::<k::mnt_id_req>(), 32);
        assert_eq!(std::mem::size_of::<k::statmount>(), 512);
    }
}
