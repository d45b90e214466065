//! Filesystem images and overlays against the real kernel, each test in a
//! private mount namespace (see `common`), with images it builds itself
//! (see `image_util`).
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, image_util};

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{in_private_ns, mkdir, ns, owner};
use image_util::{assert_no_device_for, dev_of, devices_backed_by, mountinfo_line, umount};
use mountfd::{
    mount_image, mount_image_with, DetachedMount, Error, FsContext, LoopOptions, MountAttr, Overlay,
};

const LOOP_MAJOR: u32 = 7;

fn assert_tree(target: &Path) {
    assert_eq!(
        fs::read_to_string(target.join("hello.txt")).unwrap(),
        "hello from the image\n"
    );
    assert_eq!(
        fs::read_to_string(target.join("sub/nested.txt")).unwrap(),
        "nested\n"
    );
}

/// Mounts, checks the tree, unmounts, and checks the loop device is gone.
fn mount_check_unmount(dir: &Path, img: &Path, fstype: &str, attr: &MountAttr<'_>) -> (u32, u32) {
    let target = mkdir(dir, &format!("{fstype}-target"));
    mount_image(img, fstype, attr)
        .unwrap()
        .attach(&target)
        .unwrap();
    assert_tree(&target);
    let dev = dev_of(&target);
    umount(&target);
    assert_no_device_for(img);
    dev
}

#[test]
fn fsopen_on_a_regular_file_is_enotblk_with_the_kernel_message_and_mount_image_mounts_it() {
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "enotblk") else {
            return;
        };
        let fs = FsContext::new("squashfs").unwrap();
        fs.set_string("source", img.to_str().unwrap()).unwrap();
        let err = fs.mount(&MountAttr::new()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOTBLK), "{err}");
        let msg = err.kernel_message().unwrap_or_default();
        assert!(msg.contains("Can't lookup blockdev"), "{err}");
        assert!(err.to_string().contains("Can't lookup blockdev"), "{err}");

        let (major, _) = mount_check_unmount(dir, &img, "squashfs", &MountAttr::new());
        assert_eq!(major, LOOP_MAJOR, "mounted from a loop device");
    });
}

#[test]
fn squashfs_image_mounts_read_only_from_a_read_only_loop_device() {
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "squashfs-ro") else {
            return;
        };
        let target = mkdir(dir, "target");
        mount_image(&img, "squashfs", &MountAttr::new().nodev())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        let devs = devices_backed_by(&img);
        assert_eq!(devs.len(), 1, "{devs:?}");
        assert_eq!(image_util::sysfs(&devs[0], "ro"), "1");
        assert_eq!(image_util::sysfs(&devs[0], "loop/autoclear"), "1");
        let line = mountinfo_line(&target);
        assert!(line.contains(&format!(" /dev/{} ", devs[0])), "{line}");
        umount(&target);
        assert_no_device_for(&img);
    });
}

#[test]
fn erofs_image_on_a_disk_filesystem_mounts_from_the_file_itself_without_a_loop_device() {
    in_private_ns(|dir| {
        // erofs reads a file-backed image through the page cache of the
        // file's filesystem (`read_folio`), which tmpfs lacks: put the image
        // on ext4, itself an image mounted here.
        let Some(disk) = image_util::ext4(dir, "erofs-host-disk") else {
            return;
        };
        let Some(inner) = image_util::erofs(dir, "erofs-direct") else {
            return;
        };
        let host = mkdir(dir, "host");
        mount_image(&disk, "ext4", &MountAttr::new())
            .unwrap()
            .attach(&host)
            .unwrap();
        let img = host.join("erofs-direct.erofs");
        fs::copy(&inner, &img).unwrap();
        let target = mkdir(dir, "target");
        mount_image(&img, "erofs", &MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        assert_ne!(dev_of(&target).0, LOOP_MAJOR, "no loop device under erofs");
        assert!(devices_backed_by(&img).is_empty());
        // The source the kernel opened: the magic link of the fd that was
        // checked, not the path again.
        let line = mountinfo_line(&target);
        assert!(line.contains(" erofs /proc/thread-self/fd/"), "{line}");
        umount(&target);
        umount(&host);
        assert_no_device_for(&disk);
    });
}

#[test]
fn erofs_image_on_tmpfs_falls_back_to_a_loop_device() {
    in_private_ns(|dir| {
        let Some(img) = image_util::erofs(dir, "erofs-on-tmpfs") else {
            return;
        };
        // What mount_image sees when it tries the file first.
        let fs = FsContext::new("erofs").unwrap();
        fs.set_string("source", img.to_str().unwrap()).unwrap();
        let err = fs.mount(&MountAttr::new()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOTBLK), "{err}");

        let (major, _) = mount_check_unmount(dir, &img, "erofs", &MountAttr::new());
        assert_eq!(major, LOOP_MAJOR);
    });
}

