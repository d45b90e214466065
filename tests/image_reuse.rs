//! One image mounted more than once (issue 10, item 5): `mount_image`
//! reuses the loop device already bound to the same range of the same file,
//! as `mount -o loop` does, so the kernel returns the superblock already on
//! it instead of making a second one over the same blocks (two ext4
//! superblocks on one file replay and write one journal: corruption). A
//! range that overlaps but differs, or read-write on a read-only device, is
//! refused with [`Error::LoopInUse`] naming the device. Concurrent callers,
//! threads or processes, serialize on `flock(/dev/loop-control)` and end on
//! one device.
#![cfg(target_os = "linux")]

use mountfd_testing as common;
use mountfd_testing::image_util;
use mountfd_testing::leaks;
use mountfd_testing::reexec;

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{in_private_ns, mkdir};
use image_util::{assert_no_device_for, dev_of, devices_backed_by, umount};
use leaks::Snapshot;
use mountfd::{
    mount_image, mount_image_with, DetachedMount, Error, LoopDevice, LoopOptions, MountAttr,
};

const SETTLE: Duration = Duration::from_secs(5);
const MIB: u64 = 1 << 20;

/// The device number of the filesystem a detached mount shows.
fn fstat_dev(m: &DetachedMount) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let fd = m.as_fd().try_clone_to_owned().unwrap();
    let path = format!(
        "/proc/thread-self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    );
    fs::metadata(path).unwrap().dev()
}

fn loop_path(name: &str) -> PathBuf {
    Path::new("/dev").join(name)
}

#[test]
fn one_image_mounted_twice_read_write_shares_one_device_and_one_superblock() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "reuse-twice") else {
            return;
        };
        let before = Snapshot::take();
        let (a, b) = (mkdir(dir, "a"), mkdir(dir, "b"));
        mount_image(&img, "ext4", &MountAttr::new())
            .unwrap()
            .attach(&a)
            .unwrap();
        mount_image(&img, "ext4", &MountAttr::new())
            .unwrap()
            .attach(&b)
            .unwrap();
        let devs = devices_backed_by(&img);
        assert_eq!(devs.len(), 1, "one loop device: {devs:?}");
        assert_eq!(dev_of(&a), dev_of(&b), "one superblock");
        // What one mount writes the other sees at once: the same superblock.
        fs::write(a.join("through-a"), b"written through a").unwrap();
        assert_eq!(fs::read(b.join("through-a")).unwrap(), b"written through a");
        // LoopDevice::find sees the same device.
        let found = LoopDevice::find(&img).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path(), loop_path(&devs[0]));
        umount(&a);
        assert_eq!(devices_backed_by(&img), devs, "still used by b");
        umount(&b);
        assert_no_device_for(&img);
        before.assert_unchanged("two mounts of one image", SETTLE);
    });
}

#[test]
fn threads_mounting_one_image_at_once_end_on_one_superblock() {
    const THREADS: usize = 8;
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "reuse-threads") else {
            return;
        };
        let before = Snapshot::take();
        for round in 0..5 {
            let start = std::sync::Barrier::new(THREADS);
            let mounts: Vec<DetachedMount> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            mount_image(&img, "ext4", &MountAttr::new()).unwrap()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mut devs: Vec<u64> = mounts.iter().map(fstat_dev).collect();
            devs.dedup();
            assert_eq!(devs.len(), 1, "round {round}: one superblock");
            assert_eq!(devices_backed_by(&img).len(), 1, "round {round}");
            drop(mounts);
            assert_no_device_for(&img);
        }
        before.assert_unchanged("threads mounting one image", SETTLE);
    });
}

const CHILD: &str = "child_mounts_the_image_read_write";
const PROCESSES: usize = 4;

