//! Container runtimes' id-mapped mount scenarios, through `mountfd`.
//!
//! Sources:
//! - runc `tests/integration/idmap.bats`: the "[no userns]" cases, where
//!   the container has no user namespace of its own, so what the container
//!   sees is exactly what the mount shows. A runc mount's `uidMappings`
//!   entry `{containerID, hostID, size}` is `from:to:range` here: on-disk id
//!   `containerID` is seen as `hostID`.
//! - crun `tests/test_mounts.py`, `test_idmapped_mounts`: the `idmap` and
//!   `ridmap` mount options (map the top mount only, or every mount of a
//!   recursive bind) with `ro`.
//! - The load both runtimes put on the kernel when every bind mount of a
//!   container carries the same map: many id-mapped mounts sharing one user
//!   namespace, under a low `RLIMIT_NOFILE`.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, leaks, reexec};

use std::fs;
use std::path::{Path, PathBuf};

use common::{chown, in_private_ns, map, mkdir, owner};
use leaks::Snapshot;
use mountfd::{DetachedMount, MountAttr, Propagation, UserNs, UserNsCache};

fn userns(uids: &str, gids: &str) -> UserNs {
    UserNs::new(&map(uids), &map(gids)).unwrap()
}

fn bind(src: &Path, dst: &Path, ns: &UserNs) {
    DetachedMount::clone_tree_idmapped(src, false, ns)
        .unwrap()
        .attach(dst)
        .unwrap();
}

/// runc's setup(): source-multi{1,2,3} with foo, bar and baz owned by
/// different uids and gids.
fn runc_sources(dir: &Path) -> [PathBuf; 3] {
    let owners: [[(u32, u32); 3]; 3] = [
        [(100, 211), (101, 222), (102, 233)],
        // Same gids as multi1, different uids.
        [(200, 211), (201, 222), (202, 233)],
        // 1000 uids, 500 gids.
        [(5000528, 6000491), (5000133, 6000337), (5000999, 6000444)],
    ];
    let mut out = Vec::new();
    for (i, files) in owners.iter().enumerate() {
        let src = mkdir(dir, &format!("source-multi{}", i + 1));
        for (name, (uid, gid)) in ["foo.txt", "bar.txt", "baz.txt"].iter().zip(files) {
            fs::write(src.join(name), b"").unwrap();
            chown(&src.join(name), *uid, *gid);
        }
        out.push(src);
    }
    out.try_into().unwrap()
}

fn assert_owners(dir: &Path, expected: [(u32, u32); 3]) {
    for (name, want) in ["foo.txt", "bar.txt", "baz.txt"].iter().zip(expected) {
        assert_eq!(owner(&dir.join(name)), want, "{}", dir.join(name).display());
    }
}

// --- runc: "multiple idmap mounts (different mappings) [no userns]" -------

#[test]
fn runc_multiple_idmap_mounts_with_different_uid_and_gid_maps() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let [m1, m2, m3] = runc_sources(dir);
        let targets = [
            mkdir(dir, "mount-multi1"),
            mkdir(dir, "mount-multi2"),
            mkdir(dir, "mount-multi3"),
        ];
        bind(&m1, &targets[0], &userns("100:1100:3", "200:1900:50"));
        bind(&m2, &targets[1], &userns("200:2200:3", "200:2900:100"));
        bind(
            &m3,
            &targets[2],
            &userns("5000000:3000:1000", "6000000:3000:500"),
        );
        assert_owners(&targets[0], [(1100, 1911), (1101, 1922), (1102, 1933)]);
        assert_owners(&targets[1], [(2200, 2911), (2201, 2922), (2202, 2933)]);
        assert_owners(&targets[2], [(3528, 3491), (3133, 3337), (3999, 3444)]);
    });
}

// --- runc: "idmap mount (complicated mapping) [no userns]" ----------------

