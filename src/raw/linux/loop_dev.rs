//! Loop devices: the `<linux/loop.h>` ABI and the ioctls that bind a backing
//! file to a free `/dev/loopN`.
//!
//! The request numbers are plain `0x4Cxx` values, not `_IOW`-encoded, so they
//! are the same on every architecture; only the type `ioctl` takes for them
//! differs (`c_ulong` on glibc, `c_int` on musl), hence the `as _` casts.

#![allow(non_camel_case_types)]

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::last_errno;
use crate::{Error, LoopOptions, LoopStatus, Op, Result};

/// `LO_NAME_SIZE`: the length of the name fields of `loop_info64`.
const LO_NAME_SIZE: usize = 64;
/// `LO_KEY_SIZE`: the length of the (obsolete) key field.
const LO_KEY_SIZE: usize = 32;

/// `struct loop_info64` from `<linux/loop.h>`: a device's status, as set by
/// `LOOP_SET_STATUS64` and read by `LOOP_GET_STATUS64`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct loop_info64 {
    pub(crate) lo_device: u64,
    pub(crate) lo_inode: u64,
    pub(crate) lo_rdevice: u64,
    pub(crate) lo_offset: u64,
    pub(crate) lo_sizelimit: u64,
    pub(crate) lo_number: u32,
    pub(crate) lo_encrypt_type: u32,
    pub(crate) lo_encrypt_key_size: u32,
    pub(crate) lo_flags: u32,
    pub(crate) lo_file_name: [u8; LO_NAME_SIZE],
    pub(crate) lo_crypt_name: [u8; LO_NAME_SIZE],
    pub(crate) lo_encrypt_key: [u8; LO_KEY_SIZE],
    pub(crate) lo_init: [u64; 2],
}

impl loop_info64 {
    const fn zeroed() -> Self {
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
            lo_encrypt_key: [0; LO_KEY_SIZE],
            lo_init: [0; 2],
        }
    }
}

/// `struct loop_config` from `<linux/loop.h>`: everything `LOOP_CONFIGURE`
/// sets in one call (Linux 5.8+).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct loop_config {
    pub(crate) fd: u32,
    pub(crate) block_size: u32,
    pub(crate) info: loop_info64,
    pub(crate) __reserved: [u64; 8],
}

pub(crate) const LOOP_SET_FD: u32 = 0x4C00;
pub(crate) const LOOP_CLR_FD: u32 = 0x4C01;
pub(crate) const LOOP_SET_STATUS64: u32 = 0x4C04;
pub(crate) const LOOP_GET_STATUS64: u32 = 0x4C05;
pub(crate) const LOOP_SET_DIRECT_IO: u32 = 0x4C08;
pub(crate) const LOOP_SET_BLOCK_SIZE: u32 = 0x4C09;
pub(crate) const LOOP_CONFIGURE: u32 = 0x4C0A;
pub(crate) const LOOP_CTL_GET_FREE: u32 = 0x4C82;

pub(crate) const LO_FLAGS_READ_ONLY: u32 = 1;
pub(crate) const LO_FLAGS_AUTOCLEAR: u32 = 4;
pub(crate) const LO_FLAGS_PARTSCAN: u32 = 8;
pub(crate) const LO_FLAGS_DIRECT_IO: u32 = 16;

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

// --- ioctl wrappers: each returns the errno on failure ---

