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

    /// `/proc` cannot show the child that owns a new user namespace while its
    /// maps are written: it is not procfs, or it belongs to a pid namespace
    /// in which the caller's children are not visible (`unshare -p -f`
    /// without a new `/proc`, a host's `/proc` in a container). No namespace
    /// is returned rather than one whose maps may be another process's.
    #[error("{}: {reason}", path.display())]
    ProcUnusable {
        /// The path that could not be used (`/proc`, `/proc/PID`).
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
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

impl Error {
    /// The errno of a failed system call, or `None` for errors caught before
    /// any call.
    #[must_use]
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os { errno, .. } | Error::RemapUnsupported { errno, .. } => Some(*errno),
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
            Error::LoopMismatch { device, .. } => Some(device),
            Error::ProcUnusable { path, .. } => Some(path),
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
