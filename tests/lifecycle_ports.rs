//! Scenarios of the kernel selftests
//! `tools/testing/selftests/filesystems/statmount/statmount_test.c` and
//! `listmount_test.c`, and of util-linux's `mountpoint`, `findmnt -T` and
//! `umount -R` tests, ported to the crate's API (written anew; see
//! TESTING.md for the list).
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common};

use std::fs;
use std::path::{Path, PathBuf};

use common::{in_private_ns, mkdir, tmpfs_at};
use mountfd::{
    is_mountpoint, mounts, mounts_under, unmount_tree, DetachedMount, Error, MountInfo,
    UnmountFlags,
};
use rustix::fs::{statx, AtFlags, StatxFlags};

const STATX_MNT_ID_UNIQUE: u32 = 0x4000;

fn unique_id(p: &Path) -> u64 {
    let st = statx(
        rustix::fs::CWD,
        p,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::from_bits_retain(STATX_MNT_ID_UNIQUE),
    )
    .unwrap();
    assert_ne!(
        st.stx_mask & STATX_MNT_ID_UNIQUE,
        0,
        "kernel without STATX_MNT_ID_UNIQUE"
    );
    st.stx_mnt_id
}

/// statmount_test.c `test_statmount_mnt_basic`: the id statmount reports is
/// the one statx reports for the same place, and the parent's id is that of
/// the mount it sits on.
#[test]
fn statmount_mnt_basic_ids_match_statx() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        let info = MountInfo::of(&a).unwrap();
        assert_eq!(info.id, unique_id(&a));
        assert_eq!(info.parent_id, unique_id(dir));
        assert_eq!(MountInfo::of("/").unwrap().id, unique_id(Path::new("/")));
    });
}

/// statmount_test.c `test_statmount_mnt_point` / `test_statmount_mnt_root`:
/// the root mount is at `/` with root `/`; a bind of a subdirectory shows
/// that subdirectory as its root and the target as its mount point.
#[test]
fn statmount_mnt_point_and_mnt_root() {
    in_private_ns(|dir| {
        let root = MountInfo::of("/").unwrap();
        assert_eq!(root.mount_point, Path::new("/"));
        let src = mkdir(dir, "src");
        fs::create_dir(src.join("inner")).unwrap();
        let dst = mkdir(dir, "dst");
        DetachedMount::clone_tree(src.join("inner"), false)
            .unwrap()
            .attach(&dst)
            .unwrap();
        let info = MountInfo::of(&dst).unwrap();
        assert_eq!(info.mount_point, dst);
        // The scratch tmpfs is mounted over `dir`: the root is relative to it.
        let rel = Path::new("/").join(src.join("inner").strip_prefix(dir).unwrap());
        assert_eq!(info.root, rel);
    });
}

/// statmount_test.c `test_statmount_string` (a string table larger than
/// the buffer: `EOVERFLOW`, then a bigger buffer): a mount point whose path
/// alone is longer than the first buffer is read whole.
#[test]
fn statmount_long_strings_grow_the_buffer() {
    in_private_ns(|dir| {
        let mut p = dir.to_path_buf();
        while p.as_os_str().len() < 3700 {
            p.push("d".repeat(200));
        }
        fs::create_dir_all(&p).unwrap();
        // Root and mount point of a bind are both long: > 7 KiB of strings.
        let q = p.join("x".repeat(100));
        fs::create_dir(&q).unwrap();
        fs::create_dir(p.join("y")).unwrap();
        DetachedMount::clone_tree(&q, false)
            .unwrap()
            .attach(p.join("y"))
            .unwrap();
        let info = MountInfo::of(p.join("y")).unwrap();
        assert_eq!(info.mount_point, p.join("y"));
        assert!(info.root.as_os_str().len() > 3000);
        assert!(mounts()
            .unwrap()
            .iter()
            .any(|m| m.mount_point == p.join("y")));
    });
}