#[test]
fn erofs_image_at_an_offset_uses_a_loop_device() {
    in_private_ns(|dir| {
        let Some(inner) = image_util::erofs(dir, "erofs-offset-inner") else {
            return;
        };
        let img = dir.join("erofs-offset.bin");
        let mut data = vec![0x5a; 64 << 10];
        data.extend(fs::read(&inner).unwrap());
        fs::write(&img, data).unwrap();
        let target = mkdir(dir, "target");
        let opts = LoopOptions {
            offset: 64 << 10,
            ..LoopOptions::new()
        };
        mount_image_with(&img, "erofs", &MountAttr::new(), &opts)
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        assert_eq!(dev_of(&target).0, LOOP_MAJOR);
        umount(&target);
        assert_no_device_for(&img);
    });
}

#[test]
fn ext4_image_mounts_read_write_and_keeps_what_was_written() {
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "ext4-rw") else {
            return;
        };
        let target = mkdir(dir, "target");
        mount_image(&img, "ext4", &MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        fs::write(target.join("written"), b"kept").unwrap();
        umount(&target);
        assert_no_device_for(&img);
        // Mount it again: the write reached the image file.
        mount_image(&img, "ext4", &MountAttr::new().readonly())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_eq!(fs::read(target.join("written")).unwrap(), b"kept");
        umount(&target);
        assert_no_device_for(&img);
    });
}

#[test]
fn read_only_ext4_image_refuses_writes_with_erofs_at_every_level() {
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "ext4-ro") else {
            return;
        };
        let before = fs::read(&img).unwrap();
        let target = mkdir(dir, "target");
        mount_image(&img, "ext4", &MountAttr::new().readonly())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        let err = fs::write(target.join("new"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        // The mount, the superblock and the device are each read-only.
        let line = mountinfo_line(&target);
        let fields: Vec<&str> = line.split(' ').collect();
        assert!(fields[5].split(',').any(|o| o == "ro"), "mount: {line}");
        assert!(
            fields.last().unwrap().split(',').any(|o| o == "ro"),
            "superblock: {line}"
        );
        let devs = devices_backed_by(&img);
        assert_eq!(image_util::sysfs(&devs[0], "ro"), "1", "loop device");
        umount(&target);
        assert_no_device_for(&img);
        assert!(
            fs::read(&img).unwrap() == before,
            "the image file is untouched"
        );
    });
}

