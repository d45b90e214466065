//! Image and backing paths that are not what they should be (issue 10,
//! items 4 and 8): a FIFO, whose `open` blocks; a character device, whose
//! `open` runs its driver; a block-device path swapped between the check and
//! the mount; a filesystem type that takes no device. Each is refused before
//! anything is opened or attached, and leaves fds, mounts and loop devices
//! as they were.
#![cfg(target_os = "linux")]

use mountfd_testing as common;
use mountfd_testing::image_util;
use mountfd_testing::leaks;

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{in_private_ns, mkdir};
use image_util::{assert_no_device_for, devices_backed_by, umount};
use leaks::Snapshot;
use mountfd::{mount_image, Error, LoopDevice, LoopOptions, MountAttr};

const SETTLE: Duration = Duration::from_secs(5);

/// Counts the opens of one file with inotify (`IN_OPEN`). An `O_PATH`
/// lookup is no open and shows no event; any real `open`, blocking or not,
/// successful, does.
struct OpenWatch(OwnedFd);

impl OpenWatch {
    fn new(path: &Path) -> OpenWatch {
        use rustix::fs::inotify;
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
        inotify::add_watch(&fd, path, inotify::WatchFlags::OPEN).unwrap();
        OpenWatch(fd)
    }

    /// The opens seen since the last call.
    fn opens(&self) -> usize {
        use rustix::fs::inotify;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.0, &mut buf);
        let mut n = 0;
        loop {
            match reader.next() {
                Ok(ev) if ev.events().contains(inotify::ReadFlags::OPEN) => n += 1,
                Ok(_) => {}
                Err(rustix::io::Errno::AGAIN) => return n,
                Err(e) => panic!("read inotify: {e}"),
            }
        }
    }
}

/// Runs `f` on a thread of its own (in the calling thread's mount namespace,
/// which a new thread shares) and waits at most 5 s for it. If it is still
/// blocked then, `unblock` lets it finish and the test fails, so that a
/// call stuck in `open` shows as a failure, not as a hung test run.
fn within_5s<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
    unblock: impl FnOnce(),
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(v) => {
            worker.join().unwrap();
            eprintln!("{what}: returned after {:?}", start.elapsed());
            v
        }
        Err(_) => {
            unblock();
            let _ = worker.join();
            panic!("{what}: still blocked after 5 s");
        }
    }
}

/// A FIFO named `name` in `dir`.
fn fifo(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &p,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    p
}

/// Opens the FIFO for writing without blocking: succeeds only while a
/// reader has it open (or is blocked opening it), which unblocks that
/// reader; `ENXIO` when nobody does.
fn open_fifo_writer(p: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
}

fn assert_refused_as(err: &Error, kind: &str) {
    assert!(
        matches!(err, Error::InvalidInput { .. }),
        "expected InvalidInput, got {err:?}"
    );
    assert!(err.to_string().contains(kind), "{err}");
}

#[test]
fn a_fifo_backing_file_is_refused_at_once_without_being_opened() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let before = Snapshot::take();
        let p = fifo(dir, "hostile-fifo");
        let watch = OpenWatch::new(&p);
        // Read-only: a read-only open of a FIFO blocks until a writer comes
        // (and a read-write one does not block, but is an open all the same).
        for read_only in [true, false] {
            let opts = LoopOptions {
                read_only,
                ..LoopOptions::new()
            };
            let q = p.clone();
            let err = within_5s(
                &format!("LoopDevice::attach(FIFO, read_only: {read_only})"),
                move || LoopDevice::attach(&q, &opts).unwrap_err(),
                || drop(open_fifo_writer(&p)),
            );
            assert_refused_as(&err, "FIFO");
            assert_eq!(watch.opens(), 0, "the FIFO was opened");
        }
        // squashfs is read-only: the image would be opened read-only.
        for fstype in ["squashfs", "ext4", "erofs"] {
            let q = p.clone();
            let err = within_5s(
                &format!("mount_image(FIFO, {fstype})"),
                move || mount_image(&q, fstype, &MountAttr::new()).unwrap_err(),
                || drop(open_fifo_writer(&p)),
            );
            assert_refused_as(&err, "FIFO");
            assert_eq!(watch.opens(), 0, "the FIFO was opened ({fstype})");
        }
        // Nobody holds the FIFO open.
        let err = open_fifo_writer(&p).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENXIO), "{err}");
        drop(watch);
        before.assert_unchanged("FIFO backing", SETTLE);
    });
}

