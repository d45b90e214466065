//! [`UserNs`]: a user namespace held by an fd, made from id maps.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

#[cfg(target_os = "linux")]
mod create;
#[cfg(not(target_os = "linux"))]
mod create {
    pub(crate) fn create_userns(_: &[u8], _: &[u8]) -> crate::Result<std::os::fd::OwnedFd> {
        Err(crate::Error::Unsupported {
            op: crate::Op::CloneUserNs,
        })
    }
}

use crate::path::{reopen, resolve, Follow, Kind};
use crate::raw;
use crate::{Error, IdMap, Op, Result};

/// A user namespace, held open by an fd, used to id-map mounts.
///
/// Its `uid_map` and `gid_map` decide what an id stored on disk shows as
/// through a mount id-mapped with it: on-disk `from` is seen as `to`.
/// The namespace has no process in it; it lives as long as this fd (and any
/// mount id-mapped with it, which keeps its own reference).
///
/// See `user_namespaces(7)`: <https://man7.org/linux/man-pages/man7/user_namespaces.7.html>.
#[derive(Debug)]
pub struct UserNs(OwnedFd);
fd_handle!(UserNs);

impl UserNs {
    /// `clone(CLONE_NEWUSER | CLONE_VM)`—a new user namespace with these maps.
    ///
    /// Works from any process, including one with many threads (where
    /// `unshare(CLONE_NEWUSER)` is refused), runs no helper binary and does
    /// not copy the caller's address space: a child sharing the caller's
    /// memory enters the new namespace, each map is written to it in one
    /// `write()`, the namespace is opened, and the child is killed and reaped
    /// before this returns, on every path. If the caller is killed, exits or
    /// calls `execve` on another thread meanwhile, the child dies with it
    /// (`PR_SET_PDEATHSIG`), holding none of the caller's fds. The maps are
    /// written through the `/proc` that is mounted, to the child as that
    /// `/proc` numbers it. The returned fd is close-on-exec.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if a map's text does not fit the one write the
    /// kernel accepts (a page); [`Error::Os`] if `clone` fails (`EPERM` without
    /// `CAP_SYS_ADMIN`-equivalent rights or inside a chroot, `ENOSPC` at the
    /// `user.max_user_namespaces` limit) or the kernel rejects a map (`EPERM`
    /// when the caller may not map those ids); [`Error::ProcUnusable`] if
    /// the `/proc` mounted in the caller's mount namespace is not procfs or
    /// cannot show the caller's children (it belongs to a pid namespace in
    /// which they are not visible).
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::privileged() { return Ok(()); }
    /// use mountfd::{IdMap, UserNs};
    ///
    /// let uids: IdMap = "0:100000:65536".parse()?;
    /// let gids: IdMap = "0:200000:65536".parse()?;
    /// let ns = UserNs::new(&uids, &gids)?;
    /// # drop(ns);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[doc(alias = "clone")]
    #[doc(alias = "CLONE_NEWUSER")]
    pub fn new(uid_map: &IdMap, gid_map: &IdMap) -> Result<UserNs> {
        let (mut uid_buf, mut gid_buf) = ([0u8; MAP_BUF], [0u8; MAP_BUF]);
        let (mut uid_heap, mut gid_heap) = (String::new(), String::new());
        let uid_text = proc_text(uid_map, &mut uid_buf, &mut uid_heap);
        // `from_idmap` passes one map twice: format it once.
        let gid_text = if std::ptr::eq(uid_map, gid_map) {
            uid_text
        } else {
            proc_text(gid_map, &mut gid_buf, &mut gid_heap)
        };
        for (which, text) in [("uid map", uid_text), ("gid map", gid_text)] {
            check_fits_one_write(which, text)?;
        }
        create::create_userns(uid_text, gid_text).map(UserNs)
    }