#[test]
fn image_stored_at_an_offset_inside_a_larger_file_mounts_with_offset() {
    in_private_ns(|dir| {
        let Some(inner) = image_util::ext4(dir, "offset-inner") else {
            return;
        };
        // 1 MiB of something else, the image, then trailing data.
        let img = dir.join("offset-bundle.bin");
        let fs_bytes = fs::read(&inner).unwrap();
        let mut data = vec![0xee; 1 << 20];
        data.extend(&fs_bytes);
        data.extend(vec![0xdd; 4096]);
        fs::write(&img, data).unwrap();
        let target = mkdir(dir, "target");
        let opts = LoopOptions {
            offset: 1 << 20,
            size_limit: fs_bytes.len() as u64,
            ..LoopOptions::new()
        };
        mount_image_with(&img, "ext4", &MountAttr::new().readonly(), &opts)
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        let devs = devices_backed_by(&img);
        assert_eq!(image_util::sysfs(&devs[0], "loop/offset"), "1048576");
        umount(&target);
        assert_no_device_for(&img);

        // Without the offset there is no filesystem where ext4 looks (it
        // logs why to the kernel log, not to the context), and the device
        // it was tried on is released.
        let err = mount_image(&img, "ext4", &MountAttr::new().readonly()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
        assert_no_device_for(&img);
    });
}

#[test]
fn idmapped_image_shows_root_owned_files_as_100000() {
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "idmapped") else {
            return;
        };
        let map = ns("0:100000:65536");
        let (direct, later, cloned, plain) = (
            mkdir(dir, "direct"),
            mkdir(dir, "later"),
            mkdir(dir, "cloned"),
            mkdir(dir, "plain"),
        );
        // The id map in the attributes given to mount_image ...
        let attr = MountAttr::new().readonly().idmap(&map);
        mount_image(&img, "ext4", &attr)
            .unwrap()
            .attach(&direct)
            .unwrap();
        // ... or set on the detached mount afterwards ...
        let mnt = mount_image(&img, "ext4", &MountAttr::new().readonly()).unwrap();
        mnt.set_attr(&MountAttr::new().idmap(&map), false).unwrap();
        mnt.attach(&later).unwrap();
        // ... or on a clone of a plain mount of it.
        mount_image(&img, "ext4", &MountAttr::new().readonly())
            .unwrap()
            .attach(&plain)
            .unwrap();
        DetachedMount::clone_tree_idmapped(&plain, false, &map)
            .unwrap()
            .attach(&cloned)
            .unwrap();

        assert_eq!(owner(&plain.join("hello.txt")), (0, 0));
        for t in [&direct, &later, &cloned] {
            assert_eq!(owner(&t.join("hello.txt")), (100000, 100000), "{t:?}");
            assert_eq!(owner(&t.join("sub")), (100000, 100000), "{t:?}");
            assert_tree(t);
        }
        for t in [&cloned, &plain, &later, &direct] {
            umount(t);
        }
        assert_no_device_for(&img);
    });
}

#[test]
fn squashfs_and_erofs_images_can_be_idmapped() {
    in_private_ns(|dir| {
        let map = ns("0:100000:65536");
        for (img, fstype) in [
            (image_util::squashfs(dir, "idmap-sq"), "squashfs"),
            (image_util::erofs(dir, "idmap-erofs"), "erofs"),
        ] {
            let Some(img) = img else { continue };
            let target = mkdir(dir, &format!("{fstype}-idmapped"));
            // Both set FS_ALLOW_IDMAP on Linux 6.18. A kernel from before a
            // filesystem gained it refuses with EINVAL (`mount_setattr_prepare`
            // in fs/namespace.c), which this test would report as a failure.
            let mnt = mount_image(&img, fstype, &MountAttr::new().idmap(&map))
                .unwrap_or_else(|e| panic!("{fstype}: {e}"));
            mnt.attach(&target).unwrap();
            assert_eq!(owner(&target.join("hello.txt")), (100000, 100000));
            umount(&target);
            assert_no_device_for(&img);
        }
    });
}

#[test]
fn loop_device_is_gone_once_the_detached_mount_is_dropped_unattached() {
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "dropped-unattached") else {
            return;
        };
        let mnt = mount_image(&img, "squashfs", &MountAttr::new()).unwrap();
        assert_eq!(devices_backed_by(&img).len(), 1);
        drop(mnt);
        assert_no_device_for(&img);
    });
}

