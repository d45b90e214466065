//! Filesystem contexts: `fsopen(2)`, `fsconfig(2)`, `fsmount(2)`, with the
//! kernel's own messages read back from the context fd.

use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::mount::{self, FsMountFlags, FsOpenFlags, MountAttrFlags};

use crate::{Error, Op, Result};

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
pub(crate) fn fsopen(fstype: &str) -> Result<OwnedFd> {
    mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| Error::os(Op::Fsopen, e.raw_os_error()).in_fs(fstype))
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

/// A failed call on the context `fd`, with what the kernel logged on it.
/// `key` is the option the call set, if it set one; the caller
/// ([`FsContext`](crate::FsContext)) adds the filesystem type and the path.
fn ctx_err(fd: BorrowedFd<'_>, op: Op, key: Option<&str>, e: rustix::io::Errno) -> Error {
    let err = Error::os(op, e.raw_os_error()).with_kernel_message(read_messages(fd));
    match key {
        Some(k) => err.for_key(k),
        None => err,
    }
}

/// `fsconfig(fd, FSCONFIG_SET_FLAG, key)`.
pub(crate) fn set_flag(fd: BorrowedFd<'_>, key: &str) -> Result<()> {
    mount::fsconfig_set_flag(fd, key).map_err(|e| ctx_err(fd, Op::FsconfigSetFlag, Some(key), e))
}

/// `fsconfig(fd, FSCONFIG_SET_STRING, key, value)`.
pub(crate) fn set_string(fd: BorrowedFd<'_>, key: &str, value: &str) -> Result<()> {
    mount::fsconfig_set_string(fd, key, value)
        .map_err(|e| ctx_err(fd, Op::FsconfigSetString, Some(key), e))
}

/// `fsconfig(fd, FSCONFIG_SET_FD, key, NULL, aux)`.
pub(crate) fn set_fd(fd: BorrowedFd<'_>, key: &str, aux: BorrowedFd<'_>) -> Result<()> {
    mount::fsconfig_set_fd(fd, key, aux).map_err(|e| ctx_err(fd, Op::FsconfigSetFd, Some(key), e))
}

/// `fsconfig(fd, FSCONFIG_SET_PATH, key, path, AT_FDCWD)`.
pub(crate) fn set_path(fd: BorrowedFd<'_>, key: &str, path: &std::path::Path) -> Result<()> {
    super::with_c_path(path, |c| {
        mount::fsconfig_set_path(fd, key, c, rustix::fs::CWD)
            .map_err(|e| ctx_err(fd, Op::FsconfigSetPath, Some(key), e))
    })
}

/// `fsconfig(fd, FSCONFIG_CMD_CREATE)` then `fsmount(fd, FSMOUNT_CLOEXEC, attr_flags)`.
pub(crate) fn create_and_mount(fd: BorrowedFd<'_>, attr_flags: u32) -> Result<OwnedFd> {
    mount::fsconfig_create(fd).map_err(|e| ctx_err(fd, Op::FsconfigCreate, None, e))?;
    mount::fsmount(
        fd,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::from_bits_retain(attr_flags),
    )
    .map_err(|e| ctx_err(fd, Op::Fsmount, None, e))
}
