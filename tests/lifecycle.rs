//! The mount lifecycle (issue 13): find ([`mounts`], [`mounts_under`],
//! [`MountInfo::of`], [`is_mountpoint`]), change ([`Mount::set_attr`],
//! [`Mount::pick`] + [`FsContext::reconfigure`]) and remove ([`unmount`],
//! [`unmount_tree`], [`Mount::unmount`], [`MountGuard`]) mounts, on the
//! newest calls and on each fallback (the newer call removed with a seccomp
//! filter on the test's own thread), which must give the same answers.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, fault};

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::{in_private_ns, mkdir, ns, tmpfs_at};
use mountfd::{
    is_mountpoint, mounts, mounts_under, unmount, unmount_tree, DetachedMount, Error, FsContext,
    Mount, MountAttr, MountFlags, MountInfo, Propagation, UnmountFlags,
};

const SYS_STATMOUNT: libc::c_long = 457;
const SYS_LISTMOUNT: libc::c_long = 458;

/// From here on this thread sees a kernel without listmount/statmount (before 6.8).
fn lose_statmount() {
    // SAFETY: on a test's own thread; only mountfd makes these calls, and
    // it takes ENOSYS as an older kernel.
    unsafe {
        fault::fail_syscall(SYS_STATMOUNT, libc::ENOSYS).unwrap();
        fault::fail_syscall(SYS_LISTMOUNT, libc::ENOSYS).unwrap();
    }
}

/// From here on this thread sees a kernel without statx (so without
/// `STATX_ATTR_MOUNT_ROOT`, 5.8, and `STATX_MNT_ID*`).
fn lose_statx() {
    // SAFETY: as above; std's metadata calls fall back to stat on ENOSYS.
    unsafe { fault::fail_syscall(libc::SYS_statx, libc::ENOSYS) }.unwrap();
}

fn lose_fspick() {
    // SAFETY: as above.
    unsafe { fault::fail_syscall(libc::SYS_fspick, libc::ENOSYS) }.unwrap();
}

fn tmpfs() -> DetachedMount {
    FsContext::new("tmpfs")
        .unwrap()
        .mount(&MountAttr::new())
        .unwrap()
}

/// A mount table with the ids replaced by the parent's mount point, so that
/// the two sources (unique ids, old ids) compare; the maps left out (the
/// fallback has none).
fn comparable(v: &[MountInfo]) -> Vec<String> {
    let by_id: BTreeMap<u64, &MountInfo> = v.iter().map(|m| (m.id, m)).collect();
    let mut out: Vec<String> = v
        .iter()
        .map(|m| {
            let parent = by_id.get(&m.parent_id).map(|p| p.mount_point.clone());
            format!(
                "{:?} parent={:?} root={:?} type={} source={:?} flags={:?} prop=({},{},{},{}) sb={}",
                m.mount_point,
                parent,
                m.root,
                m.fs_type,
                m.source,
                m.flags,
                m.propagation.shared_group.is_some(),
                m.propagation.master_group.is_some(),
                m.propagation.propagate_from.is_some(),
                m.propagation.unbindable,
                m.superblock_options
            )
        })
        .collect();
    out.sort();
    out
}

