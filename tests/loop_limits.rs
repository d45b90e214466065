//! Loop device boundaries and checks the other tests never reach (issue
//! 11): the `i64::MAX` limit of offset and size limit, and
//! `Error::LoopMismatch`, the device showing something else than was asked
//! (a read-only fd, and a kernel that takes a request and ignores it, as
//! early `LOOP_CONFIGURE` versions did with some fields). Each test runs in
//! a private mount namespace with its own tmpfs.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, fault, image_util};

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::Path;

use common::in_private_ns;
use image_util::{assert_no_device_for, devices_backed_by};
use linux_raw_sys::loop_device as k;
use mountfd::{Error, LoopDevice, LoopOptions};

const MAX: u64 = i64::MAX as u64;

fn reason(err: &Error) -> &str {
    match err {
        Error::InvalidInput { reason, .. } => reason,
        other => panic!("not InvalidInput: {other}"),
    }
}

#[test]
fn offset_and_size_limit_of_i64_max_pass_and_one_more_is_refused_before_any_call() {
    in_private_ns(|dir| {
        // One past loff_t: refused before the path is even looked up (a
        // missing file, which any call would have reported as ENOENT).
        let missing = dir.join("missing.img");
        for (what, opts) in [
            (
                "offset",
                LoopOptions {
                    offset: MAX + 1,
                    ..LoopOptions::new()
                },
            ),
            (
                "size limit",
                LoopOptions {
                    size_limit: MAX + 1,
                    ..LoopOptions::new()
                },
            ),
            (
                "size limit",
                LoopOptions {
                    size_limit: u64::MAX,
                    ..LoopOptions::new()
                },
            ),
        ] {
            let err = LoopDevice::attach(&missing, &opts).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { what: w, .. } if w == what),
                "{err}"
            );
            assert!(
                reason(&err).contains("exceeds 9223372036854775807"),
                "{err}"
            );
        }

        // A sparse file of i64::MAX bytes, the most tmpfs holds
        // (MAX_LFS_FILESIZE), with a marker 8 KiB before its end.
        let img = dir.join("huge.img");
        let mut f = fs::File::create(&img).unwrap();
        f.set_len(MAX).unwrap();
        let near_end = MAX + 1 - 8192;
        f.seek(SeekFrom::Start(near_end)).unwrap();
        f.write_all(b"the far end").unwrap();
        drop(f);

        // An offset of i64::MAX passes the range check but is the end of
        // this file: refused as past the end, not as too large.
        let at_max = LoopOptions {
            offset: MAX,
            ..LoopOptions::new()
        };
        let err = LoopDevice::attach(&img, &at_max).unwrap_err();
        assert!(reason(&err).contains("at or past the end"), "{err}");

        // 8 KiB before the end: the kernel binds it, and the device reads
        // the marker there. A size limit of i64::MAX is accepted as it is.
        let opts = LoopOptions {
            offset: near_end,
            size_limit: MAX,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach(&img, &opts).unwrap();
        let st = dev.status().unwrap();
        assert_eq!((st.offset, st.size_limit), (near_end, MAX));
        let mut head = [0u8; 11];
        fs::File::open(dev.path())
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        assert_eq!(&head, b"the far end");
        drop(dev);
        assert_no_device_for(&img);
    });
}

#[test]
fn a_read_only_fd_for_a_read_write_device_is_a_mismatch_and_the_device_is_released() {
    in_private_ns(|dir| {
        let img = dir.join("ro-fd.img");
        fs::write(&img, vec![0u8; 1 << 20]).unwrap();
        let ro = fs::File::open(&img).unwrap();
        let err = LoopDevice::attach_fd(ro.as_fd(), &LoopOptions::new()).unwrap_err();
        match &err {
            Error::LoopMismatch {
                device,
                setting,
                asked,
                actual,
                ..
            } => {
                assert_eq!((*setting, *asked, *actual), ("read-only", 0, 1), "{err}");
                assert!(device.to_str().unwrap().starts_with("/dev/loop"), "{err}");
                assert_eq!(err.path(), Some(device.as_path()));
                assert_eq!(
                    err.to_string(),
                    format!(
                        "{}: read-only was not applied (asked 0, device has 1)",
                        device.display()
                    )
                );
            }
            other => panic!("{other}"),
        }
        assert_eq!(err.errno(), None);
        assert_no_device_for(&img);
        // Asked for read-only, the same fd works.
        let opts = LoopOptions {
            read_only: true,
            ..LoopOptions::new()
        };
        let dev = LoopDevice::attach_fd(ro.as_fd(), &opts).unwrap();
        assert!(dev.status().unwrap().read_only);
        drop(dev);
        assert_no_device_for(&img);
    });
}