#[test]
fn processes_mounting_one_image_at_once_end_on_one_superblock() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "reuse-processes") else {
            return;
        };
        let before = Snapshot::take();
        let go = dir.join("go");
        let targets: Vec<PathBuf> = (0..PROCESSES)
            .map(|i| mkdir(dir, &format!("p{i}")))
            .collect();
        // Each child shares this thread's mount namespace (a child of a
        // thread starts in that thread's namespace), waits for `go`, then
        // mounts the image on its target and exits; the mount stays.
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = targets
            .iter()
            .map(|t| {
                std::process::Command::new(&exe)
                    .args(["--exact", CHILD, "--ignored", "--nocapture"])
                    .args(["--test-threads=1"])
                    .env(reexec::CHILD_ENV, CHILD)
                    .env("MOUNTFD_TEST_IMAGE", &img)
                    .env("MOUNTFD_TEST_TARGET", t)
                    .env("MOUNTFD_TEST_GO", &go)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Let them all start and wait, then release them together.
        std::thread::sleep(Duration::from_millis(300));
        fs::write(&go, b"").unwrap();
        for c in children {
            let out = c.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "child: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let devs: Vec<(u32, u32)> = targets.iter().map(|t| dev_of(t)).collect();
        assert!(devs.windows(2).all(|w| w[0] == w[1]), "{devs:?}");
        assert_eq!(devices_backed_by(&img).len(), 1);
        fs::write(targets[0].join("from-parent"), b"x").unwrap();
        assert!(targets[PROCESSES - 1].join("from-parent").exists());
        for t in &targets {
            umount(t);
        }
        assert_no_device_for(&img);
        before.assert_unchanged("processes mounting one image", SETTLE);
    });
}

#[test]
#[ignore = "the child half of processes_mounting_one_image_at_once_end_on_one_superblock"]
fn child_mounts_the_image_read_write() {
    if !reexec::is_child(CHILD) {
        return;
    }
    let var = |k: &str| PathBuf::from(std::env::var_os(k).unwrap());
    let (img, target, go) = (
        var("MOUNTFD_TEST_IMAGE"),
        var("MOUNTFD_TEST_TARGET"),
        var("MOUNTFD_TEST_GO"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !go.exists() {
        assert!(std::time::Instant::now() < deadline, "never released");
        std::thread::sleep(Duration::from_micros(200));
    }
    mount_image(&img, "ext4", &MountAttr::new())
        .unwrap()
        .attach(&target)
        .unwrap();
}

/// A file holding two 8 MiB ext4 filesystems back to back.
fn two_filesystems(dir: &Path, name: &str) -> Option<(PathBuf, u64)> {
    let a = fs::read(image_util::ext4(dir, &format!("{name}-a"))?).unwrap();
    let b = fs::read(image_util::ext4(dir, &format!("{name}-b"))?).unwrap();
    let len = a.len() as u64;
    let path = dir.join(format!("{name}.img"));
    fs::write(&path, [a, b].concat()).unwrap();
    Some((path, len))
}

fn range(offset: u64, size_limit: u64) -> LoopOptions {
    LoopOptions {
        offset,
        size_limit,
        ..LoopOptions::new()
    }
}

#[test]
fn an_overlapping_different_range_is_refused_naming_the_device() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some((img, len)) = two_filesystems(dir, "reuse-overlap") else {
            return;
        };
        let before = Snapshot::take();
        let (a, b, a2) = (mkdir(dir, "a"), mkdir(dir, "b"), mkdir(dir, "a2"));
        let rw = MountAttr::new();
        // Two ranges side by side: two devices, two filesystems.
        mount_image_with(&img, "ext4", &rw, &range(0, len))
            .unwrap()
            .attach(&a)
            .unwrap();
        mount_image_with(&img, "ext4", &rw, &range(len, len))
            .unwrap()
            .attach(&b)
            .unwrap();
        assert_eq!(devices_backed_by(&img).len(), 2);
        assert_ne!(dev_of(&a), dev_of(&b));
        let dev_a = loop_path(
            &devices_backed_by(&img)
                .into_iter()
                .find(|d| image_util::sysfs(d, "loop/offset") == "0")
                .unwrap(),
        );

        // The first range again: its device, its superblock.
        mount_image_with(&img, "ext4", &rw, &range(0, len))
            .unwrap()
            .attach(&a2)
            .unwrap();
        assert_eq!(dev_of(&a), dev_of(&a2));

        // The first range with another end: the same blocks under another
        // device would be a second superblock of filesystem a.
        let err = mount_image_with(&img, "ext4", &rw, &range(0, len / 2)).unwrap_err();
        match &err {
            Error::LoopInUse {
                device,
                image,
                offset,
                size_limit,
                errno,
                ..
            } => {
                assert_eq!(device, &dev_a);
                assert_eq!(image, &img);
                assert_eq!(
                    (*offset, *size_limit, errno.raw_os_error()),
                    (0, len, libc::EBUSY)
                );
            }
            other => panic!("expected LoopInUse, got {other:?}"),
        }
        assert!(err.to_string().contains(&*dev_a.to_string_lossy()), "{err}");
        assert_eq!(err.errno(), Some(libc::EBUSY));
        assert_eq!(err.path(), Some(dev_a.as_path()));
        // The whole file overlaps both.
        let err = mount_image(&img, "ext4", &rw).unwrap_err();
        assert!(matches!(err, Error::LoopInUse { .. }), "{err:?}");
        eprintln!("{err}");
        // Read-only changes nothing about the overlap.
        let err = mount_image_with(&img, "ext4", &rw.readonly(), &range(MIB, 0)).unwrap_err();
        assert!(matches!(err, Error::LoopInUse { .. }), "{err:?}");
        assert_eq!(devices_backed_by(&img).len(), 2, "nothing more bound");

        for t in [&a, &a2, &b] {
            umount(t);
        }
        assert_no_device_for(&img);
        // With nothing bound, the whole file mounts (filesystem a).
        mount_image(&img, "ext4", &MountAttr::new().readonly())
            .unwrap()
            .attach(&a)
            .unwrap();
        umount(&a);
        assert_no_device_for(&img);
        before.assert_unchanged("overlapping ranges", SETTLE);
    });
}