/// A tree with every kind of mount the fields distinguish: options, a bind
/// of a subdirectory, read-only/nosuid/noexec/noatime, shared, slave and
/// unbindable propagation, an id map, a bind-mounted file, and mount points
/// whose names need escaping or are not UTF-8.
fn varied_tree(dir: &Path) -> PathBuf {
    let top = mkdir(dir, "top");
    let fs = FsContext::new("tmpfs").unwrap();
    fs.set_string("size", "1m").unwrap();
    fs.set_string("mode", "0710").unwrap();
    let m = fs.mount(&MountAttr::new()).unwrap().attach(&top).unwrap();
    m.set_attr(&MountAttr::new().propagation(Propagation::Shared), false)
        .unwrap();
    fs::create_dir_all(top.join("data/sub")).unwrap();
    for name in ["bind", "ro", "slave", "unbindable", "mapped"] {
        fs::create_dir(top.join(name)).unwrap();
    }
    DetachedMount::clone_tree(top.join("data/sub"), false)
        .unwrap()
        .attach(top.join("bind"))
        .unwrap();
    DetachedMount::clone_tree_with(
        top.join("data"),
        false,
        &MountAttr::new()
            .readonly()
            .nosuid()
            .noexec()
            .atime(mountfd::Atime::None),
    )
    .unwrap()
    .attach(top.join("ro"))
    .unwrap();
    let slave = DetachedMount::clone_tree(&top, false)
        .unwrap()
        .attach(top.join("slave"))
        .unwrap();
    slave
        .set_attr(&MountAttr::new().propagation(Propagation::Slave), false)
        .unwrap();
    tmpfs()
        .attach(top.join("unbindable"))
        .unwrap()
        .set_attr(
            &MountAttr::new().propagation(Propagation::Unbindable),
            false,
        )
        .unwrap();
    DetachedMount::clone_tree_idmapped(top.join("data"), false, &ns("0:100000:65536"))
        .unwrap()
        .attach(top.join("mapped"))
        .unwrap();
    fs::write(top.join("file"), b"").unwrap();
    fs::write(top.join("data/file"), b"").unwrap();
    DetachedMount::clone_tree(top.join("data/file"), false)
        .unwrap()
        .attach(top.join("file"))
        .unwrap();
    for raw in [
        &b"with space"[..],
        b"tab\there",
        b"new\nline",
        b"back\\slash",
        b"not-utf8-\xff\xfe",
    ] {
        let p = top.join(OsStr::from_bytes(raw));
        fs::create_dir(&p).unwrap();
        tmpfs().attach(&p).unwrap();
    }
    top
}

// --- statmount and mountinfo agree --------------------------------------------

#[test]
fn mounts_from_statmount_and_from_mountinfo_agree_on_every_mount() {
    in_private_ns(|dir| {
        let top = varied_tree(dir);
        let primary = mounts().unwrap();
        assert!(primary.iter().any(|m| m.mount_point == top));
        // Unique ids start at 2^31 (MNT_UNIQUE_ID_OFFSET in fs/namespace.c),
        // old ones are below it (an IDA capped at INT_MAX): statmount was used.
        assert!(primary.iter().all(|m| m.id >= 1 << 31), "{primary:#?}");
        let text = fs::read("/proc/thread-self/mountinfo").unwrap();
        assert_eq!(
            primary.len(),
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        );
        lose_statmount();
        let fallback = mounts().unwrap();
        assert!(fallback.iter().all(|m| m.id < 1 << 31));
        assert_eq!(comparable(&primary), comparable(&fallback));
    });
}

#[test]
fn fields_say_what_was_mounted() {
    in_private_ns(|dir| {
        let top = varied_tree(dir);
        let all = mounts().unwrap();
        let at = |name: &[u8]| {
            let p = top.join(OsStr::from_bytes(name));
            all.iter()
                .rev()
                .find(|m| m.mount_point == p)
                .unwrap_or_else(|| panic!("{p:?} not listed"))
                .clone()
        };
        let t = at(b"");
        assert_eq!(t.fs_type, "tmpfs");
        assert_eq!(t.source.as_deref(), Some("none"));
        assert!(
            t.superblock_options.starts_with("rw,"),
            "{}",
            t.superblock_options
        );
        assert!(t.superblock_options.contains("size=1024k"));
        assert!(t.superblock_options.contains("mode=710"));
        assert!(t.propagation.shared_group.is_some());
        assert_eq!(at(b"bind").root, Path::new("/data/sub"));
        let ro = at(b"ro");
        assert_eq!(
            ro.flags,
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NOATIME
        );
        assert_eq!(ro.root, Path::new("/data"));
        let slave = at(b"slave");
        assert_eq!(slave.propagation.master_group, t.propagation.shared_group);
        assert!(at(b"unbindable").propagation.unbindable);
        let mapped = at(b"mapped");
        assert!(mapped.flags.contains(MountFlags::IDMAP));
        assert_eq!(mapped.uid_map, Some(common::map("0:100000:65536")));
        assert_eq!(mapped.gid_map, Some(common::map("0:100000:65536")));
        assert_eq!(t.uid_map, None);
        assert_eq!(at(b"file").root, Path::new("/data/file"));
        for raw in [
            &b"with space"[..],
            b"tab\there",
            b"new\nline",
            b"back\\slash",
            b"not-utf8-\xff\xfe",
        ] {
            assert_eq!(at(raw).fs_type, "tmpfs");
        }
        // The parent of a submount is the mount it is on.
        assert_eq!(at(b"ro").parent_id, t.id);
    });
}

