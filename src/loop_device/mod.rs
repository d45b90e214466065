//! [`LoopDevice`]: a block device backed by a file, for filesystems that
//! only mount block devices.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

mod attach;
mod reuse;

pub(crate) use attach::{lock_control, open_control};
pub(crate) use reuse::find_reusable;

use crate::path::{Follow, Kind, Resolved};
use crate::raw;
use crate::{Error, Op, Result};

/// How a [`LoopDevice`] presents its backing file.
///
/// The default is the whole file, read-write, with autoclear on, buffered
/// I/O and the kernel's default block size of 512 bytes.
///
/// # Examples
///
/// ```
/// use mountfd::LoopOptions;
///
/// // The second MiB of a file, read-only.
/// let opts = LoopOptions { offset: 1 << 20, size_limit: 1 << 20, read_only: true, ..Default::default() };
/// assert!(opts.autoclear);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoopOptions {
    /// Where the device starts in the backing file, in bytes
    /// (`lo_offset`). Must lie inside the file.
    pub offset: u64,
    /// How many bytes from `offset` the device covers; 0 means up to the
    /// end of the file (`lo_sizelimit`).
    pub size_limit: u64,
    /// Opens the backing file read-only and makes the device read-only
    /// (`LO_FLAGS_READ_ONLY`): writes to it fail, and a filesystem on it
    /// can only be mounted read-only.
    pub read_only: bool,
    /// Unbinds the device when its last user closes it
    /// (`LO_FLAGS_AUTOCLEAR`): once the [`LoopDevice`] is dropped and no
    /// mount uses the device any more, it is free again.
    pub autoclear: bool,
    /// Reads and writes the backing file with direct I/O
    /// (`LO_FLAGS_DIRECT_IO`), bypassing the page cache of the backing
    /// file. A hint: the kernel quietly drops it where the backing file
    /// cannot do direct I/O at this offset and block size.
    pub direct_io: bool,
    /// The device's logical block size: a power of two from 512 to 65536
    /// (older kernels allow at most the page size); `None` keeps the
    /// kernel's choice (512 bytes).
    pub block_size: Option<u32>,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions::new()
    }
}

impl LoopOptions {
    /// The whole file, read-write, autoclear on: the same as
    /// [`Default::default`].
    #[must_use]
    pub const fn new() -> Self {
        LoopOptions {
            offset: 0,
            size_limit: 0,
            read_only: false,
            autoclear: true,
            direct_io: false,
            block_size: None,
        }
    }

    /// Checks what can be checked without the backing file.
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(size) = self.block_size {
            if !size.is_power_of_two() || !(512..=65536).contains(&size) {
                return Err(Error::invalid(
                    "block size",
                    format!("{size} is not a power of two from 512 to 65536"),
                ));
            }
        }
        // The kernel keeps both as loff_t and refuses larger values with
        // EOVERFLOW (`loop_set_status_from_info`).
        for (what, v) in [("offset", self.offset), ("size limit", self.size_limit)] {
            if v > i64::MAX as u64 {
                return Err(Error::invalid(what, format!("{v} exceeds {}", i64::MAX)));
            }
        }
        Ok(())
    }

    /// Checks the offset against the size of the backing file.
    pub(crate) fn check_fits(&self, size: u64, backing: Option<&Path>) -> Result<()> {
        if self.offset >= size {
            let name =
                backing.map_or_else(|| "the backing file".into(), |p| p.display().to_string());
            return Err(Error::invalid(
                "offset",
                format!(
                    "offset {} is at or past the end of {name} ({size} bytes)",
                    self.offset
                ),
            ));
        }
        Ok(())
    }
}

