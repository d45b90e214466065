//! Taking a free loop device and binding a backing file to it: the retry
//! on a device stolen by another process, the pre-5.8 fallback, and the
//! check that the device shows what was asked for.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use linux_raw_sys::loop_device::{self as k, loop_config, loop_info64};

use super::{LoopOptions, LoopStatus};
use crate::raw::loop_dev;
use crate::{Error, Op, Result};

const LO_NAME_SIZE: usize = k::LO_NAME_SIZE as usize;
const LO_FLAGS_READ_ONLY: u32 = k::LO_FLAGS_READ_ONLY as u32;
const LO_FLAGS_AUTOCLEAR: u32 = k::LO_FLAGS_AUTOCLEAR as u32;
const LO_FLAGS_PARTSCAN: u32 = k::LO_FLAGS_PARTSCAN as u32;
const LO_FLAGS_DIRECT_IO: u32 = k::LO_FLAGS_DIRECT_IO as u32;

/// How many free devices to try before giving up when each one is taken by
/// someone else between `LOOP_CTL_GET_FREE` and our configure call. Every
/// lost race means another attach succeeded, so this only runs out under a
/// storm of concurrent attaches far beyond anything `losetup` survives.
const ATTEMPTS: u32 = 256;

/// How often `LOOP_SET_STATUS64` is retried on `EAGAIN`: before Linux 5.x
/// the kernel could not always drop the page cache of a device whose offset
/// changed and asked the caller to try again (util-linux `loopdev.c`
/// retries the same way).
const EAGAIN_RETRIES: u32 = 40;

const CONTROL: &str = "/dev/loop-control";

/// A device bound to a backing file by [`attach`].
pub(crate) struct Attached {
    pub(crate) fd: OwnedFd,
    pub(crate) number: u32,
    pub(crate) path: PathBuf,
}

pub(crate) fn dev_path(n: u32) -> PathBuf {
    PathBuf::from(format!("/dev/loop{n}"))
}

/// An all-zero `loop_info64`.
const fn zeroed_info() -> loop_info64 {
    loop_info64 {
        lo_device: 0,
        lo_inode: 0,
        lo_rdevice: 0,
        lo_offset: 0,
        lo_sizelimit: 0,
        lo_number: 0,
        lo_encrypt_type: 0,
        lo_encrypt_key_size: 0,
        lo_flags: 0,
        lo_file_name: [0; LO_NAME_SIZE],
        lo_crypt_name: [0; LO_NAME_SIZE],
        lo_encrypt_key: [0; k::LO_KEY_SIZE as usize],
        lo_init: [0; 2],
    }
}

/// The `loop_info64` that asks for `opts`; `name` goes to `lo_file_name`,
/// where `losetup` also puts the backing path (truncated, NUL-terminated).
fn info_for(opts: &LoopOptions, name: Option<&Path>) -> loop_info64 {
    let mut info = zeroed_info();
    info.lo_offset = opts.offset;
    info.lo_sizelimit = opts.size_limit;
    if opts.read_only {
        info.lo_flags |= LO_FLAGS_READ_ONLY;
    }
    if opts.autoclear {
        info.lo_flags |= LO_FLAGS_AUTOCLEAR;
    }
    if opts.direct_io {
        info.lo_flags |= LO_FLAGS_DIRECT_IO;
    }
    if let Some(name) = name {
        use std::os::unix::ffi::OsStrExt;
        let bytes = name.as_os_str().as_bytes();
        let n = bytes.len().min(LO_NAME_SIZE - 1);
        info.lo_file_name[..n].copy_from_slice(&bytes[..n]);
    }
    info
}

/// Whether `LOOP_CONFIGURE` failed because the kernel lacks it (before 5.8).
///
/// A native kernel without it ends in `lo_simple_ioctl`'s `EINVAL`; a
/// 32-bit process on a 64-bit kernel gets `ENOTTY` from the compat path;
/// util-linux (`loopcxt_setup_device`) also accepts `ENOSYS`.
fn configure_missing(errno: i32) -> bool {
    matches!(errno, libc::EINVAL | libc::ENOTTY | libc::ENOSYS)
}