#[test]
fn a_subtree_is_the_mount_then_everything_beneath_at_any_depth() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        let b = tmpfs_at(&a, "b");
        let c = tmpfs_at(&b, "c");
        let _sibling = tmpfs_at(dir, "sibling");
        let tree = mounts_under(&a).unwrap();
        let points: Vec<&Path> = tree.iter().map(|m| m.mount_point.as_path()).collect();
        assert_eq!(points[0], a);
        assert_eq!(points.len(), 3, "{points:?}");
        assert!(points.contains(&b.as_path()) && points.contains(&c.as_path()));
        let primary = comparable(&tree);
        lose_statmount();
        let fallback = mounts_under(&a).unwrap();
        assert_eq!(fallback[0].mount_point, a);
        assert_eq!(comparable(&fallback), primary);
        // Not a mount point: a typed error, on both paths.
        let plain = mkdir(&a, "plain");
        assert!(matches!(
            mounts_under(&plain),
            Err(Error::NotMounted { .. })
        ));
    });
}

#[test]
fn mounts_under_a_non_mount_point_is_not_mounted() {
    in_private_ns(|dir| {
        let plain = mkdir(dir, "plain");
        match mounts_under(&plain) {
            Err(Error::NotMounted { path, .. }) => assert_eq!(path, plain),
            r => panic!("{r:?}"),
        }
    });
}

#[test]
fn info_of_a_path_is_the_mount_it_lives_on_and_a_final_symlink_is_not_followed() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        let b = tmpfs_at(dir, "b");
        fs::write(b.join("f"), b"").unwrap();
        symlink(&b, a.join("link")).unwrap();
        assert_eq!(MountInfo::of(b.join("f")).unwrap().mount_point, b);
        assert_eq!(MountInfo::of(a.join("link")).unwrap().mount_point, a);
        assert_eq!(MountInfo::of(a.join("link/")).unwrap().mount_point, a);
        assert_eq!(MountInfo::of(a.join("link/f")).unwrap().mount_point, b);
        let primary = MountInfo::of(&b).unwrap();
        lose_statmount();
        let fallback = MountInfo::of(&b).unwrap();
        assert_eq!(fallback.mount_point, primary.mount_point);
        assert_eq!(fallback.superblock_options, primary.superblock_options);
        assert_eq!(MountInfo::of(a.join("link")).unwrap().mount_point, a);
    });
}

// --- is_mountpoint ---------------------------------------------------------------

/// The cases `mountpoint(1)` gets wrong with `st_dev` alone, and the rest.
fn mountpoint_cases(dir: &Path) -> Vec<(PathBuf, bool)> {
    let fs_root = tmpfs_at(dir, "fs");
    fs::create_dir_all(fs_root.join("x/y")).unwrap();
    fs::create_dir(fs_root.join("same")).unwrap();
    // A bind of a directory of the same filesystem: same st_dev.
    DetachedMount::clone_tree(fs_root.join("x/y"), false)
        .unwrap()
        .attach(fs_root.join("same"))
        .unwrap();
    fs::write(fs_root.join("file"), b"").unwrap();
    fs::write(fs_root.join("bound-file"), b"").unwrap();
    DetachedMount::clone_tree(fs_root.join("file"), false)
        .unwrap()
        .attach(fs_root.join("bound-file"))
        .unwrap();
    symlink(fs_root.join("same"), fs_root.join("link")).unwrap();
    vec![
        (PathBuf::from("/"), true),
        (fs_root.clone(), true),
        (fs_root.join("same"), true),
        (fs_root.join("same/"), true),
        (fs_root.join("bound-file"), true),
        (fs_root.join("x"), false),
        (fs_root.join("x/y"), false),
        (fs_root.join("file"), false),
        (fs_root.join("link"), false),
        (fs_root.join("link/"), false),
        (PathBuf::from("/proc"), true),
        (PathBuf::from("/proc/self"), false),
    ]
}

