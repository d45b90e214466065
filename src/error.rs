//! The crate's error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::idmap::IdMapError;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `mountfd`.
///
/// A failed system call is an [`Error::Os`] that names the call ([`Op`]), the
/// path it worked on (when there was one: the caller's own path, never an
/// option key or a filesystem type, which have fields of their own), the
/// errno (also its [`source`](std::error::Error::source)) and, for filesystem
/// contexts, the message the kernel logged on the context fd. Bad input is
/// caught before any system call and reported as [`Error::InvalidIdMap`] or
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
    #[error("{}", OsDisplay(self))]
    #[non_exhaustive]
    Os {
        /// The call that failed.
        op: Op,
        /// The caller's path the call worked on (the image, the layer, the
        /// target), if any.
        path: Option<PathBuf>,
        /// The filesystem type of the context, for `fsopen`, `fsconfig` and
        /// `fsmount` failures.
        fstype: Option<String>,
        /// The option key an `fsconfig` call set (`"source"`, `"lowerdir+"`).
        key: Option<String>,
        /// The errno.
        #[source]
        errno: Errno,
        /// What the kernel logged on a filesystem context fd, if anything.
        kernel_message: Option<String>,
        /// What to try, when the crate can tell (the call needs
        /// `CAP_SYS_ADMIN`; the kernel's log has more).
        hint: Option<&'static str>,
    },

    /// An id map broke one of the kernel's rules.
    #[error("invalid id map: {0}")]
    InvalidIdMap(#[from] IdMapError),

    /// An argument was rejected before any system call was made.
    #[error("invalid {what}: {reason}")]
    #[non_exhaustive]
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
         which this kernel lacks ({errno})",
        path.display()
    )]
    #[non_exhaustive]
    RemapUnsupported {
        /// The source path.
        path: PathBuf,
        /// The errno the fallback path got (`EPERM`).
        #[source]
        errno: Errno,
    },

    /// A loop device accepted its configuration but does not show it.
    #[error("{}: {setting} was not applied (asked {asked}, device has {actual})", device.display())]
    #[non_exhaustive]
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
    #[non_exhaustive]
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
        errno: Errno,
    },

    /// `/proc` cannot show the child that owns a new user namespace while its
    /// maps are written: it is not procfs, or it belongs to a pid namespace
    /// in which the caller's children are not visible (`unshare -p -f`
    /// without a new `/proc`, a host's `/proc` in a container). No namespace
    /// is returned rather than one whose maps may be another process's.
    #[error("{}: {reason}", path.display())]
    #[non_exhaustive]
    ProcUnusable {
        /// The path that could not be used (`/proc`, `/proc/PID`).
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// `path` is not a mount point (not the root of a mount): from
    /// [`unmount`](crate::unmount), [`Mount::open`](crate::Mount::open),
    /// [`mounts_under`](crate::mounts_under) and
    /// [`unmount_tree`](crate::unmount_tree). Its errno is `EINVAL`, what
    /// `umount2` says.
    #[error("{}: not a mount point", path.display())]
    #[non_exhaustive]
    NotMounted {
        /// The path, as the caller gave it.
        path: PathBuf,
    },

    /// [`Mount::unmount`](crate::Mount::unmount) found another mount on top
    /// of the mount at `path` (stacked on it), or the mount no longer at
    /// `path`: unmounting there would take another mount, so nothing was
    /// unmounted. Its errno is `EBUSY`.
    #[error("{}: another mount is on top of this one; nothing was unmounted", path.display())]
    #[non_exhaustive]
    Covered {
        /// The mount's mount point.
        path: PathBuf,
    },

    /// The running kernel is too old for what was asked, which the crate
    /// does not emulate with a non-atomic substitute: assembling a tree
    /// inside a detached one ([`DetachedMount::attach_in`](crate::DetachedMount::attach_in),
    /// Linux 6.15), swapping a mount in one step
    /// ([`DetachedMount::replace`](crate::DetachedMount::replace), Linux 6.5).
    #[error("{what} needs Linux {version} or later; this kernel refused it ({errno})")]
    #[non_exhaustive]
    KernelTooOld {
        /// What was asked (`"MOVE_MOUNT_BENEATH"`, ...).
        what: &'static str,
        /// The first Linux release that has it (`"6.5"`).
        version: &'static str,
        /// The errno the kernel gave (`EINVAL`).
        #[source]
        errno: Errno,
    },

    /// The operation does not exist on this platform (anything but Linux).
    #[error("{op} is not supported on this platform")]
    #[non_exhaustive]
    Unsupported {
        /// The operation that was asked for.
        op: Op,
    },
}

