//! [`UserNsCache`] against the real kernel: equal maps share one namespace,
//! the cache keeps no more fds than its capacity, and its handles id-map
//! mounts like any [`UserNs`].
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::os::fd::AsRawFd;
use std::sync::Arc;

use common::{chown, in_private_ns, map, mkdir, owner};
use mountfd::{DetachedMount, IdMap, MountAttr, UserNs, UserNsCache};

/// The nsfs inode of a namespace fd: equal for one namespace, unique otherwise.
fn ns_inode(ns: &UserNs) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", ns.as_raw_fd()))
        .unwrap()
        .ino()
}

#[test]
fn equal_maps_share_one_kernel_namespace() {
    if !common::privileged() {
        return;
    }
    let _alone = common::exclusive();
    let cache = UserNsCache::new(8);
    let a1 = cache.get_idmap(&map("0:100000:65536")).unwrap();
    let a2 = cache.get_idmap(&map("0:100000:65536")).unwrap();
    let b = cache.get_idmap(&map("0:200000:65536")).unwrap();
    let split = cache
        .get(&map("0:100000:65536"), &map("0:200000:65536"))
        .unwrap();
    assert!(Arc::ptr_eq(&a1, &a2));
    assert_eq!(ns_inode(&a1), ns_inode(&a2));
    assert_ne!(ns_inode(&a1), ns_inode(&b));
    assert_ne!(ns_inode(&a1), ns_inode(&split));
    assert_eq!(cache.len(), 3);
    assert!(common::children().is_empty(), "no child left behind");
}

#[test]
fn cached_handles_id_map_mounts() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, dst1, dst2) = (mkdir(dir, "src"), mkdir(dir, "dst1"), mkdir(dir, "dst2"));
        std::fs::write(src.join("f"), b"").unwrap();
        chown(&src.join("f"), 0, 0);
        let cache = UserNsCache::default();
        let uids = map("0:100000:65536");
        let gids = map("0:200000:65536");
        let ns = cache.get(&uids, &gids).unwrap();
        DetachedMount::clone_tree_idmapped(&src, false, &ns)
            .unwrap()
            .attach(&dst1)
            .unwrap();
        let again = cache.get(&uids, &gids).unwrap();
        let attr = MountAttr::new().idmap(&again).readonly();
        DetachedMount::clone_tree_with(&src, false, &attr)
            .unwrap()
            .attach(&dst2)
            .unwrap();
        drop((ns, again));
        // The mounts keep their own reference once the handles are gone.
        cache.clear();
        assert_eq!(owner(&dst1.join("f")), (100000, 200000));
        assert_eq!(owner(&dst2.join("f")), (100000, 200000));
    });
}

#[test]
fn cache_holds_at_most_capacity_fds_and_none_after_drop() {
    if !common::privileged() {
        return;
    }
    let _alone = common::exclusive();
    let before = common::fd_count();
    let cache = UserNsCache::new(4);
    for i in 0..20u32 {
        let m = IdMap::single(0, 100_000 + i * 65_536, 65_536).unwrap();
        drop(cache.get_idmap(&m).unwrap());
        assert!(cache.len() <= 4);
        assert!(common::fd_count() <= before + 4);
    }
    drop(cache);
    assert_eq!(common::fd_count(), before);
    assert!(common::children().is_empty());
}

#[test]
fn threads_asking_for_one_map_get_one_namespace() {
    if !common::privileged() {
        return;
    }
    let _alone = common::exclusive();
    let cache = UserNsCache::new(4);
    let m = map("0:300000:65536");
    let inodes: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| s.spawn(|| ns_inode(&cache.get_idmap(&m).unwrap())))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(inodes.iter().all(|&i| i == inodes[0]), "{inodes:?}");
    assert_eq!(cache.len(), 1);
}
