//! [`LoopDevice`]: a block device backed by a file, for filesystems that
//! only mount block devices.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::raw;
use crate::{Error, Result};

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
    /// The backing file is opened read-only when [`LoopOptions::read_only`]
    /// is set, read-write otherwise, and close-on-exec either way; the
    /// device keeps its own reference to it.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`], before any device is touched, for a
    ///   backing path that is a directory or neither a regular file nor a
    ///   block device, an offset at or past its end, or a bad block size;
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
        let (file, meta) = open_backing(backing, opts.read_only)?;
        LoopDevice::attach_file(&file, &meta, Some(backing), opts)
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
    pub fn attach_fd(backing: BorrowedFd<'_>, opts: &LoopOptions) -> Result<LoopDevice> {
        opts.validate()?;
        let file = backing
            .try_clone_to_owned()
            .map(File::from)
            .map_err(|e| io_err("fcntl(F_DUPFD_CLOEXEC)", None, &e))?;
        let meta = file.metadata().map_err(|e| io_err("fstat", None, &e))?;
        LoopDevice::attach_file(&file, &meta, None, opts)
    }

    /// Binds `file`, whose `fstat` is `meta`, with options the caller has
    /// validated.
    pub(crate) fn attach_file(
        file: &File,
        meta: &std::fs::Metadata,
        name: Option<&Path>,
        opts: &LoopOptions,
    ) -> Result<LoopDevice> {
        let size = backing_size(file, meta, name)?;
        opts.check_fits(size, name)?;
        let dev = raw::loop_dev::attach(file.as_fd(), name, opts)?;
        Ok(LoopDevice {
            fd: dev.fd,
            number: dev.number,
            path: dev.path,
        })
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
        raw::loop_dev::status(self.fd.as_fd(), &self.path)
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
        raw::loop_dev::detach(self.fd.as_fd(), &self.path)
    }
}

/// Opens a backing file, read-only or read-write, and `fstat`s it.
pub(crate) fn open_backing(path: &Path, read_only: bool) -> Result<(File, std::fs::Metadata)> {
    // std opens with O_CLOEXEC.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(!read_only)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // Opening a directory for writing fails with EISDIR; say so
            // the same way as for a directory opened read-only.
            Some(libc::EISDIR) => not_a_file(path, "a directory"),
            _ => io_err("open", Some(path), &e),
        })?;
    // The one fstat of the attach path: `backing_size` checks the kind.
    let meta = file
        .metadata()
        .map_err(|e| io_err("fstat", Some(path), &e))?;
    Ok((file, meta))
}

fn not_a_file(path: &Path, what: &str) -> Error {
    Error::invalid("backing file", format!("{} is {what}", path.display()))
}

/// The size in bytes of a regular file or block device.
fn backing_size(file: &File, meta: &std::fs::Metadata, name: Option<&Path>) -> Result<u64> {
    if meta.file_type().is_block_device() {
        // st_size is 0 for a block device; seeking to its end gives its size
        // without needing BLKGETSIZE64, whose number varies by architecture.
        use std::io::{Seek, SeekFrom};
        let mut f: &File = file;
        let end = f
            .seek(SeekFrom::End(0))
            .map_err(|e| io_err("lseek", name, &e))?;
        f.seek(SeekFrom::Start(0))
            .map_err(|e| io_err("lseek", name, &e))?;
        return Ok(end);
    }
    if meta.is_dir() {
        return Err(not_a_file(
            name.unwrap_or(Path::new("the fd")),
            "a directory",
        ));
    }
    if !meta.is_file() {
        return Err(not_a_file(
            name.unwrap_or(Path::new("the fd")),
            "neither a regular file nor a block device",
        ));
    }
    Ok(meta.len())
}

fn io_err(op: &'static str, path: Option<&Path>, e: &std::io::Error) -> Error {
    Error::Os {
        op,
        path: path.map(Path::to_owned),
        errno: e.raw_os_error().unwrap_or(libc::EIO),
        kernel_message: None,
    }
}