#[test]
fn concurrent_mount_image_calls_of_one_image_share_one_device_and_leave_nothing() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 25;
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "concurrent") else {
            return;
        };
        let start = Instant::now();
        let all: Vec<Vec<(DetachedMount, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        (0..PER_THREAD)
                            .map(|_| {
                                let m = mount_image(&img, "squashfs", &MountAttr::new()).unwrap();
                                let dev = fstat_dev(&m);
                                (m, dev)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let elapsed = start.elapsed();
        let mut devs: Vec<u64> = all.iter().flatten().map(|(_, d)| *d).collect();
        devs.sort_unstable();
        devs.dedup();
        // As with `mount -o loop`, every mount of the image reuses the one
        // device bound to it, and so shares its superblock.
        assert_eq!(devs.len(), 1, "one superblock for all mounts");
        assert!(devs.iter().all(|&d| libc::major(d) == LOOP_MAJOR));
        assert_eq!(devices_backed_by(&img).len(), 1);
        eprintln!(
            "{} concurrent mount_image calls ({THREADS} threads) took {elapsed:?}",
            THREADS * PER_THREAD
        );
        let start = Instant::now();
        drop(all);
        let waited = assert_no_device_for(&img);
        eprintln!(
            "dropping them took {:?}; all devices free {waited:?} after the drop",
            start.elapsed()
        );
    });
}

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

#[test]
fn bad_input_gives_typed_errors_and_leaves_no_loop_device() {
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "bad-input") else {
            return;
        };
        let attr = MountAttr::new();
        let missing = dir.join("missing.sqfs");
        let err = mount_image(&missing, "squashfs", &attr).unwrap_err();
        assert!(matches!(err, Error::Os { .. }), "{err}");
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
        assert_eq!(err.path(), Some(missing.as_path()));

        let err = mount_image(dir, "squashfs", &attr).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains("directory"), "{err}");

        let err = mount_image(&img, "nosuchfs", &attr).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { what: "fstype", .. }),
            "{err}"
        );
        let err = mount_image(&img, "bad/type", &attr).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");

        let len = fs::metadata(&img).unwrap().len();
        for offset in [len, len + 1, u64::MAX / 2] {
            let opts = LoopOptions {
                offset,
                ..LoopOptions::new()
            };
            let err = mount_image_with(&img, "squashfs", &attr, &opts).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { what: "offset", .. }),
                "{err}"
            );
        }

        // A file that holds no such filesystem: the kernel's word for it,
        // and the device it was tried on is released.
        let junk = dir.join("bad-input-junk.img");
        fs::write(&junk, vec![0x42u8; 1 << 20]).unwrap();
        let err = mount_image(&junk, "squashfs", &attr).unwrap_err();
        // squashfs_fill_super: EINVAL with "Can't find a SQUASHFS superblock
        // on loopN" logged on the context (Linux 5.2+ logs through `errorf`;
        // older kernels only to the kernel log, with no message here).
        assert!(
            matches!(
                err,
                Error::Os {
                    op: mountfd::Op::FsconfigCreate,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
        assert_eq!(err.path(), Some(junk.as_path()), "{err}");
        let msg = err.kernel_message().unwrap_or_default();
        assert!(
            msg.starts_with("Can't find a SQUASHFS superblock on loop"),
            "{err}"
        );

        assert!(devices_backed_by(&img).is_empty());
        assert_no_device_for(&junk);
    });
}

#[test]
fn mount_image_falls_back_to_loop_set_fd_without_loop_configure() {
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "image-legacy") else {
            return;
        };
        // SAFETY: this thread is the test's own (`in_private_ns`); only
        // LoopDevice issues LOOP_CONFIGURE, and falls back on EINVAL.
        unsafe {
            mountfd_testing::fault::fail_ioctl(
                linux_raw_sys::loop_device::LOOP_CONFIGURE,
                libc::EINVAL,
            )
        }
        .unwrap();
        let (major, _) = mount_check_unmount(dir, &img, "ext4", &MountAttr::new().readonly());
        assert_eq!(major, LOOP_MAJOR);
    });
}