/// What a loop device shows about itself (`LOOP_GET_STATUS64`).
///
/// From [`LoopDevice::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LoopStatus {
    /// The device number: `N` of `/dev/loopN`.
    pub number: u32,
    /// The start of the device in the backing file, in bytes.
    pub offset: u64,
    /// The size limit in bytes; 0 for up to the end of the file.
    pub size_limit: u64,
    /// Whether the device is read-only.
    pub read_only: bool,
    /// Whether the device unbinds itself when its last user closes it.
    pub autoclear: bool,
    /// Whether the device does direct I/O on its backing file.
    pub direct_io: bool,
    /// Whether the kernel scans the device for partitions.
    pub partscan: bool,
    /// The logical block size (`BLKSSZGET`).
    pub block_size: u32,
    /// The device number (`st_dev`) of the filesystem holding the backing file.
    pub backing_device: u64,
    /// The inode number of the backing file.
    pub backing_inode: u64,
    /// The device number (`st_rdev`) of the backing file when it is a block
    /// device; 0 for a regular file.
    pub backing_rdev: u64,
}

impl LoopStatus {
    /// The device node, `/dev/loopN`.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/loop{}", self.number))
    }

    /// Where the device ends in the backing file, which is `size` bytes
    /// long: the end of the file, or sooner with a size limit.
    pub(crate) fn end(&self, size: u64) -> u64 {
        range_end(self.offset, self.size_limit, size)
    }

    /// Whether the backing file is the one `r` refers to: the same inode,
    /// or for a block device the same device, whichever node names it.
    pub(crate) fn backed_by(&self, r: &Resolved) -> bool {
        match r.kind {
            Kind::BlockDevice => self.backing_rdev == r.rdev,
            _ => self.backing_device == r.dev && self.backing_inode == r.ino,
        }
    }
}

/// The end of the range `[offset, offset + size_limit)` of a file of `size`
/// bytes, where a size limit of 0 means up to the end (`get_size` in
/// `drivers/block/loop.c`).
pub(crate) fn range_end(offset: u64, size_limit: u64, size: u64) -> u64 {
    if size_limit == 0 {
        size
    } else {
        offset.saturating_add(size_limit).min(size)
    }
}

/// A loop device bound to a backing file, held open by an fd.
///
/// [`attach`](Self::attach) takes a free device (`LOOP_CTL_GET_FREE`) and
/// configures it in one `LOOP_CONFIGURE` call (Linux 5.8+), falling back to
/// `LOOP_SET_FD` + `LOOP_SET_STATUS64` on older kernels. A device taken by
/// another process between those steps is given up for a fresh one. Once
/// bound, the device is checked with `LOOP_GET_STATUS64` to show what was
/// asked for.
///
/// # Dropping
///
/// Dropping a `LoopDevice` closes its fd and nothing more. With
/// [`LoopOptions::autoclear`] (the default) the kernel then unbinds the
/// device as soon as nobody has it open, which is at once if nothing else
/// uses it, or when the last filesystem mounted from it is unmounted. Without
/// autoclear the device stays bound after the drop, as `losetup` leaves it,
/// until someone detaches it; use [`detach`](Self::detach) for that.
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("loop-device");
/// use mountfd::{LoopDevice, LoopOptions};
///
/// let image = dir.join("disk.img");
/// std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
///
/// let dev = LoopDevice::attach(&image, &LoopOptions { read_only: true, ..Default::default() })?;
/// assert!(dev.path().to_str().unwrap().starts_with("/dev/loop"));
/// assert!(dev.status()?.read_only);
/// dev.detach()?;
/// # Ok::<(), mountfd::Error>(())
/// ```
///
/// See `loop(4)`: <https://man7.org/linux/man-pages/man4/loop.4.html>.
#[derive(Debug)]
pub struct LoopDevice {
    fd: OwnedFd,
    number: u32,
    path: PathBuf,
}

impl AsFd for LoopDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for LoopDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<LoopDevice> for OwnedFd {
    fn from(dev: LoopDevice) -> OwnedFd {
        dev.fd
    }
}

