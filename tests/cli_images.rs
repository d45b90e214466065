//! `mountfd image` and `mountfd overlay`, run as processes inside each
//! test's private mount namespace (a child inherits the spawning thread's
//! namespace).
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, image_util};

use std::fs;
use std::path::Path;

use common::{in_private_ns, mkdir, my_mounts, owner, stderr};
use image_util::{assert_no_device_for, devices_backed_by, umount};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the `mountfd` binary cargo built for this test.
fn run(args: &[&str]) -> std::process::Output {
    common::run_cli(env!("CARGO_BIN_EXE_mountfd"), args)
}

#[test]
fn image_mounts_an_idmapped_read_only_squashfs_on_a_new_target() {
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "cli-image") else {
            return;
        };
        let target = dir.join("new-target");
        let o = run(&[
            "image",
            "--image",
            s(&img),
            "--fstype",
            "squashfs",
            "--target",
            s(&target),
            "--idmap",
            "0:100000:65536",
            "--readonly",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            fs::read_to_string(target.join("hello.txt")).unwrap(),
            "hello from the image\n"
        );
        assert_eq!(owner(&target.join("hello.txt")), (100000, 100000));
        let err = fs::write(target.join("x"), b"").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        // The CLI has exited; the mount alone keeps the loop device.
        assert_eq!(devices_backed_by(&img).len(), 1);
        umount(&target);
        assert_no_device_for(&img);
    });
}

#[test]
fn image_takes_offset_and_size_limit() {
    in_private_ns(|dir| {
        let Some(inner) = image_util::ext4(dir, "cli-offset-inner") else {
            return;
        };
        let bytes = fs::read(&inner).unwrap();
        let img = dir.join("cli-offset.bin");
        let mut data = vec![0u8; 512 << 10];
        data.extend(&bytes);
        data.extend(vec![0u8; 512 << 10]);
        fs::write(&img, data).unwrap();
        let target = mkdir(dir, "t");
        let o = run(&[
            "image",
            "--image",
            s(&img),
            "--fstype",
            "ext4",
            "--target",
            s(&target),
            "--offset",
            &(512 << 10).to_string(),
            "--size-limit",
            &bytes.len().to_string(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(target.join("sub/nested.txt").exists());
        fs::write(target.join("rw"), b"writable").unwrap();
        umount(&target);
        assert_no_device_for(&img);
    });
}

#[test]
fn image_failures_exit_non_zero_and_leave_no_mount_target_or_device() {
    in_private_ns(|dir| {
        let Some(img) = image_util::squashfs(dir, "cli-image-bad") else {
            return;
        };
        let junk = dir.join("cli-junk.img");
        fs::write(&junk, vec![7u8; 1 << 20]).unwrap();
        let len = fs::metadata(&img).unwrap().len().to_string();
        let missing = dir.join("missing.img");
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["--image", s(&missing), "--fstype", "squashfs"],
                "No such file",
            ),
            (vec!["--image", s(dir), "--fstype", "squashfs"], "directory"),
            (vec!["--image", s(&img), "--fstype", "nosuchfs"], "nosuchfs"),
            (
                vec!["--image", s(&img), "--fstype", "squashfs", "--offset", &len],
                "offset",
            ),
            (
                vec![
                    "--image",
                    s(&img),
                    "--fstype",
                    "squashfs",
                    "--idmap",
                    "0:1:0",
                ],
                "--idmap",
            ),
            (
                vec!["--image", s(&junk), "--fstype", "squashfs"],
                "SQUASHFS superblock",
            ),
        ];
        let before = my_mounts();
        for (i, (args, says)) in cases.iter().enumerate() {
            let target = dir.join(format!("target-{i}"));
            let mut all = vec!["image", "--target", s(&target)];
            all.extend(args);
            let o = run(&all);
            assert!(!o.status.success(), "{all:?} succeeded");
            assert!(stderr(&o).contains(says), "{all:?}: {}", stderr(&o));
            assert!(!target.exists(), "{all:?} left its target");
        }
        assert_eq!(before, my_mounts(), "nothing was mounted");
        assert!(devices_backed_by(&img).is_empty());
        assert_no_device_for(&junk);
    });
}

#[test]
fn overlay_stacks_colon_separated_lowers_under_an_upper() {
    in_private_ns(|dir| {
        let (top, bottom) = (mkdir(dir, "top"), mkdir(dir, "odd:name"));
        fs::write(top.join("f"), b"top").unwrap();
        fs::write(bottom.join("f"), b"bottom").unwrap();
        fs::write(bottom.join("g"), b"bottom").unwrap();
        let (upper, work) = (mkdir(dir, "upper"), mkdir(dir, "work"));
        let target = dir.join("merged");
        let lower = format!("{}:{}", s(&top), s(&bottom).replace(':', "\\:"));
        let o = run(&[
            "overlay",
            "--lower",
            &lower,
            "--upper",
            s(&upper),
            "--work",
            s(&work),
            "--target",
            s(&target),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(fs::read(target.join("f")).unwrap(), b"top");
        assert_eq!(fs::read(target.join("g")).unwrap(), b"bottom");
        fs::write(target.join("new"), b"n").unwrap();
        assert!(upper.join("new").exists());
    });
}

#[test]
fn overlay_failures_exit_non_zero_and_leave_nothing() {
    in_private_ns(|dir| {
        let (a, b) = (mkdir(dir, "a"), mkdir(dir, "b"));
        let target = dir.join("merged");
        let before = my_mounts();
        let missing = format!("{}:{}", s(&a), s(&dir.join("missing")));
        let both = format!("{}:{}", s(&a), s(&b));
        for args in [
            vec!["--lower", missing.as_str()],
            vec!["--lower", s(&a)],
            vec!["--lower", "::"],
            vec!["--lower", both.as_str(), "--upper", s(&a)],
        ] {
            let mut all = vec!["overlay", "--target", s(&target)];
            all.extend(&args);
            let o = run(&all);
            assert!(!o.status.success(), "{all:?} succeeded");
            assert!(!target.exists(), "{all:?} left its target");
        }
        assert_eq!(before, my_mounts());
    });
}