#[test]
fn block_device_is_mounted_directly() {
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "blockdev") else {
            return;
        };
        let dev = mountfd::LoopDevice::attach(&img, &LoopOptions::new()).unwrap();
        let target = mkdir(dir, "target");
        mount_image(dev.path(), "ext4", &MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        assert_eq!(devices_backed_by(&img).len(), 1, "no second loop device");
        // Mounted from exactly that device, named to the kernel by the
        // magic link of the fd whose kind was checked.
        use std::os::unix::fs::MetadataExt;
        let rdev = fs::metadata(dev.path()).unwrap().rdev();
        assert_eq!(dev_of(&target), (libc::major(rdev), libc::minor(rdev)));
        let line = mountinfo_line(&target);
        assert!(line.contains(" ext4 /proc/thread-self/fd/"), "{line}");
        umount(&target);
        drop(dev);
        assert_no_device_for(&img);
    });
}

// --- overlays ---

fn layers(dir: &Path) -> (PathBuf, PathBuf) {
    let (top, bottom) = (mkdir(dir, "top"), mkdir(dir, "bottom"));
    fs::write(bottom.join("shared"), b"bottom").unwrap();
    fs::write(bottom.join("only-bottom"), b"b").unwrap();
    fs::write(top.join("shared"), b"top").unwrap();
    fs::write(top.join("only-top"), b"t").unwrap();
    (top, bottom)
}

#[test]
fn overlay_stacks_lowers_top_first_and_writes_to_upper() {
    in_private_ns(|dir| {
        let (top, bottom) = layers(dir);
        let (upper, work, target) = (mkdir(dir, "upper"), mkdir(dir, "work"), mkdir(dir, "t"));
        Overlay::new()
            .lower(&top)
            .lower(&bottom)
            .upper(&upper, &work)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_eq!(fs::read(target.join("shared")).unwrap(), b"top");
        assert_eq!(fs::read(target.join("only-bottom")).unwrap(), b"b");
        assert_eq!(fs::read(target.join("only-top")).unwrap(), b"t");
        fs::write(target.join("shared"), b"changed").unwrap();
        assert_eq!(fs::read(upper.join("shared")).unwrap(), b"changed");
        assert_eq!(
            fs::read(top.join("shared")).unwrap(),
            b"top",
            "lowers untouched"
        );
    });
}

#[test]
fn overlay_without_upper_is_read_only_and_takes_awkward_paths() {
    in_private_ns(|dir| {
        // ':' and ',' would need escaping in a lowerdir= string.
        let (a, b, target) = (mkdir(dir, "a:1,x"), mkdir(dir, "b\\2"), mkdir(dir, "t"));
        fs::write(a.join("fa"), b"a").unwrap();
        fs::write(b.join("fb"), b"b").unwrap();
        Overlay::new()
            .lower(&a)
            .lower(&b)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert!(target.join("fa").exists() && target.join("fb").exists());
        let err = fs::write(target.join("new"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    });
}

#[test]
fn overlay_with_an_attached_idmapped_lower_shows_mapped_owners() {
    in_private_ns(|dir| {
        let (top, bottom) = layers(dir);
        let (mapped, target) = (mkdir(dir, "mapped"), mkdir(dir, "t"));
        DetachedMount::clone_tree_idmapped(&bottom, false, &ns("0:100000:65536"))
            .unwrap()
            .attach(&mapped)
            .unwrap();
        Overlay::new()
            .lower(&top)
            .lower(&mapped)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_eq!(owner(&target.join("only-bottom")), (100000, 100000));
        assert_eq!(owner(&target.join("only-top")), (0, 0));
    });
}

#[test]
fn overlay_with_a_detached_idmapped_lower_fd_shows_mapped_owners() {
    in_private_ns(|dir| {
        let (top, bottom) = layers(dir);
        let target = mkdir(dir, "t");
        let map = ns("0:100000:65536");
        let lower = DetachedMount::clone_tree_idmapped(&bottom, false, &map).unwrap();
        let mnt = Overlay::new()
            .lower(&top)
            .lower_fd(lower.as_fd())
            .mount(&MountAttr::new())
            .unwrap();
        drop(lower); // the overlay keeps its own reference to the layer
        mnt.attach(&target).unwrap();
        assert_eq!(owner(&target.join("only-bottom")), (100000, 100000));
        assert_eq!(fs::read(target.join("shared")).unwrap(), b"top");
    });
}

#[test]
fn overlay_over_a_squashfs_image_with_a_tmpfs_upper() {
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "overlay-image") else {
            return;
        };
        let image = mount_image(&img, "squashfs", &MountAttr::new()).unwrap();
        let (upper, work, target) = (mkdir(dir, "upper"), mkdir(dir, "work"), mkdir(dir, "t"));
        Overlay::new()
            .lower_fd(image.as_fd())
            .upper(&upper, &work)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        drop(image);
        assert_tree(&target);
        fs::write(target.join("hello.txt"), b"edited").unwrap();
        assert_eq!(fs::read(upper.join("hello.txt")).unwrap(), b"edited");
        assert_eq!(
            devices_backed_by(&img).len(),
            1,
            "the overlay holds the image"
        );
        umount(&target);
        assert_no_device_for(&img);
    });
}