impl LoopDevice {
    /// `ioctl(loop, LOOP_CONFIGURE, cfg)`—binds a free loop device to the
    /// file (or block device) at `backing`.
    ///
    /// `backing` is looked up once, to an `O_PATH` fd whose kind is checked,
    /// and that very file is then opened (through `/proc/thread-self/fd`):
    /// read-only when [`LoopOptions::read_only`] is set, read-write
    /// otherwise, and close-on-exec either way; the device keeps its own
    /// reference to it. `/proc` must be mounted.
    ///
    /// Like `losetup`, this binds a new device even when another one is
    /// already bound to the same file; [`find`](Self::find) lists those.
    /// [`mount_image`](crate::mount_image) reuses one instead.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`], before any device is touched, for a
    ///   backing path that is neither a regular file nor a block device (a
    ///   directory, a FIFO, a character device, a socket: refused without
    ///   being opened, so no FIFO blocks and no driver's `open` runs), an
    ///   offset at or past its end, or a bad block size;
    /// - [`Error::Os`] if the backing file cannot be opened (`ENOENT`,
    ///   `EACCES`, `EROFS` when opening read-write), `/dev/loop-control` is
    ///   missing or refused (`EPERM` without `CAP_SYS_ADMIN`), or the kernel
    ///   refuses the configuration;
    /// - [`Error::LoopMismatch`] if the device does not show what was asked
    ///   for; it has been released again.
    ///
    /// # Examples
    ///
    /// See [`LoopDevice`].
    #[doc(alias = "LOOP_CONFIGURE")]
    #[doc(alias = "LOOP_CTL_GET_FREE")]
    #[doc(alias = "LOOP_SET_FD")]
    #[doc(alias = "losetup")]
    pub fn attach(backing: impl AsRef<Path>, opts: &LoopOptions) -> Result<LoopDevice> {
        let backing = backing.as_ref();
        opts.validate()?;
        let r = resolve_backing(backing)?;
        let file = open_resolved(&r, opts.read_only, backing)?;
        LoopDevice::attach_file(None, &file, r.kind, r.size, Some(backing), opts)
    }

    /// Binds a free loop device to an open file (or block device), such as
    /// a `memfd`.
    ///
    /// The read-only setting must match how `backing` was opened: a
    /// read-only fd always gives a read-only device, which is reported as
    /// [`Error::LoopMismatch`] unless [`LoopOptions::read_only`] is set.
    ///
    /// # Errors
    ///
    /// As [`attach`](Self::attach).
    pub fn attach_fd(backing: impl AsFd, opts: &LoopOptions) -> Result<LoopDevice> {
        opts.validate()?;
        let file = backing
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .map_err(|e| io_err(Op::DupFd, None, &e))?;
        let meta = file.metadata().map_err(|e| io_err(Op::Fstat, None, &e))?;
        let kind = match meta.file_type() {
            t if t.is_file() => Kind::File,
            t if t.is_block_device() => Kind::BlockDevice,
            t if t.is_dir() => Kind::Dir,
            _ => Kind::Socket,
        };
        LoopDevice::attach_file(None, &file, kind, meta.len(), None, opts)
    }

    /// Binds `file`, of kind `kind` and (for a regular file) `len` bytes,
    /// with options the caller has validated, through `ctl` (an open
    /// `/dev/loop-control`) if given.
    pub(crate) fn attach_file(
        ctl: Option<BorrowedFd<'_>>,
        file: &File,
        kind: Kind,
        len: u64,
        name: Option<&Path>,
        opts: &LoopOptions,
    ) -> Result<LoopDevice> {
        let size = backing_size(file, kind, len, name)?;
        opts.check_fits(size, name)?;
        let dev = attach::attach(ctl, file.as_fd(), name, opts)?;
        Ok(LoopDevice {
            fd: dev.fd,
            number: dev.number,
            path: dev.path,
        })
    }

    /// Opens the bound loop device `/dev/loopN`, for its
    /// [`status`](Self::status) or to [`detach`](Self::detach) it.
    ///
    /// The device is opened read-only. While the handle is open the device
    /// stays bound: a detach by someone else, or autoclear, waits for its
    /// last user to close it. Dropping the handle closes it and nothing
    /// more (which unbinds an autoclear device that nobody else uses).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with `ENXIO` if `/dev/loopN` is not bound, `ENOENT` if
    /// it does not exist, or the error of the `open` or `ioctl`.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("loop-open");
    /// use mountfd::{LoopDevice, LoopOptions};
    ///
    /// let image = dir.join("disk.img");
    /// std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    /// let plain = LoopOptions { autoclear: false, ..LoopOptions::new() };
    /// let n = LoopDevice::attach(&image, &plain)?.number();
    /// // The handle is gone; the device is still bound. Find it again.
    /// let dev = LoopDevice::open(n)?;
    /// assert_eq!(dev.status()?.number, n);
    /// dev.detach()?;
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn open(number: u32) -> Result<LoopDevice> {
        match attach::open_bound(number)? {
            Some((fd, path, _)) => Ok(LoopDevice { fd, number, path }),
            None => Err(Error::os_at(
                Op::LoopGetStatus64,
                &PathBuf::from(format!("/dev/loop{number}")),
                libc::ENXIO,
            )),
        }
    }

