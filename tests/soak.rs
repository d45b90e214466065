//! Soak: 10,000 mixed operations across 16 threads, a share of them failing
//! on purpose, then the process must look exactly as before: the same open
//! fds, no child process, no loop device backed by one of its files, and
//! the same mount table (each thread's, and the host's).
//!
//! Every thread enters a private mount namespace of its own (with a tmpfs
//! on `/tmp`) and runs a deterministic pseudo-random mix of: user
//! namespaces from maps (valid and invalid), id-mapped and read-only clones
//! attached and checked, recursive clones over submounts, filesystem
//! contexts (with good and bad options), loop devices (with good and bad
//! options), images mounted through loop devices when `mkfs.ext4` is there,
//! and calls that must fail (missing paths, filesystems that cannot be
//! id-mapped, re-mapping through `mount_setattr`, unknown filesystem types,
//! namespaces of the wrong type). Each result is checked: successes for what
//! they did, failures for their type and errno.
//!
//! `MOUNTFD_SOAK_OPS` changes the total (default 10,000).
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, image_util, leaks};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{mkdir, owner};
use leaks::Snapshot;
use mountfd::{
    mount_image, Atime, DetachedMount, Error, FsContext, IdMap, LoopDevice, LoopOptions, MountAttr,
    Propagation, UserNs, UserNsCache,
};

const THREADS: usize = 16;

/// xorshift64*: a small deterministic generator, one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one thread did, by operation and outcome.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<(&'static str, &'static str), usize>,
}

impl Tally {
    fn ok(&mut self, op: &'static str) {
        *self.counts.entry((op, "ok")).or_default() += 1;
    }

    fn failed(&mut self, op: &'static str) {
        *self.counts.entry((op, "failed on purpose")).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
    }

    fn total(&self) -> usize {
        self.counts.values().sum()
    }

    fn failures(&self) -> usize {
        self.counts
            .iter()
            .filter(|((_, outcome), _)| *outcome != "ok")
            .map(|(_, n)| n)
            .sum()
    }
}

/// Detaches whatever is mounted on `target`, submounts included.
fn unmount(target: &Path) {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).unwrap();
}

fn expect_errno<T: std::fmt::Debug>(r: mountfd::Result<T>, errno: i32, what: &str) {
    let err = r.expect_err(what);
    assert!(matches!(err, Error::Os { .. }), "{what}: {err:?}");
    assert_eq!(err.errno(), Some(errno), "{what}: {err}");
}

/// Everything a thread works on, in its private `/tmp`.
struct Fixture {
    dir: PathBuf,
    src: PathBuf,
    target: PathBuf,
    img: PathBuf,
    ext4: Option<PathBuf>,
    maps: Vec<(IdMap, UserNs)>,
    cache: UserNsCache,
}

impl Fixture {
    fn new(thread: usize) -> Fixture {
        let dir = common::scratch_dir(&format!("soak-{thread}"));
        let src = mkdir(&dir, "src");
        common::tmpfs_at(&src, "sub");
        for f in ["f", "sub/f"] {
            fs::write(src.join(f), b"soak").unwrap();
        }
        common::chown(&src.join("sub/f"), 7, 7);
        let target = mkdir(&dir, "target");
        let img = dir.join(format!("soak-{thread}.img"));
        fs::write(&img, vec![0u8; 2 << 20]).unwrap();
        // Quietly without images where mkfs.ext4 is missing.
        let ext4 = image_util::have("mkfs.ext4")
            .then(|| image_util::ext4(&dir, &format!("soak-{thread}")))
            .flatten();
        let maps = (0..4u32)
            .map(|i| {
                let m: IdMap = format!("0:{}:65536", 100_000 + i * 65_536).parse().unwrap();
                let ns = UserNs::from_idmap(&m).unwrap();
                (m, ns)
            })
            .collect();
        Fixture {
            dir,
            src,
            target,
            img,
            ext4,
            maps,
            cache: UserNsCache::new(8),
        }
    }
}

