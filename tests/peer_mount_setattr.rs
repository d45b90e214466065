//! Scenarios of the kernel's own selftest for `mount_setattr(2)`, run
//! through `mountfd` where the typed API can express them and through the
//! raw hooks of `mountfd_testing::raw` where the selftest feeds the kernel
//! what the typed API never sends (bad fds, odd struct sizes).
//!
//! Source: linux `tools/testing/selftests/mount_setattr/mount_setattr_test.c`;
//! each test names the `TEST_F` it ports. Where the selftest only asserts
//! that a call fails, these tests also pin the errno the kernel gives
//! (Linux 6.18) and check that nothing changed and nothing leaked.
#![cfg(target_os = "linux")]

// `ST_*` flags as rustix defines them: one type (u64) on every target, where
// libc has c_ulong (u32 on 32-bit) and musl lacks ST_RELATIME.
use mountfd_testing::{self as common, leaks, reexec};
use rustix::fs::StatVfsMountFlags as St;

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use std::time::Duration;

use common::{in_private_ns, mkdir, my_mounts, ns, owner};
use leaks::Snapshot;
use mountfd::raw as abi;
use mountfd::{Atime, DetachedMount, Error, FsContext, MountAttr, UserNs};
use mountfd_testing::raw::{mount_setattr_bytes, open_tree_attr_bytes};
use rustix::fs::{AtFlags, Mode, OFlags};