#[test]
fn a_character_device_backing_file_is_refused_without_its_open_running() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let before = Snapshot::take();
        // A node of our own, so that no other process's opens count: the
        // null device, on a tmpfs without nodev (the scratch tmpfs has it,
        // and an open there would fail before reaching the driver).
        let devdir = common::tmpfs_at(dir, "devs");
        let node = devdir.join("null");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &node,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        let watch = OpenWatch::new(&node);
        // The watch sees a real open of the node.
        drop(fs::File::open(&node).unwrap());
        assert_eq!(watch.opens(), 1, "inotify reports opens of the node");

        for read_only in [true, false] {
            let opts = LoopOptions {
                read_only,
                ..LoopOptions::new()
            };
            let err = LoopDevice::attach(&node, &opts).unwrap_err();
            assert_eq!(
                watch.opens(),
                0,
                "the device was opened (read_only: {read_only})"
            );
            assert_refused_as(&err, "character device");
        }
        for fstype in ["squashfs", "ext4", "erofs"] {
            let err = mount_image(&node, fstype, &MountAttr::new()).unwrap_err();
            assert_eq!(watch.opens(), 0, "the device was opened ({fstype})");
            assert_refused_as(&err, "character device");
        }
        // A symlink to it is followed, and the device still not opened.
        let link = dir.join("link-to-null");
        std::os::unix::fs::symlink(&node, &link).unwrap();
        let err = LoopDevice::attach(&link, &LoopOptions::new()).unwrap_err();
        assert_eq!(watch.opens(), 0, "the device was opened through a symlink");
        assert_refused_as(&err, "character device");
        drop(watch);
        umount(&devdir);
        before.assert_unchanged("character device backing", SETTLE);
    });
}

#[test]
fn a_block_device_path_swapped_after_the_check_is_never_what_the_kernel_mounts() {
    // mount_image checks the image's kind and then hands the kernel a source
    // string to look up again. If that string is the caller's path, a path
    // swapped in between reaches the kernel unchecked: here a directory,
    // which the kernel refuses with ENOTBLK (a block device the caller may
    // not mount would be accepted). With the checked fd's magic link as the
    // source, every attempt either mounts the device that was checked or
    // is refused as a directory before any mount.
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "swapped-bdev") else {
            return;
        };
        let before = Snapshot::take();
        let dev = LoopDevice::attach(&img, &LoopOptions::new()).unwrap();
        let target = mkdir(dir, "target");
        let other = mkdir(dir, "not-a-device");
        let name = dir.join("image-link");
        std::os::unix::fs::symlink(dev.path(), &name).unwrap();

        let stop = AtomicBool::new(false);
        let (mut mounted, mut refused, mut unchecked) = (0, 0, Vec::new());
        std::thread::scope(|s| {
            // Flips the name between the device and the directory, each
            // time atomically (rename of a prepared symlink over it).
            s.spawn(|| {
                let tmp = dir.join("image-link.new");
                let mut to_device = false;
                while !stop.load(Ordering::Relaxed) {
                    let _ = fs::remove_file(&tmp);
                    let dest = if to_device {
                        dev.path()
                    } else {
                        other.as_path()
                    };
                    std::os::unix::fs::symlink(dest, &tmp).unwrap();
                    fs::rename(&tmp, &name).unwrap();
                    to_device = !to_device;
                }
            });
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(3) && unchecked.len() < 3 {
                match mount_image(&name, "ext4", &MountAttr::new().readonly()) {
                    Ok(m) => {
                        // The checked device, and only that, was mounted.
                        m.attach(&target).unwrap();
                        assert_eq!(
                            image_util::dev_of(&target),
                            rdev_of(dev.path()),
                            "mounted another device than the one checked"
                        );
                        umount(&target);
                        mounted += 1;
                    }
                    Err(Error::InvalidInput { .. }) => refused += 1,
                    Err(e) => unchecked.push(e.to_string()),
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        eprintln!("mounted {mounted}, refused {refused}, unchecked {unchecked:?}");
        assert!(
            unchecked.is_empty(),
            "the kernel got a source that was not checked: {unchecked:?}"
        );
        assert!(mounted > 0 && refused > 0, "the race was exercised");
        drop(dev);
        assert_no_device_for(&img);
        before.assert_unchanged("swapped block device", SETTLE);
    });
}

/// The major:minor a device node stands for.
fn rdev_of(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let rdev = fs::metadata(p).unwrap().rdev();
    (libc::major(rdev), libc::minor(rdev))
}

#[test]
fn a_filesystem_type_that_takes_no_device_is_refused_before_any_loop_device() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let Some(img) = image_util::ext4(dir, "nodev-types") else {
            return;
        };
        let before = Snapshot::take();
        let watch = OpenWatch::new(&img);
        let listed = fs::read_to_string("/proc/filesystems").unwrap();
        for fstype in ["tmpfs", "proc", "sysfs", "ramfs", "overlay"] {
            if !listed
                .lines()
                .any(|l| l.strip_prefix("nodev\t") == Some(fstype))
            {
                eprintln!("{fstype} is not listed as nodev here; skipped");
                continue;
            }
            for attr in [MountAttr::new(), MountAttr::new().readonly()] {
                let err = mount_image(&img, fstype, &attr).unwrap_err();
                assert!(
                    matches!(err, Error::InvalidInput { what: "fstype", .. }),
                    "{fstype}: {err:?}"
                );
                assert!(err.to_string().contains("nodev"), "{err}");
            }
            assert!(devices_backed_by(&img).is_empty(), "{fstype}");
            assert_eq!(watch.opens(), 0, "{fstype}: the image was opened");
        }
        // A filesystem on a device is still mounted.
        let target = mkdir(dir, "target");
        mount_image(&img, "ext4", &MountAttr::new().readonly())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert!(target.join("hello.txt").exists());
        umount(&target);
        assert_no_device_for(&img);
        drop(watch);
        before.assert_unchanged("nodev types", SETTLE);
    });
}