/// `ioctl(fd, request, arg)` for requests whose argument is an integer.
fn ioctl_int(fd: BorrowedFd<'_>, request: u32, arg: libc::c_ulong) -> Result<i32, i32> {
    // SAFETY: every request passed here takes an integer argument (or none)
    // and touches no memory of ours.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

/// `ioctl(loop-control, LOOP_CTL_GET_FREE)`: the number of an unbound device,
/// created on the spot if there is none.
fn ctl_get_free(ctl: BorrowedFd<'_>) -> Result<u32, i32> {
    ioctl_int(ctl, LOOP_CTL_GET_FREE, 0).map(|n| n as u32)
}

/// `ioctl(dev, LOOP_CONFIGURE, cfg)`.
fn configure(dev: BorrowedFd<'_>, cfg: &loop_config) -> Result<(), i32> {
    // SAFETY: `cfg` is a live `loop_config`, which the kernel only reads
    // (`copy_from_user` of exactly its size) during the call.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_CONFIGURE as _,
            cfg as *const loop_config,
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `ioctl(dev, LOOP_SET_STATUS64, info)`.
fn set_status64(dev: BorrowedFd<'_>, info: &loop_info64) -> Result<(), i32> {
    // SAFETY: `info` is a live `loop_info64` that the kernel only reads.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_SET_STATUS64 as _,
            info as *const loop_info64,
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `ioctl(dev, LOOP_GET_STATUS64, &info)`.
fn get_status64(dev: BorrowedFd<'_>) -> Result<loop_info64, i32> {
    let mut info = loop_info64::zeroed();
    // SAFETY: `info` is a writable `loop_info64` that the kernel fills in
    // (`copy_to_user` of exactly its size).
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_GET_STATUS64 as _,
            &mut info as *mut loop_info64,
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(info)
    }
}

// --- the attach sequence ---

/// A device bound to a backing file by [`attach`].
pub(crate) struct Attached {
    pub(crate) fd: OwnedFd,
    pub(crate) number: u32,
    pub(crate) path: PathBuf,
}

fn dev_path(n: u32) -> PathBuf {
    PathBuf::from(format!("/dev/loop{n}"))
}

fn open_rdwr(path: &Path) -> Result<OwnedFd, i32> {
    use rustix::fs::{open, Mode, OFlags};
    open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).map_err(|e| e.raw_os_error())
}

/// The `loop_info64` that asks for `opts`; `name` goes to `lo_file_name`,
/// where `losetup` also puts the backing path (truncated, NUL-terminated).
fn info_for(opts: &LoopOptions, name: Option<&Path>) -> loop_info64 {
    let mut info = loop_info64::zeroed();
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

const CONTROL: &str = "/dev/loop-control";

/// Opens `/dev/loop-control`, read-write and close-on-exec.
pub(crate) fn open_control() -> Result<OwnedFd> {
    let control = Path::new(CONTROL);
    open_rdwr(control).map_err(|e| Error::os_at(Op::Open, control, e))
}

/// `flock(loop-control, LOCK_EX)`: waits until no other process (or thread,
/// through its own open of the node) holds the lock, and takes it; closing
/// `ctl` releases it. systemd's `loop-util.c` takes the same lock around
/// taking a free device and binding it, so a scan for a device already
/// backed by a file and the binding of a new one, done under it, are atomic
/// against systemd's bindings too.
pub(crate) fn lock_control(ctl: BorrowedFd<'_>) -> Result<()> {
    loop {
        match rustix::fs::flock(ctl, rustix::fs::FlockOperation::LockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(Error::os_at(
                    Op::Flock,
                    Path::new(CONTROL),
                    e.raw_os_error(),
                ))
            }
        }
    }
}

/// Opens the loop device `/dev/loopN` and reads its status on that fd.
/// `Ok(None)` if it is not bound (`ENXIO`) or no longer exists.
///
/// Read-only and non-blocking is enough for `LOOP_GET_STATUS64`, and a
/// read-only open never makes udev rescan the device when it is closed
/// (udev watches for a close after writing). The fd keeps the device bound:
/// while it is open, `LOOP_CLR_FD` and autoclear only mark the device, and
/// the unbinding waits for the last close (`loop_clr_fd`, `lo_release` in
/// `drivers/block/loop.c`).
pub(crate) fn open_bound(n: u32) -> Result<Option<(OwnedFd, PathBuf, LoopStatus)>> {
    use rustix::fs::{open, Mode, OFlags};
    let path = dev_path(n);
    let fd = match open(
        &path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::NXIO => return Ok(None),
        Err(e) => return Err(Error::os_at(Op::Open, &path, e.raw_os_error())),
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
        let n = ctl_get_free(ctl).map_err(|e| Error::os_at(Op::LoopCtlGetFree, control, e))?;
        let path = dev_path(n);
        last = Some(n);
        let dev = match open_rdwr(&path) {
            Ok(fd) => fd,
            // Removed by someone (`LOOP_CTL_REMOVE`) since it was named, or
            // its node not yet created or chowned by udev: take another.
            Err(libc::ENOENT | libc::ENXIO | libc::EACCES) if attempt + 1 < ATTEMPTS => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(e) => return Err(Error::os_at(Op::Open, &path, e)),
        };
        if !legacy {
            match configure(dev.as_fd(), &cfg) {
                Ok(()) => return verified(dev, n, path, opts),
                Err(libc::EBUSY) => continue,
                Err(e) if configure_missing(e) => legacy = true,
                Err(e) => return Err(Error::os_at(Op::LoopConfigure, &path, e)),
            }
        }
        match ioctl_int(
            dev.as_fd(),
            LOOP_SET_FD,
            backing.as_raw_fd() as libc::c_ulong,
        ) {
            Ok(_) => {}
            Err(libc::EBUSY) => continue,
            Err(e) => return Err(Error::os_at(Op::LoopSetFd, &path, e)),
        }
        // The device is bound to us now: release it on any failure.
        if let Err(e) = finish_legacy(dev.as_fd(), &path, &cfg, opts) {
            let _ = ioctl_int(dev.as_fd(), LOOP_CLR_FD, 0);
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
        ioctl_int(dev, LOOP_SET_BLOCK_SIZE, libc::c_ulong::from(size))
            .map_err(|e| Error::os_at(Op::LoopSetBlockSize, path, e))?;
    }
    let mut info = cfg.info;
    // LOOP_SET_STATUS64 cannot set these; they are applied separately.
    info.lo_flags &= !(LO_FLAGS_READ_ONLY | LO_FLAGS_DIRECT_IO);
    let mut tries = 0;
    loop {
        match set_status64(dev, &info) {
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
        match ioctl_int(dev, LOOP_SET_DIRECT_IO, 1) {
            Ok(_) | Err(libc::EINVAL) => {}
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
        let _ = ioctl_int(dev.as_fd(), LOOP_CLR_FD, 0);
        return Err(e);
    }
    Ok(Attached {
        fd: dev,
        number,
        path,
    })
}

fn check(dev: BorrowedFd<'_>, path: &Path, opts: &LoopOptions) -> Result<()> {
    let info = get_status64(dev).map_err(|e| Error::os_at(Op::LoopGetStatus64, path, e))?;
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
    if let Some(size) = opts.block_size {
        let actual = rustix::fs::ioctl_blksszget(dev)
            .map_err(|e| Error::os_at(Op::BlkSszGet, path, e.raw_os_error()))?;
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

/// `ioctl(dev, LOOP_GET_STATUS64)`, as the crate's [`LoopStatus`].
pub(crate) fn status(dev: BorrowedFd<'_>, path: &Path) -> Result<LoopStatus> {
    let info = get_status64(dev).map_err(|e| Error::os_at(Op::LoopGetStatus64, path, e))?;
    let block_size = rustix::fs::ioctl_blksszget(dev)
        .map_err(|e| Error::os_at(Op::BlkSszGet, path, e.raw_os_error()))?;
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

/// `ioctl(dev, LOOP_CLR_FD)`. While someone else still has the device open
/// (a mounted filesystem), the kernel only marks it autoclear and unbinds
/// it on the last close (`loop_clr_fd` in `drivers/block/loop.c`).
pub(crate) fn detach(dev: BorrowedFd<'_>, path: &Path) -> Result<()> {
    ioctl_int(dev, LOOP_CLR_FD, 0)
        .map(drop)
        .map_err(|e| Error::os_at(Op::LoopClrFd, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::loop_device as k;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn loop_info64_layout_matches_linux_raw_sys() {
        assert_eq!(size_of::<loop_info64>(), size_of::<k::loop_info64>());
        assert_eq!(align_of::<loop_info64>(), align_of::<k::loop_info64>());
        macro_rules! same_offset {
            ($($f:ident),*) => {$(
                assert_eq!(
                    offset_of!(loop_info64, $f),
                    offset_of!(k::loop_info64, $f),
                    stringify!($f)
                );
            )*};
        }
        same_offset!(
            lo_device,
            lo_inode,
            lo_rdevice,
            lo_offset,
            lo_sizelimit,
            lo_number,
            lo_encrypt_type,
            lo_encrypt_key_size,
            lo_flags,
            lo_file_name,
            lo_crypt_name,
            lo_encrypt_key,
            lo_init
        );
        assert_eq!(LO_NAME_SIZE, k::LO_NAME_SIZE as usize);
        assert_eq!(LO_KEY_SIZE, k::LO_KEY_SIZE as usize);
    }

    #[test]
    fn loop_config_layout_matches_linux_raw_sys() {
        assert_eq!(size_of::<loop_config>(), size_of::<k::loop_config>());
        assert_eq!(align_of::<loop_config>(), align_of::<k::loop_config>());
        assert_eq!(offset_of!(loop_config, fd), offset_of!(k::loop_config, fd));
        assert_eq!(
            offset_of!(loop_config, block_size),
            offset_of!(k::loop_config, block_size)
        );
        assert_eq!(
            offset_of!(loop_config, info),
            offset_of!(k::loop_config, info)
        );
        assert_eq!(
            offset_of!(loop_config, __reserved),
            offset_of!(k::loop_config, __reserved)
        );
    }

    #[test]
    fn request_numbers_and_flags_match_linux_raw_sys() {
        let requests = [
            (LOOP_SET_FD, k::LOOP_SET_FD),
            (LOOP_CLR_FD, k::LOOP_CLR_FD),
            (LOOP_SET_STATUS64, k::LOOP_SET_STATUS64),
            (LOOP_GET_STATUS64, k::LOOP_GET_STATUS64),
            (LOOP_SET_DIRECT_IO, k::LOOP_SET_DIRECT_IO),
            (LOOP_SET_BLOCK_SIZE, k::LOOP_SET_BLOCK_SIZE),
            (LOOP_CONFIGURE, k::LOOP_CONFIGURE),
            (LOOP_CTL_GET_FREE, k::LOOP_CTL_GET_FREE),
        ];
        for (ours, theirs) in requests {
            assert_eq!(ours, theirs, "request {ours:#x}");
        }
        let flags = [
            (LO_FLAGS_READ_ONLY, k::LO_FLAGS_READ_ONLY as u32),
            (LO_FLAGS_AUTOCLEAR, k::LO_FLAGS_AUTOCLEAR as u32),
            (LO_FLAGS_PARTSCAN, k::LO_FLAGS_PARTSCAN as u32),
            (LO_FLAGS_DIRECT_IO, k::LO_FLAGS_DIRECT_IO as u32),
        ];
        for (ours, theirs) in flags {
            assert_eq!(ours, theirs, "flag {ours:#x}");
        }
    }

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