/// `struct mount_attr` as the bytes the kernel reads.
fn attr_bytes(set: u64, clr: u64, propagation: u64, userns_fd: u64) -> Vec<u8> {
    [set, clr, propagation, userns_fd]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect()
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | flags, bytes)`.
fn setattr_fd(fd: BorrowedFd<'_>, flags: u32, bytes: &[u8]) -> Result<(), i32> {
    mount_setattr_bytes(fd, c"", abi::AT_EMPTY_PATH | flags, bytes)
}

/// `mount_setattr(AT_FDCWD, path, flags, bytes)`.
fn setattr_path(path: &Path, flags: u32, bytes: &[u8]) -> Result<(), i32> {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    mount_setattr_bytes(rustix::fs::CWD, &c, flags, bytes)
}

/// A new instance of `fstype` attached at `dir/name`.
fn fs_at(dir: &Path, name: &str, fstype: &str) -> std::path::PathBuf {
    let p = mkdir(dir, name);
    FsContext::new(fstype)
        .unwrap()
        .mount(&MountAttr::new())
        .unwrap()
        .attach(&p)
        .unwrap();
    p
}

/// `O_PATH` fd of a path (the root of an attached mount, say).
fn o_path(p: &Path) -> OwnedFd {
    rustix::fs::open(p, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap()
}

/// Owner of `name` below the root of a mount fd.
fn owner_at(fd: BorrowedFd<'_>, name: &str) -> (u32, u32) {
    let st = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW).unwrap();
    (st.st_uid, st.st_gid)
}

/// Whether this process is in the initial user namespace.
fn in_initial_userns() -> bool {
    fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

// --- mount_setattr_idmapped: invalid_fd_negative, invalid_fd_large,
//     invalid_fd_closed, and fds that are not user namespaces ------------

#[test]
fn invalid_userns_fds_are_refused_with_the_kernels_errno() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let tree = DetachedMount::clone_tree(&src, false).unwrap();
        let idmap = |fd: u64| attr_bytes(abi::MOUNT_ATTR_IDMAP, 0, 0, fd);

        // invalid_fd_negative: -EBADF as a u64 is above INT_MAX: EINVAL.
        let neg = (-libc::EBADF) as i64 as u64;
        assert_eq!(setattr_fd(tree.as_fd(), 0, &idmap(neg)), Err(libc::EINVAL));
        // invalid_fd_large: INT64_MAX: EINVAL.
        assert_eq!(
            setattr_fd(tree.as_fd(), 0, &idmap(i64::MAX as u64)),
            Err(libc::EINVAL)
        );
        // invalid_fd_closed: a number that is no open fd: EBADF.
        let closed = {
            let f = fs::File::open("/dev/null").unwrap();
            std::os::fd::AsRawFd::as_raw_fd(&f) as u64
        };
        assert_eq!(
            setattr_fd(tree.as_fd(), 0, &idmap(closed)),
            Err(libc::EBADF)
        );
        // An open fd that is no namespace at all, and a namespace of
        // another type: EINVAL.
        let null = fs::File::open("/dev/null").unwrap();
        let mntns = fs::File::open("/proc/self/ns/mnt").unwrap();
        for f in [&null, &mntns] {
            let fd = std::os::fd::AsRawFd::as_raw_fd(f) as u64;
            assert_eq!(setattr_fd(tree.as_fd(), 0, &idmap(fd)), Err(libc::EINVAL));
        }

        // The typed API refuses both before any mount call.
        for r in [
            UserNs::from_fd(null.try_clone().unwrap().into()),
            UserNs::open("/proc/self/ns/mnt"),
        ] {
            let err = r.unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
            assert_eq!(err.errno(), None);
        }

        // None of it changed the mount: still unmapped.
        assert_eq!(owner_at(tree.as_fd(), "."), (0, 0));
    });
}

// --- mount_setattr_idmapped: invalid_fd_initial_userns -------------------

#[test]
fn the_initial_user_namespace_cannot_idmap_a_mount() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        if !in_initial_userns() {
            common::skip("the tests do not run in the initial user namespace");
            return;
        }
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        let init = UserNs::open("/proc/self/ns/user").unwrap();
        let before = Snapshot::take();

        // Atomic path: open_tree_attr refuses with EPERM.
        let err = DetachedMount::clone_tree_idmapped(&src, false, &init).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Os {
                    op: mountfd::Op::OpenTreeAttr,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
        // Two-step path, as the selftest does it: mount_setattr, EPERM.
        let tree = DetachedMount::clone_tree(&src, false).unwrap();
        let err = tree
            .set_attr(&MountAttr::new().idmap(&init), false)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
        drop(tree);

        before.assert_unchanged("refused idmap", Duration::ZERO);
        assert!(fs::read_dir(&dst).unwrap().next().is_none());
    });
}

// --- mount_setattr_idmapped: attached_mount_inside_current_mount_namespace,
//     detached_mount_inside_current_mount_namespace --------------------------

#[test]
fn an_attached_mount_cannot_be_idmapped_but_a_detached_copy_can() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let mnt = common::tmpfs_at(dir, "mnt");
        fs::write(mnt.join("f"), b"").unwrap();
        let map = ns("0:10000:10000");
        let attr = attr_bytes(
            abi::MOUNT_ATTR_IDMAP,
            0,
            0,
            std::os::fd::AsRawFd::as_raw_fd(&map) as u64,
        );
        let before = my_mounts();

        // By fd (the selftest's open_tree without OPEN_TREE_CLONE) and by
        // path: EINVAL, the mount is not in an anonymous namespace.
        let attached = o_path(&mnt);
        assert_eq!(setattr_fd(attached.as_fd(), 0, &attr), Err(libc::EINVAL));
        assert_eq!(setattr_path(&mnt, 0, &attr), Err(libc::EINVAL));
        // open_tree_attr() without OPEN_TREE_CLONE is no way around it.
        let err =
            open_tree_attr_bytes(attached.as_fd(), c"", abi::AT_EMPTY_PATH, &attr).unwrap_err();
        assert_eq!(err, libc::EINVAL);
        assert_eq!(
            owner(&mnt.join("f")),
            (0, 0),
            "the attached mount is unchanged"
        );
        assert_eq!(before, my_mounts());

        // A detached copy of the same mount can be id-mapped.
        let tree = DetachedMount::clone_tree(&mnt, false).unwrap();
        tree.set_attr(&MountAttr::new().idmap(&map), false).unwrap();
        assert_eq!(owner_at(tree.as_fd(), "f"), (10000, 10000));
        assert_eq!(owner(&mnt.join("f")), (0, 0));
    });
}

// --- mount_setattr_idmapped: attached_mount_outside_current_mount_namespace,
//     detached_mount_outside_current_mount_namespace -------------------------

#[test]
fn after_leaving_the_mount_namespace_only_detached_mounts_can_be_idmapped() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let mnt = common::tmpfs_at(dir, "mnt");
        let map = ns("0:10000:10000");
        let attached = o_path(&mnt);
        let detached = DetachedMount::clone_tree(&mnt, false).unwrap();

        // A new mount namespace for this thread: `attached` now belongs to
        // a namespace that is neither ours nor anonymous.
        assert!(mountfd_testing::enter_private_mount_ns());

        let attr = attr_bytes(
            abi::MOUNT_ATTR_IDMAP,
            0,
            0,
            std::os::fd::AsRawFd::as_raw_fd(&map) as u64,
        );
        assert_eq!(setattr_fd(attached.as_fd(), 0, &attr), Err(libc::EINVAL));
        detached
            .set_attr(&MountAttr::new().idmap(&map), false)
            .unwrap();
        assert_eq!(owner_at(detached.as_fd(), "."), (10000, 10000));
    });
}

// --- mount_setattr_idmapped: change_idmapping ------------------------------

#[test]
fn an_idmapped_detached_mount_keeps_its_map_and_only_a_fresh_clone_takes_a_new_one() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let (first, second) = (ns("0:10000:10000"), ns("0:20000:10000"));
        let tree = DetachedMount::clone_tree(&src, false).unwrap();
        tree.set_attr(&MountAttr::new().idmap(&first), false)
            .unwrap();
        assert_eq!(owner_at(tree.as_fd(), "."), (10000, 10000));

        // mount_setattr cannot change the map: EPERM, and the map stays.
        let err = tree
            .set_attr(&MountAttr::new().idmap(&second), false)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
        // Nor can open_tree_attr() without OPEN_TREE_CLONE.
        let attr = attr_bytes(
            abi::MOUNT_ATTR_IDMAP,
            0,
            0,
            std::os::fd::AsRawFd::as_raw_fd(&second) as u64,
        );
        assert!(open_tree_attr_bytes(tree.as_fd(), c"", abi::AT_EMPTY_PATH, &attr).is_err());
        assert_eq!(owner_at(tree.as_fd(), "."), (10000, 10000));

        // open_tree_attr(OPEN_TREE_CLONE) on it makes a fresh clone with the
        // new map (Linux 6.15), leaving the original as it was.
        let clone = open_tree_attr_bytes(
            tree.as_fd(),
            c"",
            abi::AT_EMPTY_PATH | abi::OPEN_TREE_CLONE,
            &attr,
        )
        .unwrap();
        assert_eq!(owner_at(clone.as_fd(), "."), (20000, 20000));
        assert_eq!(owner_at(tree.as_fd(), "."), (10000, 10000));
    });
}

// --- mount_setattr_idmapped: idmap_mount_tree_invalid ----------------------

#[test]
fn a_recursive_map_over_a_submount_that_cannot_be_idmapped_fails_whole() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("f"), b"").unwrap();
        let map = ns("0:10000:10000");
        // The selftest puts ramfs (and devpts) under the tree; procfs and
        // sysfs cannot be id-mapped either.
        for fstype in ["ramfs", "devpts", "proc", "sysfs"] {
            let sub = fs_at(&src, fstype, fstype);
            let before = Snapshot::take();

            // One atomic call: refused with EINVAL, nothing created.
            let err = DetachedMount::clone_tree_idmapped(&src, true, &map).unwrap_err();
            assert_eq!(err.errno(), Some(libc::EINVAL), "{fstype}: {err}");
            before.assert_unchanged(fstype, Duration::ZERO);

            // Two steps: the recursive mount_setattr fails and leaves every
            // mount of the clone as it was, the top one included.
            let tree = DetachedMount::clone_tree(&src, true).unwrap();
            let err = tree
                .set_attr(&MountAttr::new().idmap(&map), true)
                .unwrap_err();
            assert_eq!(err.errno(), Some(libc::EINVAL), "{fstype}: {err}");
            assert_eq!(owner_at(tree.as_fd(), "f"), (0, 0), "{fstype}: top changed");

            // Mapping the top only is fine: the submount is left alone.
            tree.set_attr(&MountAttr::new().idmap(&map), false).unwrap();
            assert_eq!(owner_at(tree.as_fd(), "f"), (10000, 10000));
            drop(tree);
            rustix::mount::unmount(&sub, rustix::mount::UnmountFlags::DETACH).unwrap();
        }
        assert_eq!(owner(&src.join("f")), (0, 0));
    });
}

// --- mount_setattr: extensibility, and open_tree_attr's copy of it ---------

#[test]
fn struct_sizes_and_non_zero_tails() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let tree = DetachedMount::clone_tree(&src, false).unwrap();
        let zero = attr_bytes(0, 0, 0, 0);
        assert_eq!(zero.len(), abi::MOUNT_ATTR_SIZE_VER0);

        // Smaller than the first version: EINVAL.
        assert_eq!(setattr_fd(tree.as_fd(), 0, &[]), Err(libc::EINVAL));
        assert_eq!(setattr_fd(tree.as_fd(), 0, &zero[..16]), Err(libc::EINVAL));
        // Larger with a zero tail: accepted, as a future version would be.
        let mut large = [zero.clone(), zero.clone(), zero.clone()].concat();
        assert_eq!(setattr_fd(tree.as_fd(), 0, &large), Ok(()));
        // A non-zero byte in the tail: the kernel does not know what it
        // means and refuses with E2BIG.
        large[2 * 32] = abi::MOUNT_ATTR_RDONLY as u8;
        assert_eq!(setattr_fd(tree.as_fd(), 0, &large), Err(libc::E2BIG));
        let still_rw = rustix::fs::fstatvfs(tree.as_fd()).unwrap();
        assert_eq!(still_rw.f_flag.bits() & St::RDONLY.bits(), 0);
        // The real attributes first, a zero tail after them: applied.
        large[2 * 32] = 0;
        large[0] = abi::MOUNT_ATTR_RDONLY as u8;
        assert_eq!(setattr_fd(tree.as_fd(), 0, &large), Ok(()));
        let ro = rustix::fs::fstatvfs(tree.as_fd()).unwrap();
        assert_ne!(ro.f_flag.bits() & St::RDONLY.bits(), 0);

        // open_tree_attr reads the same struct the same way.
        let path = CString::new(src.as_os_str().as_bytes()).unwrap();
        let clone = abi::OPEN_TREE_CLONE;
        let cwd = rustix::fs::CWD;
        assert_eq!(
            open_tree_attr_bytes(cwd, &path, clone, &zero[..16]).unwrap_err(),
            libc::EINVAL
        );
        let mut large = [zero.clone(), zero.clone(), zero].concat();
        large[40] = 1;
        assert_eq!(
            open_tree_attr_bytes(cwd, &path, clone, &large).unwrap_err(),
            libc::E2BIG
        );
        large[40] = 0;
        assert!(open_tree_attr_bytes(cwd, &path, clone, &large).is_ok());
    });
}

// --- mount_setattr: invalid_attributes -------------------------------------

#[test]
fn unknown_flags_and_propagation_types_are_einval() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let tree = DetachedMount::clone_tree(&src, false).unwrap();
        let bad = 1u64 << 31;
        for (set, clr, prop) in [(bad, 0, 0), (0, bad, 0), (0, 0, bad), (bad, bad, bad)] {
            let bytes = attr_bytes(set, clr, prop, 0);
            assert_eq!(
                setattr_fd(tree.as_fd(), abi::AT_RECURSIVE, &bytes),
                Err(libc::EINVAL)
            );
        }
        // Two propagation types at once are no propagation type.
        let two = attr_bytes(0, 0, abi::MS_SHARED | abi::MS_PRIVATE, 0);
        assert_eq!(setattr_fd(tree.as_fd(), 0, &two), Err(libc::EINVAL));
    });
}

// --- mount_setattr: time_changes --------------------------------------------

#[test]
fn access_time_modes_must_clear_the_whole_mask_and_the_builder_does() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let tree = DetachedMount::clone_tree(&src, false).unwrap();
        // Setting an access-time mode without clearing MOUNT_ATTR__ATIME,
        // or two modes at once, or clearing one mode alone: EINVAL.
        for (set, clr) in [
            (abi::MOUNT_ATTR_NODIRATIME | abi::MOUNT_ATTR_NOATIME, 0),
            (abi::MOUNT_ATTR_STRICTATIME, 0),
            (
                abi::MOUNT_ATTR_STRICTATIME | abi::MOUNT_ATTR_NOATIME,
                abi::MOUNT_ATTR__ATIME,
            ),
            (0, abi::MOUNT_ATTR_STRICTATIME),
            (0, abi::MOUNT_ATTR_NOATIME),
        ] {
            let bytes = attr_bytes(set, clr, 0, 0);
            assert_eq!(
                setattr_fd(tree.as_fd(), 0, &bytes),
                Err(libc::EINVAL),
                "{set:#x}/{clr:#x}"
            );
        }

        // The builder always sends a valid combination, and the kernel shows it.
        let flags = |t: &DetachedMount| rustix::fs::fstatvfs(t.as_fd()).unwrap().f_flag.bits();
        tree.set_attr(&MountAttr::new().atime(Atime::None).nodiratime(), false)
            .unwrap();
        assert_ne!(flags(&tree) & St::NOATIME.bits(), 0);
        assert_ne!(flags(&tree) & St::NODIRATIME.bits(), 0);
        tree.set_attr(&MountAttr::new().atime(Atime::Relative), false)
            .unwrap();
        assert_eq!(flags(&tree) & St::NOATIME.bits(), 0);
        assert_ne!(flags(&tree) & St::RELATIME.bits(), 0);
        tree.set_attr(&MountAttr::new().atime(Atime::Strict), false)
            .unwrap();
        assert_eq!(flags(&tree) & (St::NOATIME.bits() | St::RELATIME.bits()), 0);
    });
}

// --- mount_setattr: mount_has_writers, basic_recursive ---------------------

#[test]
fn a_writer_on_a_submount_makes_a_recursive_readonly_fail_and_change_nothing() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        common::tmpfs_at(&src, "sub");
        let tree = DetachedMount::clone_tree(&src, true).unwrap();
        let writer = rustix::fs::openat(
            tree.as_fd(),
            "sub/b",
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .unwrap();

        // A file open for writing below: EBUSY, and every mount of the tree
        // keeps its flags (the top one included, changed "first").
        let attr = MountAttr::new().readonly().noexec();
        let err = tree.set_attr(&attr, true).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
        let top = rustix::fs::fstatvfs(tree.as_fd()).unwrap().f_flag.bits();
        assert_eq!(top & (St::RDONLY.bits() | St::NOEXEC.bits()), 0);
        let sub_fd = rustix::fs::openat(
            tree.as_fd(),
            "sub",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let sub = rustix::fs::fstatvfs(&sub_fd).unwrap().f_flag.bits();
        assert_eq!(sub & (St::RDONLY.bits() | St::NOEXEC.bits()), 0);

        // All writers gone: the same call succeeds, down to the submount.
        drop(writer);
        tree.set_attr(&attr, true).unwrap();
        let sub = rustix::fs::fstatvfs(&sub_fd).unwrap().f_flag.bits();
        assert_ne!(sub & St::RDONLY.bits(), 0);
        assert_ne!(sub & St::NOEXEC.bits(), 0);
    });
}

// --- mount_setattr: wrong_user_namespace -----------------------------------

const WRONG_USERNS_CHILD: &str = "child_in_a_user_namespace_without_rights_over_the_mounts";

#[test]
fn a_caller_in_another_user_namespace_gets_eperm() {
    let _alone = common::exclusive();
    if !common::privileged() {
        return;
    }
    // The child is root of a new user namespace (the selftest's
    // create_and_enter_userns()), but the mount namespace still belongs to
    // the initial one.
    reexec::run_child(
        WRONG_USERNS_CHILD,
        mountfd_testing::raw::command_in_new_user_ns,
    );
}

#[test]
#[ignore = "child half of a_caller_in_another_user_namespace_gets_eperm"]
fn child_in_a_user_namespace_without_rights_over_the_mounts() {
    if !reexec::is_child(WRONG_USERNS_CHILD) {
        return;
    }
    let here = std::env::current_dir().unwrap();
    let fds = leaks::fds();
    let err = DetachedMount::clone_tree(&here, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Os {
                op: mountfd::Op::OpenTree,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
    let bytes = attr_bytes(abi::MOUNT_ATTR_RDONLY, 0, 0, 0);
    assert_eq!(
        setattr_path(Path::new("/"), abi::AT_RECURSIVE, &bytes),
        Err(libc::EPERM)
    );
    assert_eq!(fds, leaks::fds());
}

// --- mount_setattr: mount_attr_nosymfollow ---------------------------------

#[test]
fn nosymfollow_makes_lookups_through_symlinks_eloop() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        fs::write(src.join("data"), b"d").unwrap();
        std::os::unix::fs::symlink(src.join("data"), src.join("symlink")).unwrap();
        DetachedMount::clone_tree_with(&src, false, &MountAttr::new().nosymfollow())
            .unwrap()
            .attach(&dst)
            .unwrap();
        let err = fs::File::open(dst.join("symlink")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        // The link itself is still there to read, and the source follows it.
        assert_eq!(
            fs::read_link(dst.join("symlink")).unwrap(),
            src.join("data")
        );
        assert_eq!(fs::read(src.join("symlink")).unwrap(), b"d");
        // ST_NOSYMFOLLOW, as the selftest defines it (libc lacks it).
        let flags = rustix::fs::statvfs(&dst).unwrap().f_flag.bits();
        assert_ne!(flags & 0x2000, 0);
    });
}

// --- mount_setattr: multi_threaded -----------------------------------------

#[test]
fn threads_changing_one_tree_at_once_all_succeed() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        common::tmpfs_at(&src, "sub");
        let tree = DetachedMount::clone_tree(&src, true).unwrap();
        let attr = MountAttr::new()
            .readonly()
            .nosuid()
            .propagation(mountfd::Propagation::Shared);
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| tree.set_attr(&attr, true)))
                .collect();
            for h in hs {
                h.join().unwrap().unwrap();
            }
        });
        let dst = mkdir(dir, "dst");
        tree.attach(&dst).unwrap();
        for p in [dst.clone(), dst.join("sub")] {
            let flags = rustix::fs::statvfs(&p).unwrap().f_flag.bits();
            assert_ne!(flags & St::RDONLY.bits(), 0, "{}", p.display());
            assert_ne!(flags & St::NOSUID.bits(), 0, "{}", p.display());
        }
        let shared = my_mounts()
            .lines()
            .filter(|l| {
                l.split(' ')
                    .nth(4)
                    .is_some_and(|t| t.starts_with(dst.to_str().unwrap()))
            })
            .filter(|l| l.split(" - ").next().unwrap().contains(" shared:"))
            .count();
        assert_eq!(shared, 2, "both mounts are shared");
    });
}

// --- mount_setattr: open_tree_detached, open_tree_detached_fail ------------

#[test]
fn a_detached_tree_can_be_cloned_from_until_the_caller_changes_namespace() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let sub = common::tmpfs_at(&src, "A");
        fs::write(sub.join("f"), b"").unwrap();
        let base = DetachedMount::clone_tree(&src, true).unwrap();
        let inside = format!("/proc/self/fd/{}/A", std::os::fd::AsRawFd::as_raw_fd(&base));

        // A clone of a submount of a detached tree (Linux 6.15+).
        let dst = mkdir(dir, "dst");
        DetachedMount::clone_tree(&inside, true)
            .unwrap()
            .attach(&dst)
            .unwrap();
        assert!(dst.join("f").exists());

        // Once the caller is in another mount namespace, the detached tree's
        // origin no longer matches: EINVAL.
        assert!(mountfd_testing::enter_private_mount_ns());
        let err = DetachedMount::clone_tree(&inside, true).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
    });
}
