//! The `mountfd` binary, run as a process inside each test's private
//! mount namespace (a child inherits the spawning thread's namespace).
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::fs;

use common::{in_private_ns, mkdir, my_mounts, owner, stderr};

/// Runs the `mountfd` binary cargo built for this test.
fn run(args: &[&str]) -> std::process::Output {
    common::run_cli(env!("CARGO_BIN_EXE_mountfd"), args)
}

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

/// `user/dir -> victim`: a target below `user/dir` must not reach `victim`.
fn symlinked_tree(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let user = mkdir(dir, "user");
    let victim = mkdir(dir, "victim");
    std::os::unix::fs::symlink(&victim, user.join("dir")).unwrap();
    (user, victim)
}

#[test]
fn a_symlink_in_any_component_of_the_target_is_refused() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("marker"), b"").unwrap();
        let (user, victim) = symlinked_tree(dir);
        let before = my_mounts();
        for target in [user.join("dir/shadow"), user.join("dir/./shadow")] {
            let o = run(&[
                "bind",
                "--source",
                src.to_str().unwrap(),
                "--target",
                target.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
            assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
        }
        // Nothing was created or mounted in the directory the link points to.
        assert!(fs::read_dir(&victim).unwrap().next().is_none());
        assert_eq!(before, my_mounts());

        // The image and overlay targets go through the same check.
        let (a, b) = (mkdir(dir, "a"), mkdir(dir, "b"));
        let lower = format!("{}:{}", a.display(), b.display());
        let target = user.join("dir/ov");
        let o = run(&[
            "overlay",
            "--lower",
            &lower,
            "--target",
            target.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
        assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
        assert!(fs::read_dir(&victim).unwrap().next().is_none());
        assert_eq!(before, my_mounts());
    });
}

#[test]
fn follow_symlinks_allows_them_before_the_final_component_only() {
    in_private_ns(|dir| {
        let src = dir.join("src-file");
        fs::write(&src, b"payload").unwrap();
        let (user, victim) = symlinked_tree(dir);
        let o = run(&[
            "bind",
            "--follow-symlinks",
            "--source",
            src.to_str().unwrap(),
            "--target",
            user.join("dir/shadow").to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(fs::read(victim.join("shadow")).unwrap(), b"payload");

        // A final symlink is refused even so, for a file source too (the
        // kernel would cover the link).
        let other = dir.join("other");
        fs::write(&other, b"other").unwrap();
        let link = dir.join("file-link");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        let before = my_mounts();
        let o = run(&[
            "bind",
            "--follow-symlinks",
            "--source",
            src.to_str().unwrap(),
            "--target",
            link.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
        assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(before, my_mounts());
    });
}

#[test]
fn a_failed_attach_removes_the_target_it_created_and_only_that() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let src_file = dir.join("src-file");
        fs::write(&src_file, b"").unwrap();
        let existing = mkdir(dir, "existing");
        let before = my_mounts();
        // On this thread, and in the CLI it spawns (seccomp filters are
        // inherited), move_mount fails.
        // SAFETY: this thread is the test's own (`in_private_ns`) and makes no
        // move_mount of its own; the CLI child takes EPERM as a failed attach.
        unsafe { mountfd_testing::fault::fail_syscall(libc::SYS_move_mount, libc::EPERM) }.unwrap();
        for (source, target) in [
            (&src, dir.join("new-dir")),
            (&src_file, dir.join("new-file")),
            (&src, existing.clone()),
        ] {
            let o = run(&[
                "bind",
                "--source",
                source.to_str().unwrap(),
                "--target",
                target.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
            assert!(stderr(&o).contains("move_mount"), "{}", stderr(&o));
        }
        assert!(
            !dir.join("new-dir").exists(),
            "the created directory stayed"
        );
        assert!(!dir.join("new-file").exists(), "the created file stayed");
        assert!(existing.is_dir(), "a target it did not create was removed");
        assert_eq!(before, my_mounts());
    });
}

#[test]
fn idmap_help_says_a_remap_replaces_and_read_only_is_inherited() {
    let o = run(&["bind", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("replaces"), "{help}");
    assert!(help.contains("on-disk"), "{help}");
    assert!(help.contains("inherit"), "{help}");
}

#[test]
fn a_remap_through_the_cli_applies_to_on_disk_ids() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("f"), b"").unwrap();
        let first = dir.join("first");
        let bind = |source: &std::path::Path, target: &std::path::Path, map: &str| {
            let o = run(&[
                "bind",
                "--source",
                source.to_str().unwrap(),
                "--target",
                target.to_str().unwrap(),
                "--idmap",
                map,
                "--readonly",
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
        };
        bind(&src, &first, "0:100000:65536");
        assert_eq!(owner(&first.join("f")), (100000, 100000));
        let (nobody, two) = (dir.join("nobody"), dir.join("two"));
        bind(&first, &nobody, "100000:2000:65536");
        assert_eq!(owner(&nobody.join("f")), (65534, 65534));
        bind(&first, &two, "0:2000:65536");
        assert_eq!(owner(&two.join("f")), (2000, 2000));
    });
}