#[test]
fn is_mountpoint_is_right_for_binds_of_the_same_filesystem_files_root_and_symlinks() {
    in_private_ns(|dir| {
        for (p, want) in mountpoint_cases(dir) {
            assert_eq!(is_mountpoint(&p).unwrap(), want, "{p:?}");
            assert_eq!(Mount::open(&p).is_ok(), want, "Mount::open {p:?}");
        }
    });
}

#[test]
fn without_statx_is_mountpoint_compares_mount_ids_and_agrees() {
    in_private_ns(|dir| {
        let cases = mountpoint_cases(dir);
        lose_statx();
        for (p, want) in cases {
            assert_eq!(is_mountpoint(&p).unwrap(), want, "{p:?}");
            assert_eq!(Mount::open(&p).is_ok(), want, "Mount::open {p:?}");
        }
    });
}

#[test]
fn is_mountpoint_odd_inputs() {
    in_private_ns(|dir| {
        let m = tmpfs_at(dir, "m");
        std::env::set_current_dir(dir).unwrap();
        assert!(is_mountpoint("m").unwrap(), "a relative path");
        assert!(is_mountpoint("./m/").unwrap());
        std::env::set_current_dir("/").unwrap();
        assert!(matches!(
            is_mountpoint("/a\0b"),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(is_mountpoint(""), Err(Error::InvalidInput { .. })));
        assert_eq!(
            is_mountpoint(m.join("nope")).unwrap_err().errno(),
            Some(libc::ENOENT)
        );
    });
}

// --- unmount ----------------------------------------------------------------------

#[test]
fn unmount_of_a_non_mount_point_is_not_mounted_and_of_a_symlink_unmounts_nothing() {
    in_private_ns(|dir| {
        let m = tmpfs_at(dir, "m");
        let plain = mkdir(dir, "plain");
        symlink(&m, dir.join("link")).unwrap();
        fs::write(dir.join("file"), b"").unwrap();
        for p in [
            plain.clone(),
            dir.join("link"),
            dir.join("link/"),
            dir.join("file"),
        ] {
            match unmount(&p, UnmountFlags::empty()) {
                Err(Error::NotMounted { path, .. }) => assert_eq!(path, p),
                r => panic!("{p:?}: {r:?}"),
            }
        }
        assert!(
            is_mountpoint(&m).unwrap(),
            "the link's target is still mounted"
        );
        assert!(matches!(
            unmount("/x\0y", UnmountFlags::empty()),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            unmount(&m, UnmountFlags::EXPIRE | UnmountFlags::DETACH),
            Err(Error::InvalidInput { .. })
        ));
        assert_eq!(
            unmount(dir.join("missing"), UnmountFlags::empty())
                .unwrap_err()
                .errno(),
            Some(libc::ENOENT)
        );
        // Relative to the current directory.
        std::env::set_current_dir(dir).unwrap();
        unmount("m", UnmountFlags::empty()).unwrap();
        std::env::set_current_dir("/").unwrap();
        assert!(!is_mountpoint(&m).unwrap());
    });
}

#[test]
fn expire_unmounts_on_the_second_call() {
    in_private_ns(|dir| {
        let m = tmpfs_at(dir, "m");
        let e = unmount(&m, UnmountFlags::EXPIRE).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EAGAIN));
        // No look at it in between: any use clears the mark.
        unmount(&m, UnmountFlags::EXPIRE).unwrap();
        assert!(!is_mountpoint(&m).unwrap());
    });
}

#[test]
fn unmount_tree_unmounts_deepest_first_and_counts() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        let mut p = a.clone();
        for i in 0..20 {
            p = tmpfs_at(&p, &format!("n{i}"));
        }
        tmpfs_at(&a, "side");
        // Two mounts stacked on one place.
        tmpfs().attach(a.join("side")).unwrap();
        let sibling = tmpfs_at(dir, "sibling");
        assert_eq!(unmount_tree(&a, UnmountFlags::empty()).unwrap(), 23);
        assert!(!is_mountpoint(&a).unwrap());
        assert!(is_mountpoint(&sibling).unwrap());
        assert!(matches!(
            unmount_tree(&a, UnmountFlags::empty()),
            Err(Error::NotMounted { .. })
        ));
    });
}