/// Attaches `img` with `opts` on a thread that looks like an old kernel
/// (`LOOP_CONFIGURE` is EINVAL, so the `LOOP_SET_FD` path runs) that also
/// takes `ignored` and does nothing.
fn attach_where_ignored(
    img: &Path,
    opts: &LoopOptions,
    ignored: u32,
) -> mountfd::Result<LoopDevice> {
    fault::on_own_thread(|| {
        // SAFETY: only LoopDevice issues these requests on this thread; it
        // falls back on EINVAL from LOOP_CONFIGURE, and checks the device
        // with LOOP_GET_STATUS64 after the request "succeeded".
        unsafe {
            fault::fail_ioctl(k::LOOP_CONFIGURE, libc::EINVAL).unwrap();
            fault::skip_syscall_if(
                libc::SYS_ioctl,
                &[fault::Arg::Eq {
                    index: 1,
                    value: ignored,
                }],
            )
            .unwrap();
        }
        LoopDevice::attach(img, opts)
    })
}

#[test]
fn settings_a_kernel_ignores_are_a_mismatch_and_the_device_is_released() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let img = dir.join("ignored.img");
        fs::write(&img, vec![0u8; 1 << 20]).unwrap();
        // Offset, size limit and autoclear all go in LOOP_SET_STATUS64: the
        // first one checked is named. Without autoclear set, only the
        // library's LOOP_CLR_FD releases the device.
        let opts = LoopOptions {
            offset: 4096,
            size_limit: 8192,
            ..LoopOptions::new()
        };
        let err = attach_where_ignored(&img, &opts, k::LOOP_SET_STATUS64).unwrap_err();
        assert!(
            matches!(
                err,
                Error::LoopMismatch {
                    setting: "offset",
                    asked: 4096,
                    actual: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            devices_backed_by(&img).is_empty(),
            "the device is released at once"
        );
        // Each setting on its own.
        for (opts, setting, asked) in [
            (
                LoopOptions {
                    size_limit: 8192,
                    ..LoopOptions::new()
                },
                "size limit",
                8192,
            ),
            (LoopOptions::new(), "autoclear", 1),
        ] {
            let err = attach_where_ignored(&img, &opts, k::LOOP_SET_STATUS64).unwrap_err();
            match err {
                Error::LoopMismatch {
                    setting: s,
                    asked: a,
                    actual: 0,
                    ..
                } if s == setting && a == asked => {}
                other => panic!("{setting}: {other}"),
            }
            assert!(devices_backed_by(&img).is_empty(), "{setting}");
        }
        // The block size goes in LOOP_SET_BLOCK_SIZE.
        let opts = LoopOptions {
            block_size: Some(4096),
            ..LoopOptions::new()
        };
        let err = attach_where_ignored(&img, &opts, k::LOOP_SET_BLOCK_SIZE).unwrap_err();
        assert!(
            matches!(
                err,
                Error::LoopMismatch {
                    setting: "block size",
                    asked: 4096,
                    actual: 512,
                    ..
                }
            ),
            "{err}"
        );
        assert!(devices_backed_by(&img).is_empty());
        // Nothing ignored: the same fallback path applies everything.
        let opts = LoopOptions {
            offset: 4096,
            size_limit: 8192,
            block_size: Some(4096),
            ..LoopOptions::new()
        };
        let dev = attach_where_ignored(&img, &opts, 0x4CFF).unwrap();
        let st = dev.status().unwrap();
        assert_eq!(
            (st.offset, st.size_limit, st.block_size),
            (4096, 8192, 4096)
        );
        assert!(st.autoclear);
        drop(dev);
        assert_no_device_for(&img);
    });
}