/// One operation, picked by `rng`; checks its own outcome.
fn step(fx: &Fixture, rng: &mut Rng, tally: &mut Tally) {
    match rng.below(20) {
        // A user namespace from a valid map, sometimes split uid/gid.
        0 | 1 => {
            let base = 100_000 + rng.below(1000) as u32 * 65_536;
            let uids: IdMap = format!("0:{base}:65536").parse().unwrap();
            let gids: IdMap = format!("0:{}:1000,1000:{}:1", base + 7, base + 70_000)
                .parse()
                .unwrap();
            drop(UserNs::new(&uids, &gids).unwrap());
            tally.ok("UserNs::new");
        }
        // An invalid map: refused before any system call.
        2 => {
            let bad = ["0:1:0", "0:0:10,5:100:10", "4294967295:0:1", "", "0:1:2:3"];
            let text = bad[rng.below(bad.len() as u64) as usize];
            let err = text.parse::<IdMap>().unwrap_err();
            assert!(matches!(err, Error::InvalidIdMap(_)), "{text:?}: {err}");
            tally.failed("IdMap::from_str");
        }
        // An id-mapped, read-only recursive clone, attached and checked.
        3..=5 => {
            let i = rng.below(fx.maps.len() as u64) as usize;
            let (map, ns) = &fx.maps[i];
            let attr = MountAttr::new().idmap(ns).readonly().nosuid().nodev();
            DetachedMount::clone_tree_with(&fx.src, true, &attr)
                .unwrap()
                .attach(&fx.target)
                .unwrap();
            let top = map.map_id(0).unwrap();
            assert_eq!(owner(&fx.target.join("f")), (top, top));
            assert_eq!(owner(&fx.target.join("sub/f")), (top + 7, top + 7));
            let err = fs::write(fx.target.join("sub/new"), b"").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EROFS));
            unmount(&fx.target);
            tally.ok("clone_tree_with(idmap, ro) + attach");
        }
        // The shared-namespace cache, as a runtime would use it.
        6 => {
            let (map, _) = &fx.maps[rng.below(fx.maps.len() as u64) as usize];
            let ns = fx.cache.get_idmap(map).unwrap();
            let tree = DetachedMount::clone_tree_idmapped(&fx.src, false, &ns).unwrap();
            drop(tree);
            tally.ok("UserNsCache + clone_tree_idmapped");
        }
        // Attributes on a detached clone, then dropped unattached.
        7 => {
            let tree = DetachedMount::clone_tree(&fx.src, rng.below(2) == 0).unwrap();
            let attr = MountAttr::new()
                .noexec()
                .atime(Atime::None)
                .propagation(Propagation::Private);
            tree.set_attr(&attr, true).unwrap();
            tree.set_readonly(false).unwrap();
            drop(tree);
            tally.ok("set_attr on a detached clone");
        }
        // Re-map through mount_setattr: EPERM, on purpose.
        8 => {
            let tree = DetachedMount::clone_tree_idmapped(&fx.src, false, &fx.maps[0].1).unwrap();
            let r = tree.set_attr(&MountAttr::new().idmap(&fx.maps[1].1), false);
            expect_errno(r, libc::EPERM, "re-map via mount_setattr");
            tally.failed("set_attr(re-map)");
        }
        // Re-map through open_tree_attr: works (Linux 6.15+).
        9 => {
            DetachedMount::clone_tree_idmapped(&fx.src, false, &fx.maps[0].1)
                .unwrap()
                .attach(&fx.target)
                .unwrap();
            let remapped =
                DetachedMount::clone_tree_idmapped(&fx.target, false, &fx.maps[2].1).unwrap();
            let st = rustix::fs::statat(&remapped, "f", rustix::fs::AtFlags::empty()).unwrap();
            let want = fx.maps[2].0.map_id(0).unwrap();
            assert_eq!((st.st_uid, st.st_gid), (want, want));
            drop(remapped);
            unmount(&fx.target);
            tally.ok("clone_tree_idmapped(re-map)");
        }
        // A filesystem context with good options, attached.
        10 | 11 => {
            let fs = FsContext::new("tmpfs").unwrap();
            fs.set_string("size", "1m").unwrap();
            fs.set_string("mode", "0700").unwrap();
            fs.mount(&MountAttr::new().nodev().nosuid())
                .unwrap()
                .attach(&fx.target)
                .unwrap();
            fs::write(fx.target.join("x"), b"x").unwrap();
            unmount(&fx.target);
            tally.ok("FsContext(tmpfs) + attach");
        }
        // A bad option: EINVAL with the kernel's message, on purpose.
        12 => {
            let fs = FsContext::new("tmpfs").unwrap();
            let err = fs.set_string("nosuchoption", "1").unwrap_err();
            assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
            assert!(err.kernel_message().is_some(), "{err:?}");
            tally.failed("FsContext::set_string(bad)");
        }
        // A loop device, checked, dropped (autoclear).
        13 | 14 => {
            let opts = LoopOptions {
                offset: 512 * rng.below(8),
                read_only: rng.below(2) == 0,
                ..LoopOptions::new()
            };
            let dev = LoopDevice::attach(&fx.img, &opts).unwrap();
            let st = dev.status().unwrap();
            assert_eq!((st.offset, st.read_only), (opts.offset, opts.read_only));
            drop(dev);
            tally.ok("LoopDevice::attach");
        }
        // A loop device with an offset past the end: refused, no device.
        15 => {
            let opts = LoopOptions {
                offset: 4 << 20,
                ..LoopOptions::new()
            };
            let err = LoopDevice::attach(&fx.img, &opts).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
            tally.failed("LoopDevice::attach(bad offset)");
        }
        // An ext4 image through a loop device, read-only and id-mapped.
        16 => {
            let Some(img) = &fx.ext4 else {
                // Without mkfs.ext4, a plain loop device instead.
                drop(LoopDevice::attach(&fx.img, &LoopOptions::new()).unwrap());
                tally.ok("LoopDevice::attach");
                return;
            };
            let attr = MountAttr::new().readonly().idmap(&fx.maps[0].1);
            mount_image(img, "ext4", &attr)
                .unwrap()
                .attach(&fx.target)
                .unwrap();
            assert!(fx.target.join("hello.txt").exists());
            assert_eq!(owner(&fx.target.join("hello.txt")), (100_000, 100_000));
            unmount(&fx.target);
            tally.ok("mount_image(ext4, ro, idmap)");
        }
        // Calls that must fail, with their errno.
        _ => {
            match rng.below(5) {
                0 => {
                    let r = DetachedMount::clone_tree(fx.dir.join("missing"), false);
                    expect_errno(r, libc::ENOENT, "missing path");
                }
                1 => {
                    let r = DetachedMount::clone_tree_idmapped("/proc", false, &fx.maps[0].1);
                    expect_errno(r, libc::EINVAL, "procfs cannot be id-mapped");
                }
                2 => {
                    let r = FsContext::new("nosuchfs");
                    expect_errno(r, libc::ENODEV, "unknown filesystem type");
                }
                3 => {
                    let err = UserNs::open("/proc/self/ns/mnt").unwrap_err();
                    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
                }
                _ => {
                    let r = mount_image(&fx.img, "ext4", &MountAttr::new().readonly());
                    let err = r.unwrap_err();
                    assert!(err.errno().is_some(), "no filesystem on it: {err}");
                }
            }
            tally.failed("must fail");
        }
    }
}

