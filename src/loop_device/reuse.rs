//! Finding the loop device already bound to the range of an image a mount
//! asks for, as `mount -o loop` does, so that one image never has two
//! superblocks.

use std::path::{Path, PathBuf};

use super::{attach, loop_numbers, range_end, LoopDevice, LoopOptions, LoopStatus};
use crate::path::Resolved;
use crate::{Error, Result};

/// For `mount_image`: a loop device already bound to the range `opts` asks
/// for of the file `r` refers to (`size` bytes), opened, or `None` when no
/// device covers any of that range. The caller holds the loop-control lock,
/// so no device for this file can be bound meanwhile by a caller that looks
/// first as well.
///
/// The same range (the same offset and end) is reused: the kernel then
/// finds the superblock already on that device and returns it, as for
/// `mount -o loop`. An overlapping, different range is refused: a second
/// device over the same blocks would make a second superblock, and two
/// superblocks writing one ext4 journal corrupt it. So is a read-only device
/// where read-write is asked for (its state cannot change while bound).
pub(crate) fn find_reusable(
    r: &Resolved,
    size: u64,
    opts: &LoopOptions,
    image: &Path,
) -> Result<Option<LoopDevice>> {
    let (start, end) = (opts.offset, range_end(opts.offset, opts.size_limit, size));
    let mut conflict = None;
    for n in loop_numbers()? {
        // The status is read on the fd we keep: once it shows the device
        // bound to our file, the device stays so while the fd is open.
        let (fd, path, st) = match attach::open_bound(n) {
            Ok(Some(bound)) => bound,
            Ok(None) => continue,
            // A device this process may not open (a container's device
            // cgroup, a node it may not read) is one it could not mount
            // from either.
            Err(e) if matches!(e.errno(), Some(libc::EACCES | libc::EPERM)) => continue,
            Err(e) => return Err(e),
        };
        if !st.backed_by(r) {
            continue;
        }
        match share(&st, start, end, size, opts.read_only) {
            Share::Disjoint => {}
            Share::Reuse => {
                return Ok(Some(LoopDevice {
                    fd,
                    number: n,
                    path,
                }))
            }
            // Refused at once: this device is the one the mount needs.
            Share::Refuse(errno @ libc::EROFS) => return Err(in_use(&st, path, image, errno)),
            // Refused unless a device over exactly our range turns up.
            Share::Refuse(errno) => {
                conflict.get_or_insert_with(|| in_use(&st, path, image, errno));
            }
        }
    }
    conflict.map_or(Ok(None), Err)
}

/// What a device bound to the image means for a new mount of the range
/// `[start, end)` of it (`size` bytes long).
#[derive(Debug, PartialEq, Eq)]
enum Share {
    /// The device covers none of the range.
    Disjoint,
    /// The device covers exactly the range and can be mounted from.
    Reuse,
    /// The device cannot be shared: `EBUSY` for another range over some of
    /// the same blocks, `EROFS` for exactly the range but read-only where
    /// read-write is asked.
    Refuse(i32),
}

fn share(st: &LoopStatus, start: u64, end: u64, size: u64, read_only: bool) -> Share {
    let (st_start, st_end) = (st.offset, st.end(size));
    if st_start == start && st_end == end {
        if st.read_only && !read_only {
            Share::Refuse(libc::EROFS)
        } else {
            Share::Reuse
        }
    } else if st_start < end && start < st_end {
        Share::Refuse(libc::EBUSY)
    } else {
        Share::Disjoint
    }
}

fn in_use(st: &LoopStatus, device: PathBuf, image: &Path, errno: i32) -> Error {
    Error::LoopInUse {
        device,
        image: image.to_owned(),
        offset: st.offset,
        size_limit: st.size_limit,
        errno: crate::Errno::from_raw(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(offset: u64, size_limit: u64, read_only: bool) -> LoopStatus {
        LoopStatus {
            number: 0,
            offset,
            size_limit,
            read_only,
            autoclear: true,
            direct_io: false,
            partscan: false,
            block_size: 512,
            backing_device: 1,
            backing_inode: 2,
            backing_rdev: 0,
        }
    }

    #[test]
    fn a_size_limit_of_zero_or_past_the_end_reaches_the_end_of_the_file() {
        assert_eq!(range_end(0, 0, 100), 100);
        assert_eq!(range_end(10, 0, 100), 100);
        assert_eq!(range_end(10, 20, 100), 30);
        assert_eq!(range_end(10, 200, 100), 100);
        assert_eq!(range_end(10, u64::MAX, 100), 100);
    }

    #[test]
    fn the_same_range_is_reused_an_overlap_refused_and_a_disjoint_one_ignored() {
        let size = 100;
        // Whole file, both ways of saying "to the end".
        assert_eq!(
            share(&bound(0, 0, false), 0, 100, size, false),
            Share::Reuse
        );
        assert_eq!(
            share(&bound(0, 100, false), 0, 100, size, false),
            Share::Reuse
        );
        assert_eq!(
            share(&bound(0, 500, false), 0, 100, size, false),
            Share::Reuse
        );
        // Read-only asked of a read-write device: shared (the kernel has
        // the last word on the superblock); the other way round: refused.
        assert_eq!(share(&bound(0, 0, false), 0, 100, size, true), Share::Reuse);
        assert_eq!(share(&bound(0, 0, true), 0, 100, size, true), Share::Reuse);
        assert_eq!(
            share(&bound(0, 0, true), 0, 100, size, false),
            Share::Refuse(libc::EROFS)
        );
        // Same start, other end; other start, same end; inside; around.
        for (offset, limit, start, end) in [
            (0, 50, 0, 100),
            (10, 0, 0, 100),
            (10, 20, 0, 100),
            (0, 0, 10, 20),
            (40, 20, 50, 100),
        ] {
            assert_eq!(
                share(&bound(offset, limit, false), start, end, size, true),
                Share::Refuse(libc::EBUSY),
                "{offset}+{limit} against {start}..{end}"
            );
        }
        // Side by side, either way: no block in common.
        assert_eq!(
            share(&bound(0, 50, false), 50, 100, size, false),
            Share::Disjoint
        );
        assert_eq!(
            share(&bound(50, 0, true), 0, 50, size, false),
            Share::Disjoint
        );
    }
}
