//! The crate's error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::idmap::IdMapError;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `mountfd`.
///
/// A failed system call is an [`Error::Os`] that names the call, the path it
/// worked on (when there was one), the errno and, for filesystem contexts,
/// the message the kernel logged on the context fd. Bad input is caught
/// before any system call and reported as [`Error::InvalidIdMap`] or
/// [`Error::InvalidInput`].
///
/// # Examples
///
/// ```
/// use mountfd::{Error, IdMap};
///
/// let err = "0:100000:0".parse::<IdMap>().unwrap_err();
/// assert!(matches!(err, Error::InvalidIdMap(_)));
/// assert_eq!(err.errno(), None);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{}", OsDisplay { op, path: path.as_deref(), errno: *errno, kernel_message: kernel_message.as_deref() })]
    Os {
        /// The operation, named after the system call or ioctl (`"open_tree_attr"`).
        op: &'static str,
        /// The path the call worked on, if any.
        path: Option<PathBuf>,
        /// The raw errno (`libc::EPERM`, ...).
        errno: i32,
        /// What the kernel logged on a filesystem context fd, if anything.
        kernel_message: Option<String>,
    },

    /// An id map broke one of the kernel's rules.
    #[error("invalid id map: {0}")]
    InvalidIdMap(#[from] IdMapError),

    /// An argument was rejected before any system call was made.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// The argument (`"path"`, `"fstype"`, `"offset"`, ...).
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// The source is already id-mapped and the kernel lacks `open_tree_attr`
    /// (Linux 6.15+), the only call that can give such a mount a new map.
    #[error(
        "{}: the source is already id-mapped; re-mapping it needs open_tree_attr (Linux 6.15+), \
         which this kernel lacks ({})",
        path.display(),
        io::Error::from_raw_os_error(*errno)
    )]
    RemapUnsupported {
        /// The source path.
        path: PathBuf,
        /// The errno the fallback path got (`EPERM`).
        errno: i32,
    },

    /// A loop device accepted its configuration but does not show it.
    #[error("{}: {setting} was not applied (asked {asked}, device has {actual})", device.display())]
    LoopMismatch {
        /// The loop device node.
        device: PathBuf,
        /// The setting that differs (`"offset"`, `"read-only"`, ...).
        setting: &'static str,
        /// The value asked for.
        asked: u64,
        /// The value the device reports.
        actual: u64,
    },

    /// The image is already bound to a loop device that a new mount of it
    /// cannot share: the device covers a different but overlapping range of
    /// the image (a second device there would put a second superblock on the
    /// same blocks), or it is read-only and read-write was asked for.
    ///
    /// From [`mount_image`](crate::mount_image), which reuses a device bound
    /// to exactly the range asked for, as `mount -o loop` does.
    #[error("{}", LoopInUseDisplay { device, image, offset: *offset, size_limit: *size_limit, errno: *errno })]
    LoopInUse {
        /// The loop device node already bound to the image.
        device: PathBuf,
        /// The image, as the caller named it.
        image: PathBuf,
        /// Where that device starts in the image, in bytes.
        offset: u64,
        /// That device's size limit in bytes; 0 for up to the end.
        size_limit: u64,
        /// `EBUSY` for an overlapping range, `EROFS` for a read-only device
        /// where read-write was asked for.
        errno: i32,
    },

    /// The operation does not exist on this platform (anything but Linux).
    #[error("{op} is not supported on this platform")]
    Unsupported {
        /// The operation that was asked for.
        op: &'static str,
    },
}

struct OsDisplay<'a> {
    op: &'static str,
    path: Option<&'a Path>,
    errno: i32,
    kernel_message: Option<&'a str>,
}

impl fmt::Display for OsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op)?;
        if let Some(path) = self.path {
            write!(f, " {}", path.display())?;
        }
        write!(f, ": {}", io::Error::from_raw_os_error(self.errno))?;
        if let Some(msg) = self.kernel_message {
            write!(f, " (kernel: {msg})")?;
        }
        Ok(())
    }
}

struct LoopInUseDisplay<'a> {
    device: &'a Path,
    image: &'a Path,
    offset: u64,
    size_limit: u64,
    errno: i32,
}

impl fmt::Display for LoopInUseDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is already bound to {} (offset {}, size limit {}), ",
            self.image.display(),
            self.device.display(),
            self.offset,
            self.size_limit
        )?;
        if self.errno == libc::EROFS {
            f.write_str("read-only, which cannot back a read-write mount")
        } else {
            f.write_str(
                "a range overlapping the one asked for: a second device there would \
                 put a second superblock on the same blocks",
            )
        }
    }
}

impl Error {
    /// The errno of a failed system call, or `None` for errors caught before
    /// any call.
    #[must_use]
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os { errno, .. }
            | Error::RemapUnsupported { errno, .. }
            | Error::LoopInUse { errno, .. } => Some(*errno),
            Error::Unsupported { .. } => Some(libc::ENOSYS),
            _ => None,
        }
    }

    /// The same as [`Error::errno`], named after [`std::io::Error::raw_os_error`].
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno()
    }

    /// The message the kernel logged on a filesystem context, if there was one.
    #[must_use]
    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            Error::Os { kernel_message, .. } => kernel_message.as_deref(),
            _ => None,
        }
    }

    /// The path the failed operation worked on, if any.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Os { path, .. } => path.as_deref(),
            Error::RemapUnsupported { path, .. } => Some(path),
            Error::LoopMismatch { device, .. } | Error::LoopInUse { device, .. } => Some(device),
            _ => None,
        }
    }

    pub(crate) fn os(op: &'static str, errno: i32) -> Self {
        Error::Os {
            op,
            path: None,
            errno,
            kernel_message: None,
        }
    }

    pub(crate) fn os_at(op: &'static str, path: &Path, errno: i32) -> Self {
        Error::Os {
            op,
            path: Some(path.to_owned()),
            errno,
            kernel_message: None,
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// Attaches a path to an `Os` error that has none yet.
    pub(crate) fn with_path(mut self, p: &Path) -> Self {
        if let Error::Os {
            path: path @ None, ..
        } = &mut self
        {
            *path = Some(p.to_owned());
        }
        self
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::InvalidIdMap(_) | Error::InvalidInput { .. } => io::ErrorKind::InvalidInput,
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            _ => match e.errno() {
                Some(errno) => io::Error::from_raw_os_error(errno).kind(),
                None => io::ErrorKind::Other,
            },
        };
        io::Error::new(kind, e)
    }
}