#[test]
fn ten_thousand_mixed_operations_on_sixteen_threads_leave_nothing_behind() {
    if !common::privileged() {
        return;
    }
    let total: usize = std::env::var("MOUNTFD_SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let host_mounts = common::host_mounts();
    let loop_nodes = common::loop_device_numbers();
    let before = Snapshot::take();
    let start = Instant::now();

    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    assert!(common::enter_private_mount_ns());
                    let fx = Fixture::new(t);
                    let mounts = common::my_mounts();
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                    let mut tally = Tally::default();
                    let mine = total / THREADS + usize::from(t < total % THREADS);
                    for _ in 0..mine {
                        step(&fx, &mut rng, &mut tally);
                    }
                    drop(fx);
                    assert_eq!(mounts, common::my_mounts(), "thread {t}: mounts left");
                    tally
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();

    let mut all = Tally::default();
    for t in tallies {
        all.merge(t);
    }
    for ((op, outcome), n) in &all.counts {
        eprintln!("{n:6}  {op}: {outcome}");
    }
    eprintln!(
        "soak: {} operations ({} failing on purpose) on {THREADS} threads in {:.1?} ({:.0} ops/s)",
        all.total(),
        all.failures(),
        elapsed,
        all.total() as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(all.total(), total);
    assert!(
        all.failures() * 10 >= total,
        "at least a tenth fails on purpose"
    );

    // The namespaces of the threads, and the loop devices they used, go
    // away asynchronously once nothing holds them: allow them to settle.
    before.assert_unchanged("after the soak", Duration::from_secs(10));
    assert_eq!(
        host_mounts,
        common::host_mounts(),
        "the host's mount table changed"
    );
    // Concurrent attaches made the kernel create device nodes; the host
    // keeps the set it had.
    common::remove_new_loop_devices(&loop_nodes, "/mountfd-soak-");
    assert_eq!(
        loop_nodes,
        common::loop_device_numbers(),
        "loop device nodes left"
    );
}
