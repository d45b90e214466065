//! Loop devices against the real kernel: configuration, verification,
//! autoclear, detach, the pre-5.8 fallback and bad input. Each test runs in
//! a private mount namespace with its own tmpfs (see `common`).
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, image_util};

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use common::in_private_ns;
use image_util::{assert_no_device_for, devices_backed_by, sysfs};
use mountfd::{Error, LoopDevice, LoopOptions};

/// A zero-filled backing file of `len` bytes, named after the test.
fn backing(dir: &Path, name: &str, len: usize) -> PathBuf {
    let p = dir.join(format!("{name}.img"));
    fs::write(&p, vec![0u8; len]).unwrap();
    p
}

fn dev_name(dev: &LoopDevice) -> String {
    dev.path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn attach_applies_offset_size_limit_read_only_and_autoclear() {
    in_private_ns(|dir| {
        let img = backing(dir, "attach-applies", 4 << 20);
        let opts = LoopOptions {
            offset: 1 << 20,
            size_limit: 2 << 20,
            read_only: true,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach(&img, &opts).unwrap();
        let st = dev.status().unwrap();
        assert_eq!((st.offset, st.size_limit), (1 << 20, 2 << 20));
        assert!(st.read_only && st.autoclear && !st.direct_io, "{st:?}");
        assert_eq!(st.number, dev.number());
        assert_eq!(dev.path(), Path::new(&format!("/dev/loop{}", dev.number())));
        // What the rest of the system sees agrees.
        let name = dev_name(&dev);
        assert_eq!(devices_backed_by(&img), vec![name.clone()]);
        assert_eq!(sysfs(&name, "ro"), "1");
        assert_eq!(sysfs(&name, "loop/offset"), "1048576");
        assert_eq!(sysfs(&name, "loop/sizelimit"), "2097152");
        assert_eq!(sysfs(&name, "loop/autoclear"), "1");
        assert_eq!(sysfs(&name, "size"), "4096", "2 MiB in 512-byte sectors");
        // Writes to a read-only device fail (`blkdev_write_iter`: EPERM).
        let mut f = fs::OpenOptions::new().write(true).open(dev.path()).unwrap();
        let err = std::io::Write::write(&mut f, &[1; 512]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        drop(f);
        drop(dev);
        assert_no_device_for(&img);
    });
}

#[test]
fn writable_device_writes_through_to_the_backing_file_at_the_offset() {
    in_private_ns(|dir| {
        let img = backing(dir, "writes-through", 1 << 20);
        let opts = LoopOptions {
            offset: 4096,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach(&img, &opts).unwrap();
        assert!(!dev.status().unwrap().read_only);
        {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().write(true).open(dev.path()).unwrap();
            f.write_all(&[0xab; 512]).unwrap();
            f.sync_all().unwrap();
        }
        drop(dev);
        assert_no_device_for(&img);
        let data = fs::read(&img).unwrap();
        assert!(data[..4096].iter().all(|&b| b == 0));
        assert!(data[4096..4608].iter().all(|&b| b == 0xab));
    });
}

#[test]
fn block_size_and_direct_io_are_applied() {
    in_private_ns(|dir| {
        let img = backing(dir, "block-size", 1 << 20);
        let opts = LoopOptions {
            block_size: Some(4096),
            direct_io: true,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach(&img, &opts).unwrap();
        let st = dev.status().unwrap();
        assert_eq!(st.block_size, 4096);
        assert_eq!(sysfs(&dev_name(&dev), "queue/logical_block_size"), "4096");
        // Linux 6.18 does direct I/O on a tmpfs backing file with a 4096-byte
        // block size: tmpfs takes O_DIRECT (`FMODE_CAN_ODIRECT`, Linux 6.6),
        // and `lo_can_use_dio` in drivers/block/loop.c finds the block size
        // a multiple of the file's direct-I/O alignment. Before 6.6 the
        // kernel quietly drops the flag here (`st.direct_io` false, `dio` 0).
        assert!(st.direct_io, "{st:?}");
        assert_eq!(sysfs(&dev_name(&dev), "loop/dio"), "1");
    });
}

#[test]
fn autoclear_device_is_released_on_drop_and_a_plain_one_stays_until_detach() {
    in_private_ns(|dir| {
        let img = backing(dir, "autoclear-vs-plain", 1 << 20);
        drop(LoopDevice::attach(&img, &LoopOptions::new()).unwrap());
        let waited = assert_no_device_for(&img);
        eprintln!("autoclear device released {waited:?} after the drop");

        let plain = LoopOptions {
            autoclear: false,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach(&img, &plain).unwrap();
        let path = dev.path().to_owned();
        drop(dev);
        assert_eq!(
            devices_backed_by(&img),
            vec![path.file_name().unwrap().to_string_lossy().into_owned()],
            "without autoclear the device outlives its handle"
        );
        let status = std::process::Command::new("losetup")
            .arg("-d")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        assert_no_device_for(&img);

        LoopDevice::attach(&img, &plain).unwrap().detach().unwrap();
        assert!(
            devices_backed_by(&img).is_empty(),
            "detach() unbinds at once when nobody else has the device open"
        );
    });
}

#[test]
fn detach_of_a_device_in_use_is_deferred_until_its_last_user_closes_it() {
    in_private_ns(|dir| {
        let img = backing(dir, "detach-deferred", 1 << 20);
        let plain = LoopOptions {
            autoclear: false,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach(&img, &plain).unwrap();
        let user = fs::File::open(dev.path()).unwrap();
        dev.detach().unwrap();
        assert_eq!(devices_backed_by(&img).len(), 1, "still open elsewhere");
        drop(user);
        assert_no_device_for(&img);
    });
}

#[test]
fn device_fd_is_close_on_exec_and_nothing_leaks() {
    // Alone: a device freed here can be taken at once by a test running
    // beside it, whose fd on the same /dev/loopN would count as ours.
    common::in_private_ns_alone(|dir| {
        let img = backing(dir, "cloexec", 1 << 20);
        let dev = LoopDevice::attach(&img, &LoopOptions::new()).unwrap();
        let flags = fcntl_getfd(dev.as_raw_fd());
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
        // The device fd is kept, the backing file's fd is not (the device
        // holds the file itself).
        assert_eq!(fds_on(dev.path()), 1);
        assert_eq!(fds_on(&img), 0);
        let path = dev.path().to_owned();
        drop(dev);
        assert_eq!(fds_on(&path), 0);
        assert_no_device_for(&img);
    });
}

/// How many fds of this process refer to `path`.
fn fds_on(path: &Path) -> usize {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// `fcntl(fd, F_GETFD)` through /proc, to keep `unsafe` out of the tests.
fn fcntl_getfd(fd: i32) -> i32 {
    let text = fs::read_to_string(format!("/proc/thread-self/fdinfo/{fd}")).unwrap();
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap()
        .trim();
    let flags = i32::from_str_radix(flags, 8).unwrap();
    if flags & libc::O_CLOEXEC != 0 {
        libc::FD_CLOEXEC
    } else {
        0
    }
}

#[test]
fn legacy_set_fd_path_is_used_when_loop_configure_is_missing() {
    // An old kernel answers LOOP_CONFIGURE with EINVAL (native) or ENOTTY
    // (32-bit compat); both must lead to LOOP_SET_FD + LOOP_SET_STATUS64.
    for errno in [libc::EINVAL, libc::ENOTTY] {
        in_private_ns(|dir| {
            let img = backing(dir, &format!("legacy-{errno}"), 4 << 20);
            // SAFETY: this thread is the test's own (`in_private_ns`); only
            // LoopDevice issues LOOP_CONFIGURE, and takes the errno as an error.
            unsafe {
                mountfd_testing::fault::fail_ioctl(
                    linux_raw_sys::loop_device::LOOP_CONFIGURE,
                    errno,
                )
            }
            .unwrap();
            let opts = LoopOptions {
                offset: 1 << 20,
                size_limit: 1 << 20,
                read_only: true,
                block_size: Some(4096),
                ..LoopOptions::new()
            };
            let dev = LoopDevice::attach(&img, &opts).unwrap();
            let st = dev.status().unwrap();
            assert_eq!((st.offset, st.size_limit), (1 << 20, 1 << 20));
            assert!(st.read_only && st.autoclear, "{st:?}");
            assert_eq!(st.block_size, 4096);
            drop(dev);
            assert_no_device_for(&img);
        });
    }
}

#[test]
fn other_loop_configure_errors_are_reported_and_leave_no_device() {
    in_private_ns(|dir| {
        let img = backing(dir, "configure-eperm", 1 << 20);
        // SAFETY: as above.
        unsafe {
            mountfd_testing::fault::fail_ioctl(
                linux_raw_sys::loop_device::LOOP_CONFIGURE,
                libc::EPERM,
            )
        }
        .unwrap();
        let err = LoopDevice::attach(&img, &LoopOptions::new()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
        assert!(err.to_string().contains("LOOP_CONFIGURE"), "{err}");
        assert!(devices_backed_by(&img).is_empty());
    });
}

#[test]
fn failure_after_legacy_set_fd_releases_the_device() {
    in_private_ns(|dir| {
        let img = backing(dir, "legacy-status-fails", 1 << 20);
        let k = linux_raw_sys::loop_device::LOOP_CONFIGURE;
        // SAFETY: this thread is the test's own (`in_private_ns`); only
        // LoopDevice issues these requests, and takes the errnos as errors.
        unsafe { mountfd_testing::fault::fail_ioctl(k, libc::EINVAL) }.unwrap();
        // SAFETY: as above.
        unsafe {
            mountfd_testing::fault::fail_ioctl(
                linux_raw_sys::loop_device::LOOP_SET_STATUS64,
                libc::ENOMEM,
            )
        }
        .unwrap();
        let err = LoopDevice::attach(&img, &LoopOptions::new()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOMEM), "{err}");
        assert!(err.to_string().contains("LOOP_SET_STATUS64"), "{err}");
        assert_no_device_for(&img);
    });
}

#[test]
fn bad_options_are_rejected_before_any_device_is_touched() {
    in_private_ns(|dir| {
        let img = backing(dir, "bad-options", 1 << 20);
        let cases = [
            LoopOptions {
                offset: 1 << 20,
                ..LoopOptions::new()
            },
            LoopOptions {
                offset: u64::MAX,
                ..LoopOptions::new()
            },
            LoopOptions {
                block_size: Some(1000),
                ..LoopOptions::new()
            },
            LoopOptions {
                block_size: Some(256),
                ..LoopOptions::new()
            },
        ];
        for opts in cases {
            let err = LoopDevice::attach(&img, &opts).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{opts:?}: {err}");
        }
        let err = LoopDevice::attach(dir, &LoopOptions::new()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains("directory"), "{err}");
        let err = LoopDevice::attach(dir.join("missing.img"), &LoopOptions::new()).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
        assert_eq!(err.path(), Some(dir.join("missing.img").as_path()));
        let err = LoopDevice::attach("/dev/null", &LoopOptions::new()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(devices_backed_by(&img).is_empty());
    });
}

#[test]
fn attach_fd_binds_an_unlinked_file_that_the_device_keeps_alive() {
    in_private_ns(|dir| {
        let file = unlinked_file_in(dir, 1 << 20);
        let dev =
            LoopDevice::attach_fd(std::os::fd::AsFd::as_fd(&file), &LoopOptions::new()).unwrap();
        drop(file);
        let name = dev_name(&dev);
        assert_eq!(sysfs(&name, "size"), "2048");
        assert!(sysfs(&name, "loop/backing_file").ends_with("(deleted)"));
    });
}

/// An unlinked file of `len` bytes on the test's private tmpfs.
fn unlinked_file_in(dir: &Path, len: u64) -> fs::File {
    let p = dir.join("anon");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&p)
        .unwrap();
    f.set_len(len).unwrap();
    fs::remove_file(&p).unwrap();
    f
}

#[test]
fn a_device_taken_every_time_gives_up_after_bounded_retries_and_leaves_nothing() {
    in_private_ns(|dir| {
        let img = backing(dir, "always-busy", 1 << 20);
        // Every device looks stolen between LOOP_CTL_GET_FREE and
        // LOOP_CONFIGURE: the attach must give up, not spin forever.
        // SAFETY: as above.
        unsafe {
            mountfd_testing::fault::fail_ioctl(
                linux_raw_sys::loop_device::LOOP_CONFIGURE,
                libc::EBUSY,
            )
        }
        .unwrap();
        let start = std::time::Instant::now();
        let err = LoopDevice::attach(&img, &LoopOptions::new()).unwrap_err();
        eprintln!("gave up after {:?}: {err}", start.elapsed());
        assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
        assert_eq!(fds_on(&img), 0, "no fd left open on the backing file");
        assert!(devices_backed_by(&img).is_empty());
    });
}

#[test]
fn concurrent_attaches_each_get_their_own_device() {
    in_private_ns(|dir| {
        let img = backing(dir, "concurrent-attach", 1 << 20);
        let devs: Vec<LoopDevice> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..16)
                            .map(|_| LoopDevice::attach(&img, &LoopOptions::new()).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut numbers: Vec<u32> = devs.iter().map(LoopDevice::number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), 128);
        assert_eq!(devices_backed_by(&img).len(), 128);
        drop(devs);
        assert_no_device_for(&img);
    });
}

#[test]
fn repeated_attach_and_drop_frees_the_device_every_time() {
    in_private_ns(|dir| {
        let img = backing(dir, "repeated", 1 << 20);
        let rounds = 100;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            let dev = LoopDevice::attach(&img, &LoopOptions::new()).unwrap();
            assert_eq!(devices_backed_by(&img).len(), 1);
            drop(dev);
            // Autoclear runs in the last close itself (lo_release), so the
            // device is free when the drop returns, unless something like
            // udev's blkid briefly holds it too: poll, boundedly.
            assert_no_device_for(&img);
        }
        eprintln!(
            "attach + check + drop: {:?} per round",
            start.elapsed() / rounds
        );
    });
}

#[test]
fn a_setting_the_device_does_not_show_is_a_loop_mismatch_and_the_device_is_released() {
    in_private_ns(|dir| {
        let img = backing(dir, "mismatch", 1 << 20);
        // A read-only fd can only back a read-only device: the kernel sets
        // LO_FLAGS_READ_ONLY whatever was asked (`loop_configure`).
        let ro = fs::File::open(&img).unwrap();
        let err =
            LoopDevice::attach_fd(std::os::fd::AsFd::as_fd(&ro), &LoopOptions::new()).unwrap_err();
        match &err {
            Error::LoopMismatch {
                device,
                setting,
                asked,
                actual,
                ..
            } => {
                assert!(device.to_str().unwrap().starts_with("/dev/loop"));
                assert_eq!((*setting, *asked, *actual), ("read-only", 0, 1));
            }
            other => panic!("expected LoopMismatch, got {other}"),
        }
        assert_no_device_for(&img);
        // Asked for, it is no mismatch.
        let opts = LoopOptions {
            read_only: true,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach_fd(std::os::fd::AsFd::as_fd(&ro), &opts).unwrap();
        assert!(dev.status().unwrap().read_only);
    });
}

#[test]
fn find_names_every_device_of_a_file_whatever_path_names_it_and_list_and_open_agree() {
    // Alone: the device detached below must not be taken by a test beside
    // it before `open` finds it unbound.
    common::in_private_ns_alone(|dir| {
        let img = backing(dir, "find-list-open", 2 << 20);
        let other = backing(dir, "find-list-open-other", 1 << 20);
        assert!(LoopDevice::find(&img).unwrap().is_empty());
        // Like losetup, attach binds a new device each time.
        let first = LoopDevice::attach(&img, &LoopOptions::new()).unwrap();
        let second = LoopDevice::attach(
            &img,
            &LoopOptions {
                offset: 1 << 20,
                read_only: true,
                ..LoopOptions::new()
            },
        )
        .unwrap();
        let unrelated = LoopDevice::attach(&other, &LoopOptions::new()).unwrap();
        // The same inode through a hard link and a symlink.
        let hard = dir.join("find-hard-link");
        fs::hard_link(&img, &hard).unwrap();
        let soft = dir.join("find-symlink");
        std::os::unix::fs::symlink(&img, &soft).unwrap();
        for name in [&img, &hard, &soft] {
            let found = LoopDevice::find(name).unwrap();
            let numbers: Vec<u32> = found.iter().map(|st| st.number).collect();
            let mut want = vec![first.number(), second.number()];
            want.sort_unstable();
            assert_eq!(numbers, want, "{}", name.display());
            let st = found
                .iter()
                .find(|st| st.number == second.number())
                .unwrap();
            assert_eq!((st.offset, st.read_only), (1 << 20, true));
            assert_eq!(st.path(), second.path());
        }
        let all = LoopDevice::list().unwrap();
        for dev in [&first, &second, &unrelated] {
            let st = all.iter().find(|st| st.number == dev.number()).unwrap();
            assert_eq!(*st, dev.status().unwrap());
        }
        assert!(all.windows(2).all(|w| w[0].number < w[1].number));
        // A directory backs nothing; a missing path is an error.
        assert!(LoopDevice::find(dir).unwrap().is_empty());
        let err = LoopDevice::find(dir.join("missing")).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");

        // open: a handle on a bound device, which can detach it.
        let plain = LoopOptions {
            autoclear: false,
            ..LoopOptions::new()
        };
        let n = LoopDevice::attach(&other, &plain).unwrap().number();
        let again = LoopDevice::open(n).unwrap();
        assert_eq!(again.path(), Path::new(&format!("/dev/loop{n}")));
        assert_eq!(again.status().unwrap().backing_inode, {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(&other).unwrap().ino()
        });
        again.detach().unwrap();
        let err = LoopDevice::open(n).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENXIO), "{err}");
        drop((first, second, unrelated));
        assert_no_device_for(&img);
        assert_no_device_for(&other);
    });
}

#[test]
fn find_of_a_block_device_names_the_devices_over_it() {
    in_private_ns(|dir| {
        let img = backing(dir, "find-over-bdev", 2 << 20);
        let under = LoopDevice::attach(&img, &LoopOptions::new()).unwrap();
        let over = LoopDevice::attach(under.path(), &LoopOptions::new()).unwrap();
        let found = LoopDevice::find(under.path()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].number, over.number());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            found[0].backing_rdev,
            fs::metadata(under.path()).unwrap().rdev()
        );
        // A symlink to the node names the same device.
        let link = dir.join("link-to-under");
        std::os::unix::fs::symlink(under.path(), &link).unwrap();
        assert_eq!(LoopDevice::find(&link).unwrap(), found);
        drop(over);
        drop(under);
        assert_no_device_for(&img);
    });
}