    /// Wraps an open fd of a bound loop device, such as one a caller opened
    /// itself or received from another process.
    ///
    /// The device's number comes from `LOOP_GET_STATUS64` on the fd.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from the ioctl: `ENXIO` for a loop device that is not
    /// bound, `ENOTTY` for an fd that is no loop device.
    pub fn from_fd(fd: OwnedFd) -> Result<LoopDevice> {
        let st = attach::status(fd.as_fd(), Path::new("the fd"))?;
        Ok(LoopDevice {
            fd,
            number: st.number,
            path: st.path(),
        })
    }

    /// Every bound loop device, with its status, in the order of their
    /// numbers: what `losetup --list` shows.
    ///
    /// The devices are those `/sys/block` lists (or, without sysfs, the
    /// `/dev/loopN` nodes), each opened read-only and asked with
    /// `LOOP_GET_STATUS64`. A snapshot: devices can be bound and released
    /// at any time.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if a device cannot be opened (`EACCES` without the
    /// rights to), or neither `/sys/block` nor `/dev` can be read.
    ///
    /// # Examples
    ///
    /// See [`find`](Self::find).
    #[doc(alias = "losetup")]
    pub fn list() -> Result<Vec<LoopStatus>> {
        let mut out = Vec::new();
        for n in loop_numbers()? {
            if let Some((_, _, st)) = attach::open_bound(n)? {
                out.push(st);
            }
        }
        Ok(out)
    }

    /// The bound loop devices whose backing file is `backing`—the same
    /// inode, whatever path names it, or for a block device the same
    /// device—as `losetup --associated` shows them.
    ///
    /// `backing` is looked up once, without being opened (`O_PATH`): it may
    /// be any kind of file, and a FIFO or device is not touched; anything but
    /// a regular file or block device backs no loop device (an empty list).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] for a `backing` that does not exist (`ENOENT`), and as
    /// [`list`](Self::list).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("loop-find");
    /// use mountfd::{LoopDevice, LoopOptions};
    ///
    /// let image = dir.join("disk.img");
    /// std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    /// let dev = LoopDevice::attach(&image, &LoopOptions::new())?;
    ///
    /// let found = LoopDevice::find(&image)?;
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found[0].path(), dev.path());
    /// assert!(LoopDevice::list()?.iter().any(|st| st.number == dev.number()));
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "losetup")]
    pub fn find(backing: impl AsRef<Path>) -> Result<Vec<LoopStatus>> {
        let r = crate::path::resolve(raw::cwd(), backing.as_ref(), Follow::All)?;
        if !matches!(r.kind, Kind::File | Kind::BlockDevice) {
            return Ok(Vec::new());
        }
        let mut all = LoopDevice::list()?;
        all.retain(|st| st.backed_by(&r));
        Ok(all)
    }

    /// The device node, `/dev/loopN`.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device number `N` of `/dev/loopN`.
    #[must_use]
    pub fn number(&self) -> u32 {
        self.number
    }

    /// `ioctl(loop, LOOP_GET_STATUS64, &info)`—what the device shows now.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from the ioctl.
    #[doc(alias = "LOOP_GET_STATUS64")]
    pub fn status(&self) -> Result<LoopStatus> {
        attach::status(self.fd.as_fd(), &self.path)
    }

    /// `ioctl(loop, LOOP_CLR_FD)`—unbinds the device from its backing file
    /// and closes it.
    ///
    /// If the device is still in use, for example by a mounted filesystem,
    /// the kernel cannot unbind it yet: it marks the device autoclear
    /// instead, and unbinds it when the last user closes it (very old
    /// kernels refuse with `EBUSY`).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] from the ioctl. The fd is closed either way.
    ///
    /// # Examples
    ///
    /// See [`LoopDevice`].
    #[doc(alias = "LOOP_CLR_FD")]
    pub fn detach(self) -> Result<()> {
        attach::detach(self.fd.as_fd(), &self.path)
    }
}

