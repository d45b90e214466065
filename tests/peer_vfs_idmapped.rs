//! Scenarios of xfstests' id-mapped mount suite, through `mountfd`.
//!
//! Source: xfstests `src/vfs/idmapped-mounts.c` (run by `src/vfs/vfstest.c`,
//! tests generic/633 and friends); each test names the `tcore_*` function it
//! ports. The suite checks what the VFS does with ids through an id-mapped
//! mount; here the mounts are made by `mountfd`, so the same checks prove
//! that the maps reach the kernel in the right column order and that the
//! mounts behave as the suite expects. Errnos are asserted where the suite
//! asserts them.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use common::{chown, in_private_ns, map, mkdir, owner, run_as};
use mountfd::{DetachedMount, MountAttr, UserNs};

/// Attaches `src` at `dst`, id-mapped with separate uid and gid maps.
fn bind(src: &Path, dst: &Path, uids: &str, gids: &str) {
    let ns = UserNs::new(&map(uids), &map(gids)).unwrap();
    DetachedMount::clone_tree_with(src, false, &MountAttr::new().idmap(&ns))
        .unwrap()
        .attach(dst)
        .unwrap();
}

/// Lets every caller create entries in `dir`, as the suite's fixtures do.
fn world_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
}

fn errno(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

/// Runs `script` as `uid:gid` and returns (success, stderr) in the C locale.
fn sh_as(uid: u32, gid: u32, script: &str) -> (bool, String) {
    let out = run_as(uid, gid, &format!("export LC_ALL=C; {script}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// strerror(EOVERFLOW) in the C locale, as coreutils prints it.
const EOVERFLOW_TEXT: &str = "Value too large for defined data type";

// --- tcore_expected_uid_gid_idmapped_mounts: ownership through two maps ---

#[test]
fn one_tree_through_two_different_maps_shows_each_maps_owners() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, a, b) = (mkdir(dir, "src"), mkdir(dir, "a"), mkdir(dir, "b"));
        for (name, id) in [("f0", 0), ("f5", 5), ("f9999", 9999), ("f10000", 10000)] {
            fs::write(src.join(name), b"").unwrap();
            chown(&src.join(name), id, id);
        }
        world_writable(&src);
        // Different uid and gid maps, and a second mount with other maps.
        bind(&src, &a, "0:10000:10000", "0:20000:10000");
        bind(&src, &b, "0:30000:10000", "0:40000:10000");

        for (name, disk) in [("f0", 0), ("f5", 5), ("f9999", 9999)] {
            assert_eq!(owner(&src.join(name)), (disk, disk), "on disk");
            assert_eq!(
                owner(&a.join(name)),
                (10000 + disk, 20000 + disk),
                "{name} via a"
            );
            assert_eq!(
                owner(&b.join(name)),
                (30000 + disk, 40000 + disk),
                "{name} via b"
            );
        }
        // Outside both maps: the overflow ids.
        assert_eq!(owner(&a.join("f10000")), (65534, 65534));
        assert_eq!(owner(&b.join("f10000")), (65534, 65534));

        // tcore_fsids_mapped: a caller whose ids are mapped creates through
        // `a`; the file is stored with the on-disk ids and shows through
        // `b` with b's.
        let (ok, err) = sh_as(10001, 20002, &format!("touch {}/new", a.display()));
        assert!(ok, "{err}");
        assert_eq!(owner(&src.join("new")), (1, 2));
        assert_eq!(owner(&a.join("new")), (10001, 20002));
        assert_eq!(owner(&b.join("new")), (30001, 40002));
    });
}

// --- tcore_fsids_unmapped -------------------------------------------------

#[test]
fn a_caller_whose_ids_the_mount_does_not_map_cannot_create_anything_eoverflow() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        fs::write(src.join("existing"), b"").unwrap();
        // Seen ids 10000..20000 only: root (fsuid 0) has no on-disk id here.
        bind(&src, &dst, "0:10000:10000", "0:10000:10000");

        assert_eq!(
            errno(fs::write(dst.join("file"), b"")),
            Some(libc::EOVERFLOW)
        );
        assert_eq!(
            errno(fs::create_dir(dst.join("dir"))),
            Some(libc::EOVERFLOW)
        );
        assert_eq!(errno(symlink("x", dst.join("link"))), Some(libc::EOVERFLOW));
        assert_eq!(
            errno(fs::hard_link(dst.join("existing"), dst.join("hard"))),
            Some(libc::EOVERFLOW)
        );
        let fifo = rustix::fs::mknodat(
            rustix::fs::CWD,
            dst.join("fifo").as_path(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        );
        assert_eq!(fifo.map_err(|e| e.raw_os_error()), Err(libc::EOVERFLOW));

        // The same for an unprivileged caller outside the map (runc's
        // "write to an idmap mount [no userns]" checks this message).
        let (ok, err) = sh_as(5000, 5000, &format!("touch {}/by-5000", dst.display()));
        assert!(!ok);
        assert!(err.contains(EOVERFLOW_TEXT), "{err}");

        let names: Vec<_> = fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["existing"], "nothing was created on disk");
    });
}

// --- tcore_hardlink_crossing_idmapped_mounts, tcore_rename_crossing_idmapped_mounts