/// Opens `/dev/loop-control`, read-write and close-on-exec.
pub(crate) fn open_control() -> Result<OwnedFd> {
    let control = Path::new(CONTROL);
    loop_dev::open_dev(control, true).map_err(|e| Error::sys(Op::Open, e).at(control))
}

/// `flock(loop-control, LOCK_EX)`: waits until no other process (or thread,
/// through its own open of the node) holds the lock, and takes it; closing
/// `ctl` releases it. systemd's `loop-util.c` takes the same lock around
/// taking a free device and binding it, so a scan for a device already
/// backed by a file and the binding of a new one, done under it, are atomic
/// against systemd's bindings too.
pub(crate) fn lock_control(ctl: BorrowedFd<'_>) -> Result<()> {
    loop_dev::lock_exclusive(ctl).map_err(|e| Error::sys(Op::Flock, e).at(Path::new(CONTROL)))
}

/// Opens the loop device `/dev/loopN` and reads its status on that fd.
/// `Ok(None)` if it is not bound (`ENXIO`) or no longer exists.
///
/// The fd is read-only and keeps the device bound: while it is open,
/// `LOOP_CLR_FD` and autoclear only mark the device, and the unbinding waits
/// for the last close (`loop_clr_fd`, `lo_release` in
/// `drivers/block/loop.c`).
pub(crate) fn open_bound(n: u32) -> Result<Option<(OwnedFd, PathBuf, LoopStatus)>> {
    let path = dev_path(n);
    let fd = match loop_dev::open_dev(&path, false) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), libc::ENOENT | libc::ENXIO) => return Ok(None),
        Err(e) => return Err(Error::sys(Op::Open, e).at(&path)),
    };
    match status(fd.as_fd(), &path) {
        Ok(st) => Ok(Some((fd, path, st))),
        Err(e) if e.errno() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Takes a free loop device and binds `backing` to it as `opts` asks,
/// through `ctl` (an open `/dev/loop-control`) or a fresh open of it.
///
/// `LOOP_CTL_GET_FREE` only names a device that was free at that moment;
/// another process can bind it before we do, which our configure call sees
/// as `EBUSY`. Then we ask for another one, up to [`ATTEMPTS`] times.
pub(crate) fn attach(
    ctl: Option<BorrowedFd<'_>>,
    backing: BorrowedFd<'_>,
    name: Option<&Path>,
    opts: &LoopOptions,
) -> Result<Attached> {
    let control = Path::new(CONTROL);
    let opened;
    let ctl = match ctl {
        Some(fd) => fd,
        None => {
            opened = open_control()?;
            opened.as_fd()
        }
    };
    let cfg = loop_config {
        fd: backing.as_raw_fd() as u32,
        block_size: opts.block_size.unwrap_or(0),
        info: info_for(opts, name),
        __reserved: [0; 8],
    };
    let mut legacy = false;
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        let n = loop_dev::ctl_get_free(ctl)
            .map_err(|e| Error::sys(Op::LoopCtlGetFree, e).at(control))?;
        let path = dev_path(n);
        last = Some(n);
        let dev = match loop_dev::open_dev(&path, true) {
            Ok(fd) => fd,
            // Removed by someone (`LOOP_CTL_REMOVE`) since it was named, or
            // its node not yet created or chowned by udev: take another.
            Err(e)
                if matches!(e.raw_os_error(), libc::ENOENT | libc::ENXIO | libc::EACCES)
                    && attempt + 1 < ATTEMPTS =>
            {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(e) => return Err(Error::sys(Op::Open, e).at(&path)),
        };
        if !legacy {
            match loop_dev::configure(dev.as_fd(), cfg).map_err(|e| e.raw_os_error()) {
                Ok(()) => return verified(dev, n, path, opts),
                Err(libc::EBUSY) => continue,
                Err(e) if configure_missing(e) => legacy = true,
                Err(e) => return Err(Error::os_at(Op::LoopConfigure, &path, e)),
            }
        }
        match loop_dev::set_fd(dev.as_fd(), backing).map_err(|e| e.raw_os_error()) {
            Ok(()) => {}
            Err(libc::EBUSY) => continue,
            Err(e) => return Err(Error::os_at(Op::LoopSetFd, &path, e)),
        }
        // The device is bound to us now: release it on any failure.
        if let Err(e) = finish_legacy(dev.as_fd(), &path, &cfg, opts) {
            let _ = loop_dev::clr_fd(dev.as_fd());
            return Err(e);
        }
        return verified(dev, n, path, opts);
    }
    // Every device we were offered was taken by someone else first.
    let op = if legacy {
        Op::LoopSetFd
    } else {
        Op::LoopConfigure
    };
    Err(Error::os_at(
        op,
        &last.map_or_else(|| control.to_path_buf(), dev_path),
        libc::EBUSY,
    ))
}

/// The rest of the pre-5.8 sequence after `LOOP_SET_FD`: block size, then
/// status (offset, size limit, autoclear), then direct I/O, in the order
/// util-linux uses. Read-only needs no call: the kernel derives it from the
/// backing file's open mode, which the caller chose to match.
fn finish_legacy(
    dev: BorrowedFd<'_>,
    path: &Path,
    cfg: &loop_config,
    opts: &LoopOptions,
) -> Result<()> {
    if let Some(size) = opts.block_size {
        loop_dev::set_block_size(dev, size)
            .map_err(|e| Error::sys(Op::LoopSetBlockSize, e).at(path))?;
    }
    let mut info = cfg.info;
    // LOOP_SET_STATUS64 cannot set these; they are applied separately.
    info.lo_flags &= !(LO_FLAGS_READ_ONLY | LO_FLAGS_DIRECT_IO);
    let mut tries = 0;
    loop {
        match loop_dev::set_status64(dev, info).map_err(|e| e.raw_os_error()) {
            Ok(()) => break,
            Err(libc::EAGAIN) if tries < EAGAIN_RETRIES => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(Error::os_at(Op::LoopSetStatus64, path, e)),
        }
    }
    if opts.direct_io {
        // Like LOOP_CONFIGURE, which quietly drops direct I/O where the
        // backing file cannot do it, accept a refusal (EINVAL) here.
        match loop_dev::set_direct_io(dev, true).map_err(|e| e.raw_os_error()) {
            Ok(()) | Err(libc::EINVAL) => {}
            Err(e) => return Err(Error::os_at(Op::LoopSetDirectIo, path, e)),
        }
    }
    Ok(())
}

/// Checks with `LOOP_GET_STATUS64` (and `BLKSSZGET`) that the device shows
/// what was asked for, and releases it if not. Early `LOOP_CONFIGURE`
/// versions ignored some fields (systemd's `loop-util.c` checks the same
/// way), and the legacy path could be raced by a `LOOP_SET_STATUS64` of
/// someone else's.
fn verified(dev: OwnedFd, number: u32, path: PathBuf, opts: &LoopOptions) -> Result<Attached> {
    if let Err(e) = check(dev.as_fd(), &path, opts) {
        let _ = loop_dev::clr_fd(dev.as_fd());
        return Err(e);
    }
    Ok(Attached {
        fd: dev,
        number,
        path,
    })
}

fn check(dev: BorrowedFd<'_>, path: &Path, opts: &LoopOptions) -> Result<()> {
    let info =
        loop_dev::get_status64(dev).map_err(|e| Error::sys(Op::LoopGetStatus64, e).at(path))?;
    let flag = |f: u32| u64::from(info.lo_flags & f != 0);
    let checks = [
        ("offset", opts.offset, info.lo_offset),
        ("size limit", opts.size_limit, info.lo_sizelimit),
        (
            "read-only",
            u64::from(opts.read_only),
            flag(LO_FLAGS_READ_ONLY),
        ),
        (
            "autoclear",
            u64::from(opts.autoclear),
            flag(LO_FLAGS_AUTOCLEAR),
        ),
    ];
    for (setting, asked, actual) in checks {
        if asked != actual {
            return Err(Error::LoopMismatch {
                device: path.to_owned(),
                setting,
                asked,
                actual,
            });
        }
    }
    // BLKSSZGET only when a size was asked for: attaching is a hot path.
    if let Some(size) = opts.block_size {
        let actual =
            loop_dev::block_size(dev).map_err(|e| Error::sys(Op::BlkSszGet, e).at(path))?;
        if actual != size {
            return Err(Error::LoopMismatch {
                device: path.to_owned(),
                setting: "block size",
                asked: size.into(),
                actual: actual.into(),
            });
        }
    }
    Ok(())
}

/// `ioctl(dev, LOOP_GET_STATUS64)` and `BLKSSZGET`, as the crate's
/// [`LoopStatus`].
pub(crate) fn status(dev: BorrowedFd<'_>, path: &Path) -> Result<LoopStatus> {
    let info =
        loop_dev::get_status64(dev).map_err(|e| Error::sys(Op::LoopGetStatus64, e).at(path))?;
    let block_size =
        loop_dev::block_size(dev).map_err(|e| Error::sys(Op::BlkSszGet, e).at(path))?;
    Ok(LoopStatus {
        number: info.lo_number,
        offset: info.lo_offset,
        size_limit: info.lo_sizelimit,
        read_only: info.lo_flags & LO_FLAGS_READ_ONLY != 0,
        autoclear: info.lo_flags & LO_FLAGS_AUTOCLEAR != 0,
        direct_io: info.lo_flags & LO_FLAGS_DIRECT_IO != 0,
        partscan: info.lo_flags & LO_FLAGS_PARTSCAN != 0,
        block_size,
        // `loop_get_status` encodes both numbers with `huge_encode_dev`,
        // which is `new_encode_dev`: the encoding `fstat` gives `st_dev`
        // and `st_rdev` on 64-bit targets (`cp_new_stat` in fs/stat.c), and
        // the one glibc's and musl's `makedev` give for a kernel `dev_t`
        // (a major below 4096), which `statx`-based `fstat`s use. So they
        // compare directly with a backing file's `fstat`.
        backing_device: info.lo_device,
        backing_inode: info.lo_inode,
        backing_rdev: info.lo_rdevice,
    })
}

/// `ioctl(dev, LOOP_CLR_FD)`.
pub(crate) fn detach(dev: BorrowedFd<'_>, path: &Path) -> Result<()> {
    loop_dev::clr_fd(dev).map_err(|e| Error::sys(Op::LoopClrFd, e).at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_carries_the_options_and_a_truncated_name() {
        let opts = LoopOptions {
            offset: 4096,
            size_limit: 1 << 20,
            read_only: true,
            autoclear: true,
            direct_io: true,
            block_size: None,
        };
        let long = "x".repeat(100);
        let info = info_for(&opts, Some(Path::new(&long)));
        assert_eq!((info.lo_offset, info.lo_sizelimit), (4096, 1 << 20));
        assert_eq!(
            info.lo_flags,
            LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO
        );
        assert_eq!(&info.lo_file_name[..63], &long.as_bytes()[..63]);
        assert_eq!(info.lo_file_name[63], 0, "NUL-terminated");
    }

    #[test]
    fn configure_fallback_errnos_are_those_of_old_kernels() {
        assert!(configure_missing(libc::EINVAL));
        assert!(configure_missing(libc::ENOTTY));
        assert!(configure_missing(libc::ENOSYS));
        assert!(!configure_missing(libc::EBUSY));
        assert!(!configure_missing(libc::EPERM));
    }
}