    /// A user namespace with the same map for uids and gids.
    ///
    /// # Errors
    ///
    /// As [`UserNs::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::privileged() { return Ok(()); }
    /// use mountfd::{IdMap, UserNs};
    ///
    /// let ns = UserNs::from_idmap(&"0:100000:65536".parse::<IdMap>()?)?;
    /// # drop(ns);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn from_idmap(map: &IdMap) -> Result<UserNs> {
        UserNs::new(map, map)
    }

    /// `open(path)`—an existing user namespace, such as `/proc/PID/ns/user`.
    ///
    /// `path` (symlinks and `/proc` magic links followed) is looked up once
    /// with `O_PATH`, which opens nothing, and checked to be a namespace file
    /// (a regular file on nsfs) before that same file is opened read-only
    /// through `/proc/thread-self/fd`: a FIFO does not block, a device's
    /// `open` never runs. `NS_GET_NSTYPE` then checks the namespace's type.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the path cannot be looked up (`ENOENT`, `EACCES`) or
    /// re-opened (without `/proc`); [`Error::InvalidInput`] if it is not a
    /// namespace file, or a namespace of another type.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// let mine = mountfd::UserNs::open("/proc/self/ns/user")?;
    /// assert!(mountfd::UserNs::open("/proc/self/ns/mnt").is_err());
    /// # drop(mine); }
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<UserNs> {
        let path = path.as_ref();
        open_userns(path).map(UserNs)
    }

    /// Wraps an fd that the caller knows refers to a user namespace.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if it is not a user namespace.
    pub fn from_fd(fd: OwnedFd) -> Result<UserNs> {
        check_userns(fd.as_fd())?;
        Ok(UserNs(fd))
    }
}

/// Big enough for any map the kernel accepts on a 4 KiB-page system.
const MAP_BUF: usize = 4096;

/// `map` as `/proc/PID/uid_map` text: in `buf` (no allocation) when it
/// fits, which any map the kernel accepts does on 4 KiB pages, else in `heap`.
fn proc_text<'a>(map: &IdMap, buf: &'a mut [u8; MAP_BUF], heap: &'a mut String) -> &'a [u8] {
    match map.write_proc_map(buf) {
        Some(n) => &buf[..n],
        None => {
            *heap = map.to_proc_map();
            heap.as_bytes()
        }
    }
}

/// `map_write` takes a map in one write of less than a page.
fn check_fits_one_write(which: &'static str, text: &[u8]) -> Result<()> {
    let page = raw::page_size();
    if text.len() >= page {
        return Err(Error::invalid(
            "id map",
            format!(
                "the {which} is {} bytes as text; the kernel takes at most {} in its one write",
                text.len(),
                page - 1
            ),
        ));
    }
    Ok(())
}

/// `NSFS_MAGIC` from `<linux/magic.h>`: the `f_type` of a namespace file.
const NSFS_MAGIC: u64 = linux_raw_sys::general::NSFS_MAGIC as u64;

/// Opens a namespace file and checks that it is a user namespace.
///
/// The path (symlinks and `/proc/PID/ns/user` magic links followed) is
/// looked up once to an `O_PATH` fd, which runs no driver's `open` and does
/// not block on a FIFO; only a regular file on nsfs is then opened, read-only,
/// through that fd, and `NS_GET_NSTYPE` (which an `O_PATH` fd cannot take)
/// decides the namespace type.
fn open_userns(path: &Path) -> Result<OwnedFd> {
    let not_userns = |why: String| {
        Error::invalid(
            "user namespace",
            format!("{}: {why}, not a user namespace", path.display()),
        )
    };
    let r = resolve(raw::cwd(), path, Follow::All)?;
    // nsfs inodes are regular files (`nsfs_init_inode` in fs/nsfs.c).
    if r.kind != Kind::File {
        return Err(not_userns(format!("it is {}", r.kind.describe())));
    }
    let fs_type = raw::fs_type(r.fd.as_fd()).map_err(|e| Error::sys(Op::Fstatfs, e).at(path))?;
    if fs_type != NSFS_MAGIC {
        return Err(not_userns("it is not a namespace file".into()));
    }
    let fd = reopen(&r, false, path)?;
    check_userns(fd.as_fd()).map_err(|e| match e {
        Error::InvalidInput { what, reason } => Error::InvalidInput {
            what,
            reason: format!("{}: {reason}", path.display()),
        },
        e => e.at(path),
    })?;
    Ok(fd)
}

/// Checks with `NS_GET_NSTYPE` that `fd` refers to a user namespace.
pub(crate) fn check_userns(fd: BorrowedFd<'_>) -> Result<()> {
    match raw::ns_get_nstype(fd) {
        Ok(t) if t as u32 == linux_raw_sys::general::CLONE_NEWUSER => Ok(()),
        Err(e) if !cfg!(target_os = "linux") => Err(Error::sys(Op::NsGetNstype, e)),
        Ok(_) => Err(not_a_userns()),
        Err(e) if matches!(e.raw_os_error(), libc::ENOTTY | libc::EINVAL) => Err(not_a_userns()),
        Err(e) => Err(Error::sys(Op::NsGetNstype, e)),
    }
}

fn not_a_userns() -> Error {
    Error::invalid(
        "user namespace",
        "the fd does not refer to a user namespace",
    )
}