#[test]
fn hard_links_and_renames_across_two_idmapped_mounts_are_exdev() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, a, b) = (mkdir(dir, "src"), mkdir(dir, "a"), mkdir(dir, "b"));
        fs::write(src.join("file"), b"").unwrap();
        // The same map twice: still two mounts, so still EXDEV.
        bind(&src, &a, "0:10000:10000", "0:10000:10000");
        bind(&src, &b, "0:10000:10000", "0:10000:10000");

        let exdev = Some(libc::EXDEV);
        assert_eq!(errno(fs::hard_link(a.join("file"), b.join("link"))), exdev);
        assert_eq!(errno(fs::rename(a.join("file"), b.join("moved"))), exdev);
        // Between the id-mapped mount and the plain source, both ways.
        assert_eq!(
            errno(fs::hard_link(src.join("file"), a.join("link"))),
            exdev
        );
        assert_eq!(
            errno(fs::hard_link(a.join("file"), src.join("link"))),
            exdev
        );
        assert_eq!(errno(fs::rename(src.join("file"), a.join("moved"))), exdev);
        assert!(src.join("file").exists());
        assert!(!src.join("link").exists() && !src.join("moved").exists());
    });
}

// --- tcore_hardlink_from_idmapped_mount, tcore_rename_from_idmapped_mount --

#[test]
fn hard_links_and_renames_inside_one_idmapped_mount_work_for_a_mapped_caller() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        fs::write(src.join("file"), b"data").unwrap();
        bind(&src, &dst, "0:10000:10000", "0:10000:10000");

        // On-disk root shows as 10000, so 10000 owns the directory here.
        let script = format!(
            "cd {} && ln file hardlink && mv hardlink renamed && mkdir d && mv d d2",
            dst.display()
        );
        let (ok, err) = sh_as(10000, 10000, &script);
        assert!(ok, "{err}");
        let file = fs::metadata(src.join("file")).unwrap();
        let renamed = fs::metadata(src.join("renamed")).unwrap();
        assert_eq!(file.ino(), renamed.ino(), "the link is on disk");
        assert_eq!(renamed.nlink(), 2);
        assert_eq!(owner(&src.join("d2")), (0, 0), "stored as on-disk root");
        assert_eq!(owner(&dst.join("d2")), (10000, 10000));
    });
}

// --- tcore_expected_uid_gid_idmapped_mounts: chown through the mount ------

#[test]
fn chown_through_an_idmapped_mount_stores_the_on_disk_ids() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        fs::write(src.join("file"), b"").unwrap();
        bind(&src, &dst, "0:10000:10000", "0:20000:10000");

        // Ids given through the mount are the seen ones; the disk gets the
        // ids they map back to.
        chown(&dst.join("file"), 10005, 20007);
        assert_eq!(owner(&src.join("file")), (5, 7));
        assert_eq!(owner(&dst.join("file")), (10005, 20007));

        // An id the mount cannot map back to disk: EOVERFLOW, nothing changes.
        for (uid, gid) in [(5, 20007), (10005, 7), (65534, 65534)] {
            let r = std::os::unix::fs::lchown(dst.join("file"), Some(uid), Some(gid));
            assert_eq!(errno(r), Some(libc::EOVERFLOW), "{uid}:{gid}");
        }
        assert_eq!(owner(&src.join("file")), (5, 7));

        // A chown on the source shows through the mount at once.
        chown(&src.join("file"), 9999, 0);
        assert_eq!(owner(&dst.join("file")), (19999, 20000));

        // A mapped unprivileged owner may give the file to a group it is in
        // (seen ids), as it could without the mount.
        chown(&src.join("file"), 1, 1);
        let script = format!("chgrp 20001 {}/file", dst.display());
        let (ok, err) = sh_as(10001, 20001, &script);
        assert!(ok, "{err}");
        assert_eq!(owner(&src.join("file")), (1, 1));
        // ...but not to another user: EPERM, as on any mount.
        let (ok, err) = sh_as(10001, 20001, &format!("chown 10002 {}/file", dst.display()));
        assert!(!ok && err.contains("Operation not permitted"), "{err}");
    });
}

// --- tcore_symlink_idmapped_mounts -----------------------------------------

#[test]
fn symlinks_made_through_the_mount_belong_to_the_on_disk_ids() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        fs::write(src.join("target"), b"t").unwrap();
        world_writable(&src);
        bind(&src, &dst, "0:10000:10000", "0:10000:10000");
        let (ok, err) = sh_as(
            10003,
            10004,
            &format!("ln -s target {0}/link && mkdir {0}/sub", dst.display()),
        );
        assert!(ok, "{err}");
        assert_eq!(owner(&src.join("link")), (3, 4));
        assert_eq!(owner(&dst.join("link")), (10003, 10004));
        assert_eq!(fs::read(dst.join("link")).unwrap(), b"t");
        assert_eq!(
            fs::read_link(src.join("link")).unwrap(),
            Path::new("target"),
            "the link text is not translated"
        );
        // The directory made by 10003 is writable by it only: the mode bits
        // are checked against the seen owner.
        let (ok, err) = sh_as(10005, 10005, &format!("touch {}/sub/x", dst.display()));
        assert!(!ok && err.contains("Permission denied"), "{err}");
        let e = fs::metadata(src.join("sub/x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
}