#[test]
fn runc_complicated_multi_extent_mapping() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let [m1, ..] = runc_sources(dir);
        let target = mkdir(dir, "mount-multi1");
        let ns = userns(
            "100:1000:1,101:2000:1,102:3000:1",
            "210:1100:10,220:2200:10,230:3300:10",
        );
        bind(&m1, &target, &ns);
        assert_owners(&target, [(1000, 1101), (2000, 2202), (3000, 3303)]);
    });
}

// --- runc: "same idmap mount (different mappings) [no userns]" ------------

#[test]
fn runc_same_source_mounted_twice_with_different_mappings() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let [m1, ..] = runc_sources(dir);
        let (a, b) = (mkdir(dir, "mount-multi1"), mkdir(dir, "mount-multi1-alt"));
        bind(&m1, &a, &userns("100:100000:100", "200:100000:100"));
        bind(&m1, &b, &userns("100:101000:100", "200:102000:100"));
        assert_owners(&a, [(100000, 100011), (100001, 100022), (100002, 100033)]);
        assert_owners(&b, [(101000, 102011), (101001, 102022), (101002, 102033)]);
        assert_owners(&m1, [(100, 211), (101, 222), (102, 233)]);
    });
}

// --- runc: "idmap mount with bind mount [no userns]" ----------------------

#[test]
fn runc_idmapped_mount_next_to_a_plain_bind_of_the_same_source() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "source-1");
        fs::write(src.join("foo.txt"), b"").unwrap();
        let (idmapped, plain) = (mkdir(dir, "mount-1"), mkdir(dir, "bind-mount-1"));
        bind(&src, &idmapped, &userns("0:100000:65536", "0:100000:65536"));
        DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach(&plain)
            .unwrap();
        assert_eq!(owner(&idmapped.join("foo.txt")), (100000, 100000));
        assert_eq!(owner(&plain.join("foo.txt")), (0, 0));
    });
}

// --- runc: "idmap mount with propagation flag" ----------------------------

#[test]
fn runc_idmap_mount_with_shared_propagation() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = mkdir(dir, "source-1");
        let target = mkdir(dir, "mount-1");
        let ns = userns("0:100000:65536", "0:100000:65536");
        let attr = MountAttr::new().idmap(&ns).propagation(Propagation::Shared);
        DetachedMount::clone_tree_with(&src, false, &attr)
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_eq!(owner(&target), (100000, 100000));
        let mountinfo = common::my_mounts();
        let line = mountinfo
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(target.to_str().unwrap()))
            .expect("the mount is listed");
        // Optional fields sit between the mount options and " - ".
        let optional = line.split(" - ").next().unwrap();
        assert!(optional.contains(" shared:"), "{line}");
    });
}

// --- crun: test_idmapped_mounts, `idmap` versus `ridmap`, with `ro` --------

/// A tree with submounts two levels deep, each with a root-owned file.
fn tree_with_submounts(dir: &Path) -> PathBuf {
    let src = mkdir(dir, "src");
    for p in ["sub", "sub/subsub"] {
        common::tmpfs_at(&src, p);
    }
    for f in ["file", "sub/file", "sub/subsub/file"] {
        fs::write(src.join(f), b"").unwrap();
    }
    src
}