/// Looks a backing file up once, without opening it (`O_PATH`), and checks
/// that it is a regular file or a block device. Anything else is refused
/// before it is opened: a FIFO's `open` would block, a character device's
/// `open` runs its driver (a watchdog arms, a tape rewinds, a tty becomes the
/// controlling terminal).
pub(crate) fn resolve_backing(path: &Path) -> Result<Resolved> {
    let r = crate::path::resolve(raw::cwd(), path, Follow::All)?;
    match r.kind {
        Kind::File | Kind::BlockDevice => Ok(r),
        other => Err(not_a_file(
            path,
            &format!("{}, not a regular file or block device", other.describe()),
        )),
    }
}

/// Opens the file `r` refers to for I/O, read-only or read-write, through
/// its `O_PATH` fd: no second lookup of `path`, which only names it in
/// errors.
pub(crate) fn open_resolved(r: &Resolved, read_only: bool, path: &Path) -> Result<File> {
    crate::path::reopen(r, !read_only, path).map(File::from)
}

fn not_a_file(path: &Path, what: &str) -> Error {
    Error::invalid("backing file", format!("{} is {what}", path.display()))
}

/// The size in bytes of a regular file (`len`, from its `fstat`) or of a
/// block device (from `file`).
pub(crate) fn backing_size(file: &File, kind: Kind, len: u64, name: Option<&Path>) -> Result<u64> {
    let name = || name.unwrap_or(Path::new("the fd"));
    match kind {
        Kind::File => Ok(len),
        Kind::BlockDevice => {
            // st_size is 0 for a block device; seeking to its end gives its
            // size without needing BLKGETSIZE64, whose number varies by
            // architecture.
            use std::io::{Seek, SeekFrom};
            let mut f: &File = file;
            let end = f
                .seek(SeekFrom::End(0))
                .map_err(|e| io_err(Op::Lseek, Some(name()), &e))?;
            f.seek(SeekFrom::Start(0))
                .map_err(|e| io_err(Op::Lseek, Some(name()), &e))?;
            Ok(end)
        }
        Kind::Dir => Err(not_a_file(name(), "a directory")),
        _ => Err(not_a_file(
            name(),
            "neither a regular file nor a block device",
        )),
    }
}

/// The numbers of the loop devices that may be bound: those in
/// `/sys/block` with a `loop` directory (which the driver adds while the
/// device is bound), or without sysfs every `/dev/loopN` node.
pub(crate) fn loop_numbers() -> Result<Vec<u32>> {
    fn numbers(dir: &Path) -> std::io::Result<Vec<u32>> {
        let mut out: Vec<u32> = std::fs::read_dir(dir)?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("loop")?.parse().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }
    match numbers(Path::new("/sys/block")) {
        Ok(mut all) => {
            all.retain(|n| Path::new(&format!("/sys/block/loop{n}/loop")).exists());
            Ok(all)
        }
        Err(_) => {
            numbers(Path::new("/dev")).map_err(|e| io_err(Op::Open, Some(Path::new("/dev")), &e))
        }
    }
}

fn io_err(op: Op, path: Option<&Path>, e: &std::io::Error) -> Error {
    Error::from_io(op, path, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_block_size(size: u32) -> Result<()> {
        LoopOptions {
            block_size: Some(size),
            ..LoopOptions::default()
        }
        .validate()
    }

    #[test]
    fn a_block_size_must_be_a_power_of_two_from_512_to_65536() {
        for ok in [512, 1024, 4096, 65536] {
            assert!(with_block_size(ok).is_ok(), "{ok}");
        }
        // Out of range though a power of two, a power of two's neighbour
        // inside the range, and both wrong at once.
        for bad in [256, 131072, 1000, 4097, 3, 200_000] {
            let e = with_block_size(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("power of two"), "{e}");
        }
        assert!(LoopOptions::default().validate().is_ok());
    }
}