/// listmount_test.c `listmount_forward`: a namespace with more mounts than
/// one `listmount` batch is listed whole, in id order, each once.
#[test]
fn listmount_lists_more_than_one_batch_in_id_order() {
    in_private_ns(|dir| {
        let base = tmpfs_at(dir, "many");
        for i in 0..1100 {
            tmpfs_at(&base, &i.to_string());
        }
        let all = mounts().unwrap();
        let text = fs::read("/proc/thread-self/mountinfo").unwrap();
        let lines = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(all.len(), lines);
        assert!(
            all.windows(2).all(|w| w[0].id < w[1].id),
            "ids in order, no repeats"
        );
        assert_eq!(mounts_under(&base).unwrap().len(), 1101);
        assert_eq!(unmount_tree(&base, UnmountFlags::empty()).unwrap(), 1101);
    });
}

/// statmount_test.c `test_listmount_tree`: the subtree listmount gives for a
/// mount is the subtree mountinfo's parent links give. (Compared with the
/// mountinfo fallback in tests/lifecycle.rs.) Here: a mount without
/// submounts is its own whole subtree.
#[test]
fn listmount_of_a_leaf_is_just_the_leaf() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        let tree = mounts_under(&a).unwrap();
        assert_eq!(tree.len(), 1);
        assert_eq!(tree[0].mount_point, a);
    });
}

/// util-linux `tests/ts/misc/mountpoint` style: directories, the root,
/// a bind-mounted file, and missing paths.
#[test]
fn mountpoint_cases_from_util_linux() {
    in_private_ns(|dir| {
        assert!(is_mountpoint("/").unwrap());
        assert!(is_mountpoint(dir).unwrap());
        let plain = mkdir(dir, "plain");
        assert!(!is_mountpoint(&plain).unwrap());
        let f = dir.join("f");
        fs::write(&f, b"").unwrap();
        let g = dir.join("g");
        fs::write(&g, b"").unwrap();
        DetachedMount::clone_tree(&f, false)
            .unwrap()
            .attach(&g)
            .unwrap();
        assert!(is_mountpoint(&g).unwrap());
        assert!(!is_mountpoint(&f).unwrap());
        assert_eq!(
            is_mountpoint(dir.join("missing")).unwrap_err().errno(),
            Some(libc::ENOENT)
        );
    });
}

/// util-linux `findmnt -T` (the mount a path lives on), for a file deep in
/// a submount and for a directory that is not a mount point.
#[test]
fn findmnt_target_cases() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        fs::create_dir_all(a.join("x/y")).unwrap();
        fs::write(a.join("x/y/f"), b"").unwrap();
        assert_eq!(MountInfo::of(a.join("x/y/f")).unwrap().mount_point, a);
        assert_eq!(MountInfo::of(a.join("x")).unwrap().mount_point, a);
        assert_eq!(MountInfo::of(dir.join("a")).unwrap().mount_point, a);
    });
}

/// util-linux `tests/ts/umount/recursive`: `umount -R` of a tree with
/// binds and nested mounts leaves nothing, and says "not mounted" after.
#[test]
fn umount_recursive_cases_from_util_linux() {
    in_private_ns(|dir| {
        let top = tmpfs_at(dir, "top");
        let b = tmpfs_at(&top, "b");
        let c = tmpfs_at(&b, "c");
        let bind: PathBuf = mkdir(&top, "bind");
        DetachedMount::clone_tree(&b, true)
            .unwrap()
            .attach(&bind)
            .unwrap();
        // top, b, c, bind (of b) and c's copy under it.
        assert_eq!(unmount_tree(&top, UnmountFlags::empty()).unwrap(), 5);
        assert!(!c.exists() || !is_mountpoint(&top).unwrap());
        assert!(!is_mountpoint(&top).unwrap());
        assert!(matches!(
            unmount_tree(&top, UnmountFlags::empty()),
            Err(Error::NotMounted { .. })
        ));
    });
}
