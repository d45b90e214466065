//! The `mountfd` example CLI, run as a process inside each test's private
//! mount namespace (a child inherits the spawning thread's namespace).

use mountfd_testing as common;

use std::fs;

use common::{in_private_ns, mkdir, my_mounts, owner, run_cli as run, stderr};

#[test]
fn bind_with_idmap_and_readonly_creates_the_missing_directory_target() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("f"), b"x").unwrap();
        let dst = dir.join("new-target");
        let o = run(&[
            "bind",
            "--source",
            src.to_str().unwrap(),
            "--target",
            dst.to_str().unwrap(),
            "--idmap",
            "0:100000:65536",
            "--readonly",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(owner(&dst.join("f")), (100000, 100000));
        assert_eq!(
            fs::write(dst.join("g"), b"").unwrap_err().raw_os_error(),
            Some(libc::EROFS)
        );
    });
}

#[test]
fn bind_of_a_file_creates_a_file_target_and_split_maps_apply_per_kind() {
    in_private_ns(|dir| {
        let src = dir.join("src-file");
        fs::write(&src, b"payload").unwrap();
        let dst = dir.join("dst-file");
        let o = run(&[
            "bind",
            "--source",
            src.to_str().unwrap(),
            "--target",
            dst.to_str().unwrap(),
            "--idmap",
            "u:0:1000:1",
            "--idmap",
            "g:0:2000:1",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(dst.is_file());
        assert_eq!(fs::read(&dst).unwrap(), b"payload");
        assert_eq!(owner(&dst), (1000, 2000));
    });
}

#[test]
fn a_target_of_the_wrong_kind_is_refused_and_nothing_is_mounted() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let file_target = dir.join("a-file");
        fs::write(&file_target, b"").unwrap();
        let before = my_mounts();
        let o = run(&[
            "bind",
            "--source",
            src.to_str().unwrap(),
            "--target",
            file_target.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("is a file, but the source is a directory"),
            "{}",
            stderr(&o)
        );
        assert_eq!(before, my_mounts());
    });
}

#[test]
fn failures_exit_non_zero_and_leave_no_mount_or_created_target() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let before = my_mounts();
        for (args, expect) in [
            (vec!["--idmap", "100000:0:0"], "invalid id map"),
            (vec!["--idmap", "0:100000:65536,5:7"], "overlap"),
            (vec!["--idmap", "not-a-map"], "--idmap"),
        ] {
            let dst = dir.join("never");
            let mut all = vec![
                "bind",
                "--source",
                src.to_str().unwrap(),
                "--target",
                dst.to_str().unwrap(),
            ];
            all.extend(args);
            let o = run(&all);
            assert!(!o.status.success(), "{all:?}");
            assert!(stderr(&o).contains(expect), "{all:?}: {}", stderr(&o));
            assert!(!dst.exists(), "{all:?} created the target");
        }
        let missing = dir.join("missing");
        let o = run(&[
            "bind",
            "--source",
            missing.to_str().unwrap(),
            "--target",
            dir.join("t").to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
        let link = dir.join("link");
        std::os::unix::fs::symlink(mkdir(dir, "elsewhere"), &link).unwrap();
        let o = run(&[
            "bind",
            "--source",
            src.to_str().unwrap(),
            "--target",
            link.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
        assert_eq!(before, my_mounts());
    });
}
