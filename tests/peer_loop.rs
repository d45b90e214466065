//! systemd's loop-device concurrency test, through `mountfd`.
//!
//! Source: systemd `src/test/test-loop-block.c`. One image file holds
//! several filesystems; it is opened once, and several threads (5 by
//! default there) each repeatedly bind their own read-only loop devices to
//! that one fd, mount the filesystems read-only, check them, unmount and
//! release the devices, all at once. Before the threads start, one writable
//! mount initialises the filesystems. The kernel APIs involved are racy
//! (a free device can be taken between `LOOP_CTL_GET_FREE` and its
//! configuration), which is what the test is for.
//!
//! Differences: systemd partitions the image with a GPT and lets the kernel
//! scan it (`LO_FLAGS_PARTSCAN`); `LoopOptions` has no partition scanning,
//! so the "partitions" here are regions of the file given to each device as
//! `offset` and `size_limit`, which exercises the same attach and release
//! paths plus the offset handling. The image is ext4 only (systemd adds two
//! vfat partitions).
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, image_util, leaks};

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{in_private_ns, mkdir};
use leaks::Snapshot;
use mountfd::{FsContext, LoopDevice, LoopOptions, MountAttr};

/// systemd's `arg_n_threads`.
const THREADS: usize = 5;
/// systemd runs 3 iterations per thread by default; more here, for load.
const ITERATIONS: usize = 12;
/// Where each filesystem starts in the image: 1 MiB of padding first, like
/// a partition table, then the filesystems back to back.
const PAD: u64 = 1 << 20;

/// A file with two 8 MiB ext4 filesystems at [`PAD`] and `PAD + 8 MiB`.
fn partitioned_image(dir: &Path) -> Option<(PathBuf, [(u64, u64); 2])> {
    let a = image_util::ext4(dir, "peer-loop-part-a")?;
    let b = image_util::ext4(dir, "peer-loop-part-b")?;
    let (a, b) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    let mut image = vec![0u8; PAD as usize];
    let parts = [
        (PAD, a.len() as u64),
        (PAD + a.len() as u64, b.len() as u64),
    ];
    image.extend(a);
    image.extend(b);
    let path = dir.join("peer-loop-disk.img");
    fs::write(&path, image).unwrap();
    Some((path, parts))
}

/// Mounts the ext4 filesystem on `dev` at `target`.
fn mount_ext4(dev: &LoopDevice, target: &Path, read_only: bool) {
    let fs = FsContext::new("ext4").unwrap();
    fs.set_string("source", dev.path().to_str().unwrap())
        .unwrap();
    let mut attr = MountAttr::new().nodev().nosuid();
    if read_only {
        fs.set_flag("ro").unwrap();
        attr = attr.readonly();
    }
    fs.mount(&attr).unwrap().attach(target).unwrap();
}

fn unmount(target: &Path) {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).unwrap();
}

fn region(offset: u64, size: u64, read_only: bool) -> LoopOptions {
    LoopOptions {
        offset,
        size_limit: size,
        read_only,
        ..LoopOptions::new()
    }
}

#[test]
fn threads_sharing_one_image_fd_attach_mount_and_release_devices_concurrently() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some((img, parts)) = partitioned_image(dir) else {
            return;
        };
        let before = Snapshot::take();

        // The first, writable mount of each filesystem leaves a marker the
        // threads look for (systemd's "initialize the mount point dirs").
        let setup = mkdir(dir, "setup");
        for (i, &(offset, size)) in parts.iter().enumerate() {
            let dev = LoopDevice::attach(&img, &region(offset, size, false)).unwrap();
            mount_ext4(&dev, &setup, false);
            fs::write(setup.join("which"), format!("partition {i}")).unwrap();
            unmount(&setup);
            drop(dev);
        }
        image_util::assert_no_device_for(&img);

        // One fd for all threads, read-only, as loop_device_make(fd, O_RDONLY).
        let image = fs::File::open(&img).unwrap();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (image, dir) = (&image, dir);
                s.spawn(move || {
                    let targets: Vec<PathBuf> = (0..parts.len())
                        .map(|i| mkdir(dir, &format!("t{t}-p{i}")))
                        .collect();
                    for _ in 0..ITERATIONS {
                        let devs: Vec<LoopDevice> = parts
                            .iter()
                            .map(|&(offset, size)| {
                                let opts = region(offset, size, true);
                                LoopDevice::attach_fd(image.as_fd(), &opts).unwrap()
                            })
                            .collect();
                        assert_ne!(devs[0].number(), devs[1].number());
                        for (i, (dev, target)) in devs.iter().zip(&targets).enumerate() {
                            mount_ext4(dev, target, true);
                            let which = fs::read_to_string(target.join("which")).unwrap();
                            assert_eq!(which, format!("partition {i}"), "{}", dev.path().display());
                            assert!(target.join("hello.txt").exists());
                            let err = fs::write(target.join("new"), b"").unwrap_err();
                            assert_eq!(err.raw_os_error(), Some(libc::EROFS));
                        }
                        for target in &targets {
                            unmount(target);
                        }
                        drop(devs);
                    }
                });
            }
        });
        drop(image);

        image_util::assert_no_device_for(&img);
        // The thread's mount table gained only the directories made here.
        before.assert_unchanged("after the loop-device threads", Duration::from_secs(5));
    });
}
