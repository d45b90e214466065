//! The CLI's `--in-root DIR` and `--replace` (issue 12), run as a user would.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common};

use std::fs;
use std::os::unix::fs::symlink;

use common::{in_private_ns, mkdir, my_mounts, stderr};

fn run(args: &[&str]) -> std::process::Output {
    common::run_cli(env!("CARGO_BIN_EXE_mountfd"), args)
}

#[test]
fn in_root_resolves_the_target_inside_the_root_and_creates_it_there() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("marker"), b"src").unwrap();
        let root = mkdir(dir, "rootfs");
        mkdir(&root, "run");
        mkdir(&root, "var");
        // An absolute link, as a container image has it: inside the root it
        // means root/run, on the host it would mean /run.
        symlink("/run", root.join("var/run")).unwrap();
        let host_run_before = fs::read_dir("/run").unwrap().count();
        let o = run(&[
            "--in-root",
            root.to_str().unwrap(),
            src.to_str().unwrap(),
            "/var/run/app",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(fs::read(root.join("run/app/marker")).unwrap(), b"src");
        assert!(mountfd::is_mountpoint(root.join("run/app")).unwrap());
        assert_eq!(fs::read_dir("/run").unwrap().count(), host_run_before);
        // A link leading out of the root stays inside it.
        symlink("../../../../..", root.join("up")).unwrap();
        let o = run(&[
            "--in-root",
            root.to_str().unwrap(),
            src.to_str().unwrap(),
            "/up/escaped",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(mountfd::is_mountpoint(root.join("escaped")).unwrap());
        assert!(!dir.join("escaped").exists());
    });
}

#[test]
fn replace_swaps_what_is_mounted_on_the_target_and_leaves_one_mount() {
    in_private_ns(|dir| {
        let (v1, v2) = (mkdir(dir, "v1"), mkdir(dir, "v2"));
        fs::write(v1.join("version"), b"1").unwrap();
        fs::write(v2.join("version"), b"2").unwrap();
        let target = mkdir(dir, "target");
        let o = run(&[v1.to_str().unwrap(), target.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let lines = my_mounts().lines().count();
        let o = run(&["--replace", v2.to_str().unwrap(), target.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(fs::read(target.join("version")).unwrap(), b"2");
        assert_eq!(my_mounts().lines().count(), lines, "the old mount is gone");
        // Not a mount point: a failed mount (32), nothing mounted.
        let plain = mkdir(dir, "plain");
        let o = run(&["--replace", v2.to_str().unwrap(), plain.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
        assert!(!mountfd::is_mountpoint(&plain).unwrap());
        // --in-root and --replace do not go together.
        let o = run(&[
            "--replace",
            "--in-root",
            dir.to_str().unwrap(),
            v2.to_str().unwrap(),
            "/target",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    });
}