#[test]
fn overlay_bad_input_is_typed() {
    in_private_ns(|dir| {
        let err = Overlay::new().mount(&MountAttr::new()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        let only = mkdir(dir, "only");
        let err = Overlay::new()
            .lower(&only)
            .mount(&MountAttr::new())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        let err = Overlay::new()
            .lower(&only)
            .lower(dir.join("missing"))
            .mount(&MountAttr::new())
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
        assert!(err.to_string().contains("lowerdir+"), "{err}");
        // A work directory on another filesystem than the upper.
        let (lower, upper) = (mkdir(dir, "l"), mkdir(dir, "u"));
        let other = common::tmpfs_at(dir, "other");
        let work = mkdir(&other, "work");
        let err = Overlay::new()
            .lower(&lower)
            .upper(&upper, &work)
            .mount(&MountAttr::new())
            .unwrap_err();
        // overlayfs checks the work directory when the superblock is created
        // (fs/overlayfs/super.c): on another mount than the upper directory
        // it is EINVAL, logged to the kernel log only ("workdir and upperdir
        // must reside under the same mount"), the same since Linux 3.18.
        assert!(
            matches!(
                err,
                Error::Os {
                    op: mountfd::Op::FsconfigCreate,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
        assert_eq!(err.fstype(), Some("overlay"), "{err}");
    });
}

#[test]
fn block_device_with_an_offset_gets_a_loop_device_over_it() {
    in_private_ns(|dir| {
        let Some(inner) = image_util::ext4(dir, "blockdev-offset-inner") else {
            return;
        };
        let bundle = dir.join("blockdev-offset.bin");
        let mut data = vec![0u8; 1 << 20];
        data.extend(fs::read(&inner).unwrap());
        fs::write(&bundle, data).unwrap();
        // The whole bundle as a block device, then the filesystem inside it.
        let whole = mountfd::LoopDevice::attach(&bundle, &LoopOptions::new()).unwrap();
        let target = mkdir(dir, "target");
        let opts = LoopOptions {
            offset: 1 << 20,
            ..LoopOptions::new()
        };
        mount_image_with(whole.path(), "ext4", &MountAttr::new().readonly(), &opts)
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_tree(&target);
        let over = devices_backed_by(whole.path());
        assert_eq!(
            over.len(),
            1,
            "a loop device over {}",
            whole.path().display()
        );
        // Past the end of the block device: refused before anything is attached.
        let past = LoopOptions {
            offset: 64 << 20,
            ..LoopOptions::new()
        };
        let err = mount_image_with(whole.path(), "ext4", &MountAttr::new(), &past).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { what: "offset", .. }),
            "{err}"
        );
        umount(&target);
        assert_no_device_for(whole.path());
        drop(whole);
        assert_no_device_for(&bundle);
    });
}
