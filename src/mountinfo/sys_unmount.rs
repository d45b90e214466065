//! The Linux side of removing and changing mounts: `umount2` of exactly the
//! mount asked for, and `fspick` + `FSCONFIG_CMD_RECONFIGURE`.

use super::*;

// --- unmounting ------------------------------------------------------------

/// `umount2(path, flags | UMOUNT_NOFOLLOW)`; `EINVAL` on something that is
/// not a mount point becomes `NotMounted`.
pub(crate) fn unmount(path: &Path, flags: u32) -> Result<()> {
    let p = trimmed(path);
    let r = with_c_path(p, |c| {
        Ok(sm::umount2(c, flags | libc::UMOUNT_NOFOLLOW as u32))
    })?;
    match r {
        Ok(()) => Ok(()),
        Err(Errno::INVAL) if !is_mountpoint(p).unwrap_or(true) => Err(Error::NotMounted {
            path: path.to_owned(),
        }),
        Err(e) => Err(Error::sys_at(Op::Umount2, Some(path), e)),
    }
}

/// Unmounts each mount in `tree` (the output of `mounts_under`), deepest
/// first: how many went, and the error that stopped it, if one did. A mount
/// already gone is skipped.
pub(crate) fn unmount_all(tree: &[MountInfo], flags: u32) -> (usize, Option<Error>) {
    let parents: HashMap<u64, u64> = tree.iter().map(|m| (m.id, m.parent_id)).collect();
    let depth = |mut id: u64| {
        let mut d = 0usize;
        while let Some(&p) = parents.get(&id) {
            if p == id || d > parents.len() {
                break;
            }
            d += 1;
            id = p;
        }
        d
    };
    let mut order: Vec<(usize, &MountInfo)> = tree.iter().map(|m| (depth(m.id), m)).collect();
    // Deepest first; among equals, the newer (higher id) first, so of two
    // mounts stacked on one place the upper goes first.
    order.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
    let mut n = 0;
    for (_, m) in order {
        let r = with_c_path(&m.mount_point, |c| {
            Ok(sm::umount2(c, flags | libc::UMOUNT_NOFOLLOW as u32))
        });
        match r {
            Ok(Ok(())) => n += 1,
            // Gone meanwhile (or its mount point with it).
            Ok(Err(Errno::INVAL)) | Ok(Err(Errno::NOENT)) => {}
            Ok(Err(e)) => return (n, Some(Error::sys_at(Op::Umount2, Some(&m.mount_point), e))),
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// `Mount::unmount`: checks that the mount on top at this mount's mount
/// point is this one, closes `fd`, unmounts the place.
pub(crate) fn unmount_mount(fd: OwnedFd, flags: u32) -> Result<()> {
    let me = mount_id_of(fd.as_fd(), Path::new(""))?;
    let mp = fd_mount_point(fd.as_fd())?;
    let covered = || Error::Covered { path: mp.clone() };
    let (Some(dir), Some(name)) = (mp.parent(), mp.file_name()) else {
        // "/" (the namespace's root) or a mount point outside the caller's
        // root, which the kernel shows without a leading slash.
        return Err(covered());
    };
    if !mp.is_absolute() {
        return Err(covered());
    }
    let dir = open_dir_nofollow(dir)?;
    let name = Path::new(name);
    // Ask with the same mask as `me` was read with, so the ids compare.
    let top = top_mount_id(dir.as_fd(), name, &mp)?;
    match top {
        Some(t) if t == me => {}
        Some(_) => return Err(covered()),
        None => {
            // No statx: compare old ids through an fd.
            let top = resolve(dir.as_fd(), name, Follow::NotLast)?;
            if mount_id_of(top.fd.as_fd(), &mp)? != me {
                return Err(covered());
            }
        }
    }
    drop(fd);
    unmount_at(dir.as_fd(), name, flags, &mp)
}

/// `umount2("/proc/thread-self/fd/N", flags)`: unmounts exactly the mount
/// `fd` is the root of, wherever it is and whatever is stacked on it.
///
/// The magic link is followed (no `UMOUNT_NOFOLLOW`): the lookup jumps to
/// the file's own mount and dentry (`nd_jump_link` in fs/namei.c) and does
/// not step into mounts on top of it, so no other mount can be named.
/// `umount2` then requires that dentry to be its mount's root and the mount
/// to be in the caller's namespace (`can_umount` in fs/namespace.c). Like
/// every `/proc/thread-self/fd` path the crate uses, it relies on `/proc`
/// being this process's procfs.
pub(crate) fn unmount_exact(fd: OwnedFd, flags: u32, shown: &Path) -> Result<()> {
    let link = crate::path::fd_path(fd.as_fd());
    let r = with_c_path(Path::new(&link), |c| Ok(sm::umount2(c, flags)))?;
    drop(fd);
    r.map_err(|e| Error::sys_at(Op::Umount2, Some(shown), e))
}

/// The path the kernel gives an fd: for a mount root, its mount point.
pub(crate) fn fd_mount_point(fd: BorrowedFd<'_>) -> Result<PathBuf> {
    let link = crate::path::fd_path(fd);
    let target = rustix::fs::readlink(&link, Vec::new())
        .map_err(|e| Error::sys_at(Op::Readlink, Some(Path::new(&link)), e))?;
    Ok(path_of(target.as_bytes()))
}

/// Opens `dir` as an `O_PATH` directory without following any symlink.
pub(crate) fn open_dir_nofollow(dir: &Path) -> Result<OwnedFd> {
    Ok(resolve(crate::raw::cwd(), dir, Follow::None)?.fd)
}

/// `statx` of `name` in `dir`, not followed: the id of the mount on top
/// there.
pub(crate) fn top_mount_id(
    dir: BorrowedFd<'_>,
    name: &Path,
    shown: &Path,
) -> Result<Option<MntId>> {
    let st = with_c_path(name, |c| stat_mount(dir, c, AtFlags::empty(), shown))?;
    Ok(st.and_then(|s| s.id))
}

/// `umount2("/proc/thread-self/fd/DIR/NAME", flags | UMOUNT_NOFOLLOW)`.
pub(crate) fn unmount_at(dir: BorrowedFd<'_>, name: &Path, flags: u32, shown: &Path) -> Result<()> {
    let mut p = PathBuf::from(crate::path::fd_path(dir));
    p.push(name);
    with_c_path(&p, |c| {
        sm::umount2(c, flags | libc::UMOUNT_NOFOLLOW as u32)
            .map_err(|e| Error::sys_at(Op::Umount2, Some(shown), e))
    })
}

/// Whether the mount `fd` is on is outside the calling thread's mount
/// namespace: a detached tree (an anonymous namespace of its own) or
/// another namespace's mount. Its (old) mount id from fdinfo is looked for
/// in `/proc/thread-self/mountinfo`. Only asked on an error path.
pub(crate) fn is_detached(fd: BorrowedFd<'_>) -> Result<bool> {
    let id = fdinfo_mnt_id(fd)?.id;
    Ok(!read_mountinfo()?.iter().any(|l| l.id == id))
}

// --- fspick ------------------------------------------------------------------

/// `fspick(fd, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC | FSPICK_NO_AUTOMOUNT)`.
pub(crate) fn fspick(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    use rustix::mount::FsPickFlags;
    rustix::mount::fspick(
        fd,
        c"",
        FsPickFlags::FSPICK_EMPTY_PATH
            | FsPickFlags::FSPICK_CLOEXEC
            | FsPickFlags::FSPICK_NO_AUTOMOUNT,
    )
    .map_err(|e| Error::os(Op::Fspick, e.raw_os_error()))
}

/// `fsconfig(fd, FSCONFIG_CMD_RECONFIGURE)`, with the kernel's messages.
pub(crate) fn reconfigure(fd: BorrowedFd<'_>) -> Result<()> {
    rustix::mount::fsconfig_reconfigure(fd).map_err(|e| {
        Error::os(Op::FsconfigReconfigure, e.raw_os_error())
            .with_kernel_message(crate::raw::fs::read_messages(fd))
    })
}
