//! The CLI's lifecycle commands (issue 13): `mountfd umount [-R] [-l]`,
//! `mountfd list [--json] [PATH]`, `mountfd is-mountpoint`, checked against
//! the kernel and against util-linux's `findmnt`.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common};

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use common::{in_private_ns, mkdir, stderr, tmpfs_at};
use mountfd::{is_mountpoint, DetachedMount};

/// The `mountfd` binary cargo built for these tests.
fn run_cli(args: &[&str]) -> std::process::Output {
    common::run_cli(env!("CARGO_BIN_EXE_mountfd"), args)
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = run_cli(args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn is_mountpoint_exits_0_or_32_like_mountpoint_q() {
    in_private_ns(|dir| {
        let m = tmpfs_at(dir, "m");
        let plain = mkdir(dir, "plain");
        symlink(&m, dir.join("link")).unwrap();
        let code = |p: &std::path::Path| {
            run_cli(&["is-mountpoint", p.to_str().unwrap()])
                .status
                .code()
        };
        assert_eq!(code(&m), Some(0));
        assert_eq!(code(&plain), Some(32));
        assert_eq!(code(&dir.join("link")), Some(32));
        // util-linux agrees on the directories. On the symlink it differs by
        // design: `mountpoint` canonicalizes the path (follows the link and
        // says yes); the crate never follows a final symlink.
        for p in [&m, &plain] {
            let ul = Command::new("mountpoint")
                .arg("-q")
                .arg(p)
                .status()
                .unwrap()
                .code();
            assert_eq!(code(p), ul, "{p:?}");
        }
        let ul_link = Command::new("mountpoint")
            .arg("-q")
            .arg(dir.join("link"))
            .status()
            .unwrap();
        assert_eq!(ul_link.code(), Some(0));
        let missing = run_cli(&["is-mountpoint", dir.join("missing").to_str().unwrap()]);
        assert_eq!(missing.status.code(), Some(1));
        assert!(
            stderr(&missing).contains("No such file"),
            "{}",
            stderr(&missing)
        );
    });
}

#[test]
fn umount_and_umount_recursive_and_lazy() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        let b = tmpfs_at(&a, "b");
        tmpfs_at(&b, "c");
        let out = run_cli(&["umount", a.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("busy"), "{}", stderr(&out));
        let out = run_cli(&["umount", "-R", a.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!is_mountpoint(&a).unwrap());
        let out = run_cli(&["umount", a.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("not a mount point"),
            "{}",
            stderr(&out)
        );
        let a = tmpfs_at(dir, "a2");
        tmpfs_at(&a, "b");
        let out = run_cli(&["umount", "-l", a.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!is_mountpoint(&a).unwrap());
    });
}

#[test]
fn list_json_agrees_with_findmnt_on_target_source_and_fstype() {
    in_private_ns(|dir| {
        let a = tmpfs_at(dir, "a");
        fs::create_dir(a.join("sub")).unwrap();
        fs::create_dir(a.join("bind")).unwrap();
        DetachedMount::clone_tree(a.join("sub"), false)
            .unwrap()
            .attach(a.join("bind"))
            .unwrap();
        tmpfs_at(&a, "with space");
        let ours = json(&["list", "--json"]);
        let theirs: serde_json::Value = serde_json::from_slice(
            &Command::new("findmnt")
                .args([
                    "--json",
                    "--list",
                    "--nofsroot",
                    "-o",
                    "TARGET,SOURCE,FSTYPE",
                ])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let rows = |v: &serde_json::Value| -> BTreeSet<(String, String, String)> {
            v["filesystems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let s = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
                    (s("target"), s("source"), s("fstype"))
                })
                .collect()
        };
        let (ours_rows, theirs_rows) = (rows(&ours), rows(&theirs));
        assert_eq!(ours_rows, theirs_rows);
        assert!(ours_rows.iter().any(|r| r.0.ends_with("/a/with space")));

        // With a path: that mount first, then its subtree.
        let sub = json(&["list", "--json", a.to_str().unwrap()]);
        let list = sub["filesystems"].as_array().unwrap();
        assert_eq!(list[0]["target"], a.to_str().unwrap());
        assert_eq!(list.len(), 3);
        assert_eq!(list[0]["options"], "rw,relatime");
    });
}

#[test]
fn list_shows_columns_and_an_id_map() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let dst = mkdir(dir, "dst");
        DetachedMount::clone_tree_idmapped(&src, false, &common::ns("0:100000:65536"))
            .unwrap()
            .attach(&dst)
            .unwrap();
        let out = run_cli(&["list", dst.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("TARGET"));
        let row = lines.next().unwrap();
        assert!(row.starts_with(dst.to_str().unwrap()), "{row}");
        assert!(
            row.contains("idmapped") && row.contains("0:100000:65536"),
            "{row}"
        );
        let plain = run_cli(&["list", src.to_str().unwrap()]);
        assert!(!plain.status.success());
        assert!(stderr(&plain).contains("not a mount point"));
    });
}

/// Issue 13: a `mount_image` caller finds the loop device behind a mount in
/// `MountInfo::source`, `LoopDevice::find` names the same device, and
/// `mountfd umount` frees it with the mount (autoclear).
#[test]
fn an_image_mount_names_its_loop_device_and_umount_frees_it() {
    in_private_ns(|dir| {
        let Some(img) = common::image_util::squashfs(dir, "img") else {
            eprintln!("skipped: no mksquashfs");
            return;
        };
        let target = mkdir(dir, "target");
        let m = mountfd::mount_image(&img, "squashfs", &mountfd::MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        let source = m.info().unwrap().source.unwrap();
        assert!(source.starts_with("/dev/loop"), "{source}");
        let found = mountfd::LoopDevice::find(&img).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path().to_str(), Some(source.as_str()));
        drop(m);
        let out = run_cli(&["umount", target.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        common::image_util::assert_no_device_for(&img);
    });
}