#[test]
fn unmount_tree_without_statmount_gives_the_same_count() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        tmpfs_at(&tmpfs_at(&a, "b"), "c");
        tmpfs_at(&a, "d");
        lose_statmount();
        assert_eq!(unmount_tree(&a, UnmountFlags::DETACH).unwrap(), 4);
        assert!(!is_mountpoint(&a).unwrap());
    });
}

// --- Mount ---------------------------------------------------------------------------

#[test]
fn mount_unmount_refuses_when_another_mount_is_stacked_on_it() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let lower = tmpfs().attach(&p).unwrap();
        fs::write(p.join("lower"), b"").unwrap();
        let upper = tmpfs().attach(&p).unwrap();
        fs::write(p.join("upper"), b"").unwrap();
        match lower.unmount(UnmountFlags::DETACH) {
            Err(Error::Covered { path, .. }) => assert_eq!(path, p),
            r => panic!("{r:?}"),
        }
        // Nothing was unmounted: the upper mount still shows.
        assert!(p.join("upper").exists());
        upper.unmount(UnmountFlags::empty()).unwrap();
        assert!(p.join("lower").exists());
        let lower = Mount::open(&p).unwrap();
        lower.unmount(UnmountFlags::empty()).unwrap();
        assert!(!is_mountpoint(&p).unwrap());
    });
}

#[test]
fn mount_unmount_without_detach_is_busy_with_submounts_and_detach_takes_them() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let m = tmpfs().attach(&p).unwrap();
        let sub = tmpfs_at(&p, "sub");
        let m2 = Mount::open(&p).unwrap();
        assert_eq!(
            m.unmount(UnmountFlags::empty()).unwrap_err().errno(),
            Some(libc::EBUSY)
        );
        assert!(is_mountpoint(&sub).unwrap());
        m2.unmount(UnmountFlags::DETACH).unwrap();
        assert!(!is_mountpoint(&p).unwrap());
        assert!(!sub.exists());
    });
}

#[test]
fn a_mount_that_vanished_is_an_error_and_nothing_else_is_unmounted() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let m = tmpfs().attach(&p).unwrap();
        let other = tmpfs_at(dir, "other");
        unmount(&p, UnmountFlags::DETACH).unwrap();
        assert!(m.info().is_err());
        assert!(m.unmount(UnmountFlags::DETACH).is_err());
        assert!(is_mountpoint(&other).unwrap());
        assert!(is_mountpoint(dir).unwrap());
    });
}

#[test]
fn a_guard_unmounts_on_drop_and_can_be_disarmed() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        {
            let g = tmpfs().attach(&p).unwrap().unmount_on_drop();
            assert!(is_mountpoint(&p).unwrap());
            assert_eq!(g.mount().info().unwrap().mount_point, p);
        }
        assert!(!is_mountpoint(&p).unwrap());
        let m = tmpfs().attach(&p).unwrap().unmount_on_drop().into_mount();
        assert!(is_mountpoint(&p).unwrap());
        m.unmount_on_drop().unmount(UnmountFlags::empty()).unwrap();
        assert!(!is_mountpoint(&p).unwrap());
    });
}

#[test]
fn set_attr_on_an_attached_mount_makes_it_read_only_and_rshared() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let m = tmpfs().attach(&p).unwrap();
        let sub = tmpfs_at(&p, "sub");
        m.set_attr(
            &MountAttr::new().readonly().propagation(Propagation::Shared),
            true,
        )
        .unwrap();
        let e = fs::write(sub.join("f"), b"").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
        for i in mounts_under(&p).unwrap() {
            assert!(i.flags.contains(MountFlags::RDONLY), "{i:?}");
            assert!(i.propagation.shared_group.is_some(), "{i:?}");
        }
        m.set_attr(&MountAttr::new().read_write(), false).unwrap();
        fs::write(p.join("f"), b"").unwrap();
    });
}

