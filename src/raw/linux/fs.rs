//! Filesystem contexts: `fsopen(2)`, `fsconfig(2)`, `fsmount(2)`, with the
//! kernel's own messages read back from the context fd.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::mount::{self, FsMountFlags, FsOpenFlags, MountAttrFlags};

use super::Result;

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
pub(crate) fn fsopen(fstype: &str) -> Result<OwnedFd> {
    mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)
}

/// The messages the kernel logged on a context, oldest first, joined by
/// "; ". Each read returns one "e "/"w "/"i "-prefixed message until the
/// queue is empty (`ENODATA`); see `fsopen(2)`, "Message retrieval
/// interface".
pub(crate) fn read_messages(fd: BorrowedFd<'_>) -> Option<String> {
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    // The kernel keeps at most 8 messages per context (`fs_context.h`).
    for _ in 0..8 {
        match rustix::io::read(fd, &mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&buf[..n]);
                // Errors are the norm here; only other levels keep a tag.
                let text = text.trim_end();
                let (level, msg) = match text.split_at_checked(2) {
                    Some(("e ", msg)) => ("", msg),
                    Some(("w ", msg)) => ("warning: ", msg),
                    Some(("i ", msg)) => ("info: ", msg),
                    _ => ("", text),
                };
                if !out.is_empty() {
                    out.push_str("; ");
                }
                out.push_str(level);
                out.push_str(msg);
            }
            _ => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `fsconfig(fd, FSCONFIG_SET_FLAG, key)`.
pub(crate) fn set_flag(fd: BorrowedFd<'_>, key: &str) -> Result<()> {
    mount::fsconfig_set_flag(fd, key)
}

/// `fsconfig(fd, FSCONFIG_SET_STRING, key, value)`.
pub(crate) fn set_string(fd: BorrowedFd<'_>, key: &str, value: &str) -> Result<()> {
    mount::fsconfig_set_string(fd, key, value)
}

/// `fsconfig(fd, FSCONFIG_SET_FD, key, NULL, aux)`.
pub(crate) fn set_fd(fd: BorrowedFd<'_>, key: &str, aux: BorrowedFd<'_>) -> Result<()> {
    mount::fsconfig_set_fd(fd, key, aux)
}

/// `fsconfig(fd, FSCONFIG_SET_PATH, key, path, AT_FDCWD)`.
pub(crate) fn set_path(fd: BorrowedFd<'_>, key: &str, path: &CStr) -> Result<()> {
    mount::fsconfig_set_path(fd, key, path, rustix::fs::CWD)
}

/// `fsconfig(fd, FSCONFIG_CMD_CREATE)`.
pub(crate) fn create(fd: BorrowedFd<'_>) -> Result<()> {
    mount::fsconfig_create(fd)
}

/// `fsmount(fd, FSMOUNT_CLOEXEC, attr_flags)`.
pub(crate) fn fsmount(fd: BorrowedFd<'_>, attr_flags: u32) -> Result<OwnedFd> {
    mount::fsmount(
        fd,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::from_bits_retain(attr_flags),
    )
}