#[test]
fn read_write_on_a_read_only_device_is_refused_naming_the_device() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "reuse-ro-device") else {
            return;
        };
        let before = Snapshot::take();
        let (ro, also_ro) = (mkdir(dir, "ro"), mkdir(dir, "also-ro"));
        mount_image(&img, "ext4", &MountAttr::new().readonly())
            .unwrap()
            .attach(&ro)
            .unwrap();
        let devs = devices_backed_by(&img);
        assert_eq!(devs.len(), 1);
        assert_eq!(image_util::sysfs(&devs[0], "ro"), "1");

        let err = mount_image(&img, "ext4", &MountAttr::new()).unwrap_err();
        match &err {
            Error::LoopInUse { device, errno, .. } => {
                assert_eq!(device, &loop_path(&devs[0]));
                assert_eq!(errno.raw_os_error(), libc::EROFS);
            }
            other => panic!("expected LoopInUse, got {other:?}"),
        }
        assert!(err.to_string().contains("read-only"), "{err}");
        eprintln!("{err}");
        // Read-only again is fine: the same device and superblock.
        mount_image(&img, "ext4", &MountAttr::new().readonly())
            .unwrap()
            .attach(&also_ro)
            .unwrap();
        assert_eq!(dev_of(&ro), dev_of(&also_ro));
        assert_eq!(devices_backed_by(&img), devs);
        umount(&ro);
        umount(&also_ro);
        assert_no_device_for(&img);

        // A read-only device bound by someone else (losetup -r), unmounted.
        let held = LoopDevice::attach(
            &img,
            &LoopOptions {
                read_only: true,
                ..LoopOptions::new()
            },
        )
        .unwrap();
        let err = mount_image(&img, "ext4", &MountAttr::new()).unwrap_err();
        assert!(
            matches!(&err, Error::LoopInUse { device, errno, .. } if device == held.path() && errno.raw_os_error() == libc::EROFS),
            "{err:?}"
        );
        drop(held);
        assert_no_device_for(&img);
        before.assert_unchanged("read-only device", SETTLE);
    });
}

#[test]
fn read_only_on_a_superblock_mounted_read_write_is_ebusy_and_says_why() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "reuse-rw-sb") else {
            return;
        };
        let before = Snapshot::take();
        let rw = mkdir(dir, "rw");
        mount_image(&img, "ext4", &MountAttr::new())
            .unwrap()
            .attach(&rw)
            .unwrap();
        let devs = devices_backed_by(&img);
        // The device is reused, and the kernel will not make the superblock
        // it finds there read-only (`get_tree_bdev` in fs/super.c).
        let err = mount_image(&img, "ext4", &MountAttr::new().readonly()).unwrap_err();
        eprintln!("{err}");
        assert_eq!(err.errno(), Some(libc::EBUSY), "{err:?}");
        assert_eq!(err.path(), Some(loop_path(&devs[0]).as_path()));
        // Linux 6.18 says so on the context.
        assert!(err.to_string().contains("would change RO state"), "{err}");
        assert_eq!(devices_backed_by(&img), devs, "no second device");
        // The read-write mount is untouched.
        fs::write(rw.join("still-writable"), b"x").unwrap();
        umount(&rw);
        assert_no_device_for(&img);
        before.assert_unchanged("read-only over read-write", SETTLE);
    });
}