#[test]
fn pick_and_reconfigure_resize_a_tmpfs_and_report_the_kernel_message() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let fs_ctx = FsContext::new("tmpfs").unwrap();
        fs_ctx.set_string("size", "4m").unwrap();
        let m = fs_ctx.mount(&MountAttr::new()).unwrap().attach(&p).unwrap();
        fs::write(p.join("big"), vec![1u8; 2 << 20]).unwrap();
        let ctx = m.pick().unwrap();
        assert_eq!(ctx.fstype(), "tmpfs");
        ctx.set_string("size", "8m").unwrap();
        ctx.reconfigure().unwrap();
        assert!(m.info().unwrap().superblock_options.contains("size=8192k"));
        let ctx = m.pick().unwrap();
        ctx.set_string("size", "1m").unwrap();
        let e = ctx.reconfigure().unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert_eq!(
            e.kernel_message(),
            Some("tmpfs: Too small a size for current use"),
            "{e}"
        );
        assert_eq!(e.fstype(), Some("tmpfs"));
        // Read-only superblock.
        let ctx = m.pick().unwrap();
        ctx.set_flag("ro").unwrap();
        ctx.reconfigure().unwrap();
        assert!(m.info().unwrap().superblock_options.starts_with("ro"));
        let e = fs::write(p.join("g"), b"").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    });
}

#[test]
fn without_fspick_pick_is_a_typed_enosys() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let m = tmpfs().attach(&p).unwrap();
        lose_fspick();
        let e = m.pick().unwrap_err();
        assert_eq!(
            (e.op(), e.errno()),
            (Some(mountfd::Op::Fspick), Some(libc::ENOSYS))
        );
    });
}

#[test]
fn attach_returns_the_mount_it_attached() {
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let m = tmpfs().attach(&p).unwrap();
        let info = m.info().unwrap();
        assert_eq!(info.mount_point, p);
        assert_eq!(info.id, MountInfo::of(&p).unwrap().id);
        let m2 = tmpfs().attach_at(rustix::fs::CWD, &p).unwrap();
        assert_ne!(m2.info().unwrap().id, info.id);
    });
}

/// The kernel fact `Mount::unmount` guards against (DESIGN, "Facts"):
/// `umount2("/proc/self/fd/N")` unmounts whatever is on top at that place,
/// here the upper of two stacked mounts although N is the lower one. If this
/// ever stops holding, the `Covered` check is still right, only no longer
/// needed.
#[test]
fn umount2_through_proc_self_fd_takes_the_mount_on_top() {
    use std::os::fd::AsRawFd;
    in_private_ns(|dir| {
        let p = mkdir(dir, "p");
        let lower = tmpfs().attach(&p).unwrap();
        fs::write(p.join("lower"), b"").unwrap();
        let _upper = tmpfs().attach(&p).unwrap();
        fs::write(p.join("upper"), b"").unwrap();
        let link = format!("/proc/thread-self/fd/{}", lower.as_raw_fd());
        rustix::mount::unmount(link.as_str(), rustix::mount::UnmountFlags::DETACH).unwrap();
        assert!(p.join("lower").exists(), "the lower mount is still there");
        assert!(!p.join("upper").exists(), "the upper one went");
    });
}

/// A FUSE mount's type is `fuse.SUBTYPE` on both paths (statmount keeps the
/// subtype apart, mountinfo joins them). No daemon: the `/dev/fuse` fd is
/// closed right after the mount, which aborts the connection, so nothing
/// can hang on it.
#[test]
fn a_fuse_subtype_reads_the_same_on_both_paths() {
    use std::os::fd::AsRawFd;
    in_private_ns(|dir| {
        let Ok(dev) = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
        else {
            eprintln!("skipped: no /dev/fuse");
            return;
        };
        let p = mkdir(dir, "fuse");
        let ctx = FsContext::new("fuse").unwrap();
        ctx.set_string("fd", &dev.as_raw_fd().to_string()).unwrap();
        ctx.set_string("rootmode", "40000").unwrap();
        ctx.set_string("user_id", "0").unwrap();
        ctx.set_string("group_id", "0").unwrap();
        ctx.set_string("subtype", "mountfdtest").unwrap();
        drop(ctx.mount(&MountAttr::new()).unwrap().attach(&p).unwrap());
        drop(dev);
        let find = |v: Vec<MountInfo>| v.into_iter().find(|m| m.mount_point == p).unwrap();
        let primary = find(mounts().unwrap());
        assert_eq!(primary.fs_type, "fuse.mountfdtest");
        lose_statmount();
        let fallback = find(mounts().unwrap());
        assert_eq!(fallback.fs_type, primary.fs_type);
        assert_eq!(fallback.source, primary.source);
        assert_eq!(fallback.superblock_options, primary.superblock_options);
    });
}
