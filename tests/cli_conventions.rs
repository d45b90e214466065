//! What a sysadmin expects of a mount tool (issue 8): `--version`, `mount`'s
//! positional `SOURCE TARGET` and `-o` lists, `-v`, `mount(8)`'s exit codes,
//! "must be root", the id-map grammar and a hint for the `/proc` form, and
//! completions. Each run is a process in the test's private mount namespace.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, image_util};

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::{in_private_ns, mkdir, my_mounts, owner, stderr};
use rustix::fs::StatVfsMountFlags as St;

const EXE: &str = env!("CARGO_BIN_EXE_mountfd");

fn run(args: &[&str]) -> std::process::Output {
    common::run_cli(EXE, args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_and_help_exit_0_and_usage_errors_exit_1() {
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        format!("mountfd {}", env!("CARGO_PKG_VERSION"))
    );
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for section in ["MOUNT OPTIONS", "ID MAPS", "EXIT STATUS", "32", "idmap="] {
        assert!(help.contains(section), "--help lacks {section}:\n{help}");
    }
    // clap's own status for a usage error is 2; mount(8)'s is 1.
    for args in [
        &[][..],
        &["--no-such-flag"],
        &["/a"],
        &["-o", "ro,nosiud", "/a", "/b"],
        &["-o", "offset=4k", "-t", "squashfs", "/a", "/b"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty(), "{args:?} said nothing");
    }
    assert!(stderr(&run(&["-o", "ro,nosiud", "/a", "/b"])).contains("`nosiud`"));
}

#[test]
fn positional_source_target_and_an_option_list_mount_like_mount() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("f"), b"x").unwrap();
        let dst = dir.join("dst");
        // The id map's commas do not end the option list.
        let o = run(&[
            "-o",
            "ro,nosuid,idmap=u:0:100000:65536,g:0:200000:65536,nodev",
            "-o",
            "noexec",
            s(&src),
            s(&dst),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(owner(&dst.join("f")), (100000, 200000));
        let flags = rustix::fs::statvfs(&dst).unwrap().f_flag;
        for f in [St::RDONLY, St::NOSUID, St::NODEV, St::NOEXEC] {
            assert!(flags.contains(f), "{f:?} missing from {flags:?}");
        }
        // The subcommand's flags still work, with -o beside them.
        let two = dir.join("two");
        let o = run(&[
            "bind",
            "--source",
            s(&src),
            "--target",
            s(&two),
            "-o",
            "nosuid",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let flags = rustix::fs::statvfs(&two).unwrap().f_flag;
        assert!(flags.contains(St::NOSUID) && !flags.contains(St::RDONLY));
    });
}

#[test]
fn a_failed_mount_exits_32_and_bad_input_exits_1_before_anything_is_made() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let before = my_mounts();
        let o = run(&[s(&dir.join("missing")), s(&dir.join("t1"))]);
        assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
        assert!(!dir.join("t1").exists());
        let o = run(&["-o", "idmap=0:100000:0", s(&src), s(&dir.join("t2"))]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(!dir.join("t2").exists());
        let o = run(&["-t", "squashfs", s(&src), s(&dir.join("t3"))]);
        assert_eq!(o.status.code(), Some(32), "{}", stderr(&o));
        assert!(!dir.join("t3").exists());
        assert_eq!(before, my_mounts());
    });
}

#[test]
fn an_unprivileged_caller_is_told_it_must_be_root() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let dst = dir.join("dst");
        let o = Command::new(EXE)
            .args(["-o", "ro", s(&src), s(&dst)])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("must be root"), "{}", stderr(&o));
        assert!(!dst.exists());
    });
}

#[test]
fn an_idmap_in_the_proc_form_gets_a_hint_with_the_right_spelling() {
    let o = run(&[
        "bind",
        "--source",
        "/nonexistent-src",
        "--target",
        "/nonexistent-dst",
        "--idmap",
        "0 100000 65536",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("/proc"), "{e}");
    assert!(e.contains("0:100000:65536"), "{e}");
    assert!(e.contains("RANGE defaults to 1"), "{e}");
    // --help gives the grammar.
    let help = stdout(&run(&["bind", "--help"]));
    for part in [
        "FROM:TO[:RANGE]",
        "defaults to 1",
        "u:",
        "g:",
        "b:",
        "commas",
    ] {
        assert!(help.contains(part), "bind --help lacks {part}:\n{help}");
    }
}

#[test]
fn verbose_names_the_map_the_calls_and_the_loop_device() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let o = run(&[
            "-v",
            "-o",
            "idmap=0:100000:65536",
            s(&src),
            s(&dir.join("b")),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("uid 0:100000:65536"), "{e}");
        assert!(e.contains("open_tree"), "{e}");
        assert!(e.contains("move_mount (target created)"), "{e}");
        // Quiet without -v.
        let o = run(&[s(&src), s(&dir.join("c"))]);
        assert!(o.status.success() && o.stderr.is_empty(), "{}", stderr(&o));

        let Some(img) = image_util::squashfs(dir, "verbose") else {
            return;
        };
        let target = dir.join("img");
        let o = run(&["-v", "-t", "squashfs", "-o", "ro", s(&img), s(&target)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let devices = image_util::devices_backed_by(&img);
        assert_eq!(devices.len(), 1);
        assert!(
            stderr(&o).contains(&format!("loop device /dev/{}", devices[0])),
            "{} / {devices:?}",
            stderr(&o)
        );
        image_util::umount(&target);
        image_util::assert_no_device_for(&img);
    });
}

#[test]
fn completions_are_generated_by_the_tool() {
    let o = run(&["completions", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bash = stdout(&o);
    assert!(bash.contains("complete -F _mountfd"), "{bash}");
    assert!(bash.contains("--follow-symlinks") && bash.contains("overlay"));
    let zsh = stdout(&run(&["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef mountfd"), "{zsh}");
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(1));
}