/// An errno: the reason a system call gave for failing.
///
/// The [`source`](std::error::Error::source) of [`Error::Os`] and
/// [`Error::RemapUnsupported`]; it displays as the C library's message.
///
/// # Examples
///
/// ```
/// let e = mountfd::Errno::from_raw(libc::EPERM);
/// assert_eq!(e.raw_os_error(), libc::EPERM);
/// assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::PermissionDenied);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

impl Errno {
    /// The errno with this number (`libc::EPERM`, ...).
    #[must_use]
    pub const fn from_raw(raw: i32) -> Self {
        Errno(raw)
    }

    /// Its number.
    #[must_use]
    pub const fn raw_os_error(self) -> i32 {
        self.0
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Errno({}: {})",
            self.0,
            io::Error::from_raw_os_error(self.0)
        )
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&io::Error::from_raw_os_error(self.0), f)
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.0)
    }
}

macro_rules! ops {
    ($($(#[$doc:meta])* $v:ident => $name:literal,)*) => {
        /// The system call or ioctl request an [`Error::Os`] names.
        ///
        /// Its [`Display`](fmt::Display) form is the call as written in its
        /// man page (`"open_tree_attr"`, `"ioctl(LOOP_CONFIGURE)"`).
        ///
        /// # Examples
        ///
        /// ```
        /// assert_eq!(mountfd::Op::OpenTreeAttr.to_string(), "open_tree_attr");
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Op {
            $($(#[$doc])* #[doc = concat!("`", $name, "`")] $v,)*
        }

        impl Op {
            /// The call's name, as its [`Display`](fmt::Display) form.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$v => $name,)*
                }
            }
        }
    };
}

ops! {
    Open => "open",
    Fstat => "fstat",
    Fstatfs => "fstatfs",
    Read => "read",
    Write => "write",
    Lseek => "lseek",
    DupFd => "fcntl(F_DUPFD_CLOEXEC)",
    Flock => "flock",
    OpenTree => "open_tree",
    OpenTreeAttr => "open_tree_attr",
    MountSetattr => "mount_setattr",
    MoveMount => "move_mount",
    Fsopen => "fsopen",
    FsconfigSetFlag => "fsconfig(FSCONFIG_SET_FLAG)",
    FsconfigSetString => "fsconfig(FSCONFIG_SET_STRING)",
    FsconfigSetFd => "fsconfig(FSCONFIG_SET_FD)",
    FsconfigSetPath => "fsconfig(FSCONFIG_SET_PATH)",
    FsconfigCreate => "fsconfig(FSCONFIG_CMD_CREATE)",
    Fsmount => "fsmount",
    CloneUserNs => "clone(CLONE_NEWUSER)",
    SignalMask => "rt_sigprocmask",
    NsGetNstype => "ioctl(NS_GET_NSTYPE)",
    PidfdGetUserNamespace => "ioctl(PIDFD_GET_USER_NAMESPACE)",
    LoopCtlGetFree => "ioctl(LOOP_CTL_GET_FREE)",
    LoopConfigure => "ioctl(LOOP_CONFIGURE)",
    LoopSetFd => "ioctl(LOOP_SET_FD)",
    LoopSetStatus64 => "ioctl(LOOP_SET_STATUS64)",
    LoopGetStatus64 => "ioctl(LOOP_GET_STATUS64)",
    LoopSetDirectIo => "ioctl(LOOP_SET_DIRECT_IO)",
    LoopSetBlockSize => "ioctl(LOOP_SET_BLOCK_SIZE)",
    LoopClrFd => "ioctl(LOOP_CLR_FD)",
    BlkSszGet => "ioctl(BLKSSZGET)",
    Statx => "statx",
    Statmount => "statmount",
    Listmount => "listmount",
    Umount2 => "umount2",
    Readlink => "readlink",
    Fspick => "fspick",
    Mkdirat => "mkdirat",
    FsconfigReconfigure => "fsconfig(FSCONFIG_CMD_RECONFIGURE)",
}

impl Op {
    /// Whether the call works on a filesystem context, whose fd carries the
    /// kernel's messages.
    const fn is_fs_context(self) -> bool {
        matches!(
            self,
            Op::FsconfigSetFlag
                | Op::FsconfigSetString
                | Op::FsconfigSetFd
                | Op::FsconfigSetPath
                | Op::FsconfigCreate
                | Op::FsconfigReconfigure
                | Op::Fsmount
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Said of a privileged call that failed with `EPERM` in a process without
/// `CAP_SYS_ADMIN`.
const NEEDS_CAP_SYS_ADMIN: &str =
    "this needs CAP_SYS_ADMIN (run as root), which the calling process lacks";

/// Said when a filesystem context failed without a message on its fd.
const SEE_DMESG: &str = "the kernel logged nothing on the context; see dmesg for its log";

struct OsDisplay<'a>(&'a Error);

impl fmt::Display for OsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Error::Os {
            op,
            path,
            fstype,
            key,
            errno,
            kernel_message,
            hint,
        } = self.0
        else {
            return Ok(());
        };
        write!(f, "{op}")?;
        if let Some(path) = path {
            write!(f, " {}", path.display())?;
        }
        match (fstype, key) {
            (Some(t), Some(k)) => write!(f, " ({t}, option {k})")?,
            (Some(t), None) => write!(f, " ({t})")?,
            (None, Some(k)) => write!(f, " (option {k})")?,
            (None, None) => {}
        }
        write!(f, ": {errno}")?;
        if let Some(msg) = kernel_message {
            write!(f, " (kernel: {msg})")?;
        }
        if let Some(hint) = hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

struct LoopInUseDisplay<'a> {
    device: &'a Path,
    image: &'a Path,
    offset: u64,
    size_limit: u64,
    errno: Errno,
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
        if self.errno.raw_os_error() == libc::EROFS {
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
            | Error::LoopInUse { errno, .. }
            | Error::KernelTooOld { errno, .. } => Some(errno.raw_os_error()),
            Error::Unsupported { .. } => Some(libc::ENOSYS),
            Error::NotMounted { .. } => Some(libc::EINVAL),
            Error::Covered { .. } => Some(libc::EBUSY),
            _ => None,
        }
    }

    /// The same as [`Error::errno`], named after [`std::io::Error::raw_os_error`].
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno()
    }

    /// The call that failed, for [`Error::Os`] and [`Error::Unsupported`].
    #[must_use]
    pub fn op(&self) -> Option<Op> {
        match self {
            Error::Os { op, .. } | Error::Unsupported { op } => Some(*op),
            _ => None,
        }
    }

    /// The message the kernel logged on a filesystem context, if there was one.
    #[must_use]
    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            Error::Os { kernel_message, .. } => kernel_message.as_deref(),
            _ => None,
        }
    }

    /// The caller's path the failed operation worked on, if any: an image, a
    /// layer, a target or a source, never an option key or a filesystem type.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Os { path, .. } => path.as_deref(),
            Error::RemapUnsupported { path, .. } => Some(path),
            Error::LoopMismatch { device, .. } | Error::LoopInUse { device, .. } => Some(device),
            Error::ProcUnusable { path, .. } => Some(path),
            Error::NotMounted { path } | Error::Covered { path } => Some(path),
            _ => None,
        }
    }

    /// The filesystem type of a failed filesystem-context call.
    #[must_use]
    pub fn fstype(&self) -> Option<&str> {
        match self {
            Error::Os { fstype, .. } => fstype.as_deref(),
            _ => None,
        }
    }

    /// The option key of a failed `fsconfig` call.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Os { key, .. } => key.as_deref(),
            _ => None,
        }
    }

    /// The one way an [`Error::Os`] is made: the call and its errno; the
    /// rest is added with [`at`](Self::at), [`in_fs`](Self::in_fs),
    /// [`for_key`](Self::for_key) and [`with_kernel_message`](Self::with_kernel_message).
    pub(crate) fn os(op: Op, errno: i32) -> Self {
        let hint = if errno == libc::EPERM && !crate::raw::has_cap_sys_admin() {
            Some(NEEDS_CAP_SYS_ADMIN)
        } else if op.is_fs_context() {
            Some(SEE_DMESG)
        } else {
            None
        };
        Error::Os {
            op,
            path: None,
            fstype: None,
            key: None,
            errno: Errno(errno),
            kernel_message: None,
            hint,
        }
    }

    /// [`os`](Self::os) from a raw call's errno. Where the platform has no
    /// mount API (every raw call fails with `ENOSYS`), [`Error::Unsupported`].
    pub(crate) fn sys(op: Op, e: crate::raw::Errno) -> Self {
        if cfg!(target_os = "linux") {
            Self::os(op, e.raw_os_error())
        } else {
            Error::Unsupported { op }
        }
    }

    /// [`sys`](Self::sys) about the caller's path, if there is one.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // its users are Linux's
    pub(crate) fn sys_at(op: Op, path: Option<&Path>, e: crate::raw::Errno) -> Self {
        Self::sys(op, e).at_opt(path)
    }

    /// [`sys`](Self::sys) from one of the public raw calls, which return a
    /// `std::io::Error`.
    pub(crate) fn sys_io(op: Op, path: Option<&Path>, e: &io::Error) -> Self {
        if cfg!(target_os = "linux") {
            Self::from_io(op, path, e)
        } else {
            Error::Unsupported { op }
        }
    }

    /// [`os`](Self::os) about the caller's path `p`.
    pub(crate) fn os_at(op: Op, p: &Path, errno: i32) -> Self {
        Self::os(op, errno).at(p)
    }

    /// [`os`](Self::os) from what a `std` call returned.
    pub(crate) fn from_io(op: Op, path: Option<&Path>, e: &io::Error) -> Self {
        Self::os(op, e.raw_os_error().unwrap_or(libc::EIO)).at_opt(path)
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// Names the caller's path an `Os` error is about, unless it names one
    /// already.
    pub(crate) fn at(mut self, p: &Path) -> Self {
        if let Error::Os {
            path: path @ None, ..
        } = &mut self
        {
            *path = Some(p.to_owned());
        }
        self
    }

    /// [`at`](Self::at) when there is a path.
    pub(crate) fn at_opt(self, p: Option<&Path>) -> Self {
        match p {
            Some(p) => self.at(p),
            None => self,
        }
    }

    /// Names the filesystem type of an `Os` error.
    pub(crate) fn in_fs(mut self, t: &str) -> Self {
        if let Error::Os { fstype, .. } = &mut self {
            *fstype = Some(t.to_owned());
        }
        self
    }

    /// Names the option key of an `Os` error.
    // Only the Linux backend sets option keys and kernel messages.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn for_key(mut self, k: &str) -> Self {
        if let Error::Os { key, .. } = &mut self {
            *key = Some(k.to_owned());
        }
        self
    }

    /// Adds what the kernel logged on a filesystem context; when it logged
    /// something, the pointer to `dmesg` goes.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn with_kernel_message(mut self, msg: Option<String>) -> Self {
        if let Error::Os {
            kernel_message,
            hint,
            ..
        } = &mut self
        {
            if msg.is_some() && *hint == Some(SEE_DMESG) {
                *hint = None;
            }
            *kernel_message = msg;
        }
        self
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::InvalidIdMap(_) | Error::InvalidInput { .. } => io::ErrorKind::InvalidInput,
            Error::Unsupported { .. } | Error::KernelTooOld { .. } => io::ErrorKind::Unsupported,
            _ => match e.errno() {
                Some(errno) => io::Error::from_raw_os_error(errno).kind(),
                None => io::ErrorKind::Other,
            },
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;

    fn os_err() -> Error {
        Error::Os {
            op: Op::FsconfigSetString,
            path: None,
            fstype: None,
            key: None,
            errno: Errno(libc::EINVAL),
            kernel_message: None,
            hint: None,
        }
    }

    fn mismatch() -> Error {
        Error::LoopMismatch {
            device: "/dev/loop7".into(),
            setting: "offset",
            asked: 1,
            actual: 0,
        }
    }

    fn in_use(errno: i32) -> Error {
        Error::LoopInUse {
            device: "/dev/loop3".into(),
            image: "/img".into(),
            offset: 4096,
            size_limit: 0,
            errno: Errno(errno),
        }
    }

    /// Runs `f` on a thread without `CAP_SYS_ADMIN` in its effective set
    /// (capabilities are per thread).
    fn without_cap_sys_admin<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|s| {
            s.spawn(|| {
                use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
                let mut caps = capabilities(None).unwrap();
                caps.effective.remove(CapabilitySet::SYS_ADMIN);
                set_capabilities(None, caps).unwrap();
                assert!(!crate::raw::has_cap_sys_admin());
                f()
            })
            .join()
            .unwrap()
        })
    }

    #[test]
    fn errno_displays_and_converts_as_the_c_librarys() {
        let e = Errno::from_raw(libc::ENOENT);
        assert_eq!(e.raw_os_error(), libc::ENOENT);
        let io = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(e.to_string(), io.to_string());
        assert_eq!(format!("{e:?}"), format!("Errno({}: {io})", libc::ENOENT));
        assert_eq!(io::Error::from(e).raw_os_error(), Some(libc::ENOENT));
        assert_ne!(Errno::from_raw(libc::EPERM), e);
    }

    #[test]
    fn ops_display_their_names_and_only_context_calls_are_context_calls() {
        assert_eq!(Op::OpenTreeAttr.to_string(), "open_tree_attr");
        assert_eq!(Op::LoopConfigure.to_string(), "ioctl(LOOP_CONFIGURE)");
        assert_eq!(Op::Fsmount.name(), "fsmount");
        for op in [
            Op::FsconfigSetFlag,
            Op::FsconfigSetString,
            Op::FsconfigSetFd,
            Op::FsconfigSetPath,
            Op::FsconfigCreate,
            Op::Fsmount,
        ] {
            assert!(op.is_fs_context(), "{op}");
        }
        for op in [
            Op::Fsopen,
            Op::OpenTree,
            Op::MountSetattr,
            Op::Open,
            Op::LoopConfigure,
        ] {
            assert!(!op.is_fs_context(), "{op}");
        }
    }

    #[test]
    fn os_errors_display_every_field_they_have() {
        let e = Error::os(Op::MoveMount, libc::ENOENT);
        assert_eq!(
            e.to_string(),
            format!("move_mount: {}", Errno(libc::ENOENT))
        );
        let e = e.at(Path::new("/t"));
        assert_eq!(
            e.to_string(),
            format!("move_mount /t: {}", Errno(libc::ENOENT))
        );
        let einval = Errno(libc::EINVAL);
        let base = || os_err().at(Path::new("/l"));
        assert_eq!(
            base().in_fs("overlay").for_key("lowerdir+").to_string(),
            format!("fsconfig(FSCONFIG_SET_STRING) /l (overlay, option lowerdir+): {einval}")
        );
        assert_eq!(
            base().in_fs("overlay").to_string(),
            format!("fsconfig(FSCONFIG_SET_STRING) /l (overlay): {einval}")
        );
        assert_eq!(
            base().for_key("size").to_string(),
            format!("fsconfig(FSCONFIG_SET_STRING) /l (option size): {einval}")
        );
        assert_eq!(
            base().with_kernel_message(Some("bad".into())).to_string(),
            format!("fsconfig(FSCONFIG_SET_STRING) /l: {einval} (kernel: bad)")
        );
        // A context call without a message points at dmesg.
        assert_eq!(
            Error::os(Op::FsconfigCreate, libc::EINVAL).to_string(),
            format!("fsconfig(FSCONFIG_CMD_CREATE): {einval}; {SEE_DMESG}")
        );
    }

    #[test]
    fn the_other_variants_display_what_went_wrong() {
        assert_eq!(
            mismatch().to_string(),
            "/dev/loop7: offset was not applied (asked 1, device has 0)"
        );
        assert_eq!(
            in_use(libc::EROFS).to_string(),
            "/img is already bound to /dev/loop3 (offset 4096, size limit 0), \
             read-only, which cannot back a read-write mount"
        );
        assert_eq!(
            in_use(libc::EBUSY).to_string(),
            "/img is already bound to /dev/loop3 (offset 4096, size limit 0), \
             a range overlapping the one asked for: a second device there would \
             put a second superblock on the same blocks"
        );
        let remap = Error::RemapUnsupported {
            path: "/src".into(),
            errno: Errno(libc::EPERM),
        };
        assert!(remap
            .to_string()
            .starts_with("/src: the source is already id-mapped"));
        let proc = Error::ProcUnusable {
            path: "/proc".into(),
            reason: "not a procfs mount",
        };
        assert_eq!(proc.to_string(), "/proc: not a procfs mount");
        let unsupported = Error::Unsupported { op: Op::Fsopen };
        assert_eq!(
            unsupported.to_string(),
            "fsopen is not supported on this platform"
        );
        assert_eq!(
            Error::invalid("offset", "too big").to_string(),
            "invalid offset: too big"
        );
    }

    #[test]
    fn accessors_give_each_variants_own_fields() {
        let os = os_err()
            .at(Path::new("/img"))
            .in_fs("ext4")
            .for_key("source")
            .with_kernel_message(Some("no".into()));
        assert_eq!(os.errno(), Some(libc::EINVAL));
        assert_eq!(os.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(os.op(), Some(Op::FsconfigSetString));
        assert_eq!(os.path(), Some(Path::new("/img")));
        assert_eq!(os.fstype(), Some("ext4"));
        assert_eq!(os.key(), Some("source"));
        assert_eq!(os.kernel_message(), Some("no"));

        let remap = Error::RemapUnsupported {
            path: "/src".into(),
            errno: Errno(libc::EPERM),
        };
        assert_eq!(remap.errno(), Some(libc::EPERM));
        assert_eq!(remap.path(), Some(Path::new("/src")));
        assert_eq!(in_use(libc::EBUSY).errno(), Some(libc::EBUSY));
        assert_eq!(in_use(libc::EBUSY).path(), Some(Path::new("/dev/loop3")));
        assert_eq!(mismatch().path(), Some(Path::new("/dev/loop7")));
        let proc = Error::ProcUnusable {
            path: "/proc".into(),
            reason: "r",
        };
        assert_eq!(proc.path(), Some(Path::new("/proc")));
        let unsupported = Error::Unsupported { op: Op::Fsopen };
        assert_eq!(unsupported.errno(), Some(libc::ENOSYS));
        assert_eq!(unsupported.op(), Some(Op::Fsopen));
        // What umount2 says for each: EINVAL on a non-mount point, EBUSY
        // where another mount is on top.
        let not_mounted = Error::NotMounted { path: "/m".into() };
        let covered = Error::Covered { path: "/c".into() };
        assert_eq!(not_mounted.errno(), Some(libc::EINVAL));
        assert_eq!(covered.errno(), Some(libc::EBUSY));
        assert_eq!(not_mounted.path(), Some(Path::new("/m")));
        assert_eq!(covered.path(), Some(Path::new("/c")));
        // Errors caught before any call have none of them.
        let invalid = Error::invalid("offset", "too big");
        for e in [&invalid, &mismatch(), &proc, &remap, &unsupported] {
            assert_eq!(e.kernel_message(), None, "{e}");
            assert_eq!(e.fstype(), None, "{e}");
            assert_eq!(e.key(), None, "{e}");
        }
        for e in [&invalid, &mismatch(), &proc] {
            assert_eq!(e.errno(), None, "{e}");
            assert_eq!(e.raw_os_error(), None, "{e}");
            assert_eq!(e.op(), None, "{e}");
        }
        assert_eq!(invalid.path(), None);
        assert_eq!(unsupported.path(), None);
        assert_eq!(remap.op(), None);
        assert_eq!(in_use(libc::EBUSY).op(), None);
    }

    #[test]
    fn builders_fill_only_an_os_errors_fields_and_keep_a_first_path() {
        let e = os_err().at(Path::new("/first")).at(Path::new("/second"));
        assert_eq!(e.path(), Some(Path::new("/first")));
        let e = Error::os_at(Op::Open, Path::new("/p"), libc::ENOENT);
        assert_eq!((e.op(), e.path()), (Some(Op::Open), Some(Path::new("/p"))));
        for e in [mismatch(), Error::invalid("x", "y")] {
            let before = e.to_string();
            let after = e
                .at(Path::new("/x"))
                .in_fs("ext4")
                .for_key("k")
                .with_kernel_message(Some("m".into()));
            assert_eq!(after.to_string(), before);
        }
        // From an io::Error: its errno, or EIO when it has none.
        let io = io::Error::from_raw_os_error(libc::EACCES);
        let e = Error::from_io(Op::Open, Some(Path::new("/p")), &io);
        assert_eq!(
            (e.errno(), e.path()),
            (Some(libc::EACCES), Some(Path::new("/p")))
        );
        let e = Error::from_io(Op::Read, None, &io::Error::other("no errno"));
        assert_eq!((e.errno(), e.path()), (Some(libc::EIO), None));
    }

    #[test]
    fn hints_say_what_to_do_and_a_kernel_message_replaces_only_the_dmesg_one() {
        let hint = |e: &Error| match e {
            Error::Os { hint, .. } => *hint,
            _ => unreachable!(),
        };
        if crate::raw::has_cap_sys_admin() {
            // With CAP_SYS_ADMIN an EPERM is not blamed on privilege.
            assert_eq!(hint(&Error::os(Op::OpenTree, libc::EPERM)), None);
        }
        assert_eq!(hint(&Error::os(Op::OpenTree, libc::ENOENT)), None);
        let ctx = Error::os(Op::FsconfigCreate, libc::EINVAL);
        assert_eq!(hint(&ctx), Some(SEE_DMESG));
        assert_eq!(hint(&ctx.with_kernel_message(None)), Some(SEE_DMESG));
        let ctx = Error::os(Op::FsconfigCreate, libc::EINVAL);
        let ctx = ctx.with_kernel_message(Some("m".into()));
        assert_eq!((hint(&ctx), ctx.kernel_message()), (None, Some("m")));
        without_cap_sys_admin(|| {
            assert_eq!(
                hint(&Error::os(Op::OpenTree, libc::EPERM)),
                Some(NEEDS_CAP_SYS_ADMIN)
            );
            assert_eq!(hint(&Error::os(Op::OpenTree, libc::EACCES)), None);
            // The privilege hint outranks the dmesg one and stays.
            let e = Error::os(Op::Fsmount, libc::EPERM);
            assert_eq!(hint(&e), Some(NEEDS_CAP_SYS_ADMIN));
            let e = e.with_kernel_message(Some("m".into()));
            assert_eq!(hint(&e), Some(NEEDS_CAP_SYS_ADMIN));
            assert!(
                e.to_string().ends_with(&format!("; {NEEDS_CAP_SYS_ADMIN}")),
                "{e}"
            );
        });
    }

    #[test]
    fn io_error_kinds_follow_the_errno_or_the_kind_of_input() {
        let kind = |e: Error| io::Error::from(e).kind();
        let bad_map = "0:1:0".parse::<crate::IdMap>().unwrap_err();
        assert_eq!(kind(bad_map), io::ErrorKind::InvalidInput);
        assert_eq!(kind(Error::invalid("x", "y")), io::ErrorKind::InvalidInput);
        assert_eq!(
            kind(Error::Unsupported { op: Op::Fsopen }),
            io::ErrorKind::Unsupported
        );
        // Its errno is the kernel's EINVAL for an unknown flag, which alone
        // would say InvalidInput: the caller's input was fine.
        let too_old = Error::KernelTooOld {
            what: "MOVE_MOUNT_BENEATH",
            version: "6.5",
            errno: Errno(libc::EINVAL),
        };
        assert_eq!(kind(too_old), io::ErrorKind::Unsupported);
        assert_eq!(
            kind(Error::os(Op::Open, libc::ENOENT)),
            io::ErrorKind::NotFound
        );
        // The kind of EBUSY (`ResourceBusy`, named only since Rust 1.83).
        assert_eq!(
            kind(in_use(libc::EBUSY)),
            io::Error::from_raw_os_error(libc::EBUSY).kind()
        );
        assert_ne!(kind(in_use(libc::EBUSY)), io::ErrorKind::Other);
        assert_eq!(kind(mismatch()), io::ErrorKind::Other);
        let io = io::Error::from(mismatch());
        let inner = io.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert!(matches!(inner, Error::LoopMismatch { .. }));
    }
}