#[test]
fn crun_idmap_maps_the_top_mount_and_ridmap_every_submount_all_read_only() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = tree_with_submounts(dir);
        let ns = userns("0:1:10", "0:1:10");
        let files = ["file", "sub/file", "sub/subsub/file"];

        // `rbind,ro,idmap`: a recursive bind, read-only everywhere, the map
        // on the top mount only.
        let idmap = mkdir(dir, "idmap");
        let tree = DetachedMount::clone_tree(&src, true).unwrap();
        tree.set_readonly(true).unwrap();
        tree.set_attr(&MountAttr::new().idmap(&ns), false).unwrap();
        tree.attach(&idmap).unwrap();
        let seen: Vec<_> = files.iter().map(|f| owner(&idmap.join(f))).collect();
        assert_eq!(seen, [(1, 1), (0, 0), (0, 0)]);

        // `rbind,ro,ridmap`: the same, the map on every mount, in one call.
        let ridmap = mkdir(dir, "ridmap");
        let attr = MountAttr::new().readonly().idmap(&ns);
        DetachedMount::clone_tree_with(&src, true, &attr)
            .unwrap()
            .attach(&ridmap)
            .unwrap();
        let seen: Vec<_> = files.iter().map(|f| owner(&ridmap.join(f))).collect();
        assert_eq!(seen, [(1, 1), (1, 1), (1, 1)]);

        for top in [&idmap, &ridmap] {
            for f in files {
                let err = fs::write(top.join(f), b"x").unwrap_err();
                assert_eq!(
                    err.raw_os_error(),
                    Some(libc::EROFS),
                    "{}",
                    top.join(f).display()
                );
            }
        }
        // crun's second check: another map shifts the owner by one more.
        let shifted = mkdir(dir, "shifted");
        bind(&src, &shifted, &userns("0:2:10", "0:2:10"));
        assert_eq!(owner(&shifted.join("file")), (2, 2));
    });
}

// --- many mounts sharing one map under a low RLIMIT_NOFILE -----------------

const MANY_MOUNTS_CHILD: &str = "child_many_idmapped_mounts_under_a_low_fd_limit";

/// How many id-mapped mounts the child makes; the fd limit is a handful
/// above what it has open when it starts.
const MANY_MOUNTS: usize = 400;

#[test]
fn many_idmapped_mounts_sharing_one_map_fit_under_a_low_fd_limit() {
    let _alone = common::exclusive();
    if !common::privileged() {
        return;
    }
    // RLIMIT_NOFILE is per process: the limit is set in a child process.
    reexec::run_child(MANY_MOUNTS_CHILD, |_| {});
}

#[test]
#[ignore = "child half of many_idmapped_mounts_sharing_one_map_fit_under_a_low_fd_limit"]
fn child_many_idmapped_mounts_under_a_low_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    if !reexec::is_child(MANY_MOUNTS_CHILD) {
        return;
    }
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("f"), b"").unwrap();
        let targets: Vec<PathBuf> = (0..MANY_MOUNTS)
            .map(|i| mkdir(dir, &format!("m{i}")))
            .collect();

        let highest = *leaks::fds().keys().max().unwrap();
        let limit = u64::from(highest) + 1 + 8;
        let old = getrlimit(Resource::Nofile);
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(limit),
                maximum: old.maximum,
            },
        )
        .unwrap();
        let before = Snapshot::take();

        // One namespace, from a cache as a runtime would keep it, for every
        // mount: each mount holds its own reference to it, no fd.
        let cache = UserNsCache::new(4);
        let m = map("0:100000:65536");
        for t in &targets {
            let ns = cache.get_idmap(&m).unwrap();
            let attr = MountAttr::new().idmap(&ns).readonly().nosuid().nodev();
            DetachedMount::clone_tree_with(&src, false, &attr)
                .unwrap()
                .attach(t)
                .unwrap();
        }
        assert_eq!(cache.len(), 1);
        drop(cache);
        for t in &targets {
            assert_eq!(owner(&t.join("f")), (100000, 100000), "{}", t.display());
        }
        let mounts = common::my_mounts();
        let after = Snapshot::take();
        assert_eq!(before.fds, after.fds, "no fd is kept per mount");
        assert_eq!(after.children, before.children);
        assert_eq!(
            mounts.lines().count(),
            before.mounts.lines().count() + MANY_MOUNTS
        );

        // Past the limit, the failure is a typed EMFILE, not a panic or a
        // half-made mount.
        let hog: Vec<_> = std::iter::from_fn(|| fs::File::open("/dev/null").ok()).collect();
        let err = DetachedMount::clone_tree(&src, false).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EMFILE), "{err}");
        drop(hog);
        assert_eq!(leaks::fds(), after.fds, "nothing left open by the failure");
        assert_eq!(
            mounts,
            common::my_mounts(),
            "nothing mounted by the failure"
        );
    });
}
