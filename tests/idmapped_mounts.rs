//! Id-mapped detached mounts against the real kernel, each in a private
//! mount namespace (see `common`).
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::fs;
use std::path::Path;

use common::{chown, in_private_ns, mkdir, ns, owner, run_as};
use mountfd::{DetachedMount, FsContext, MountAttr, UserNs};

/// A tree with a root-owned file and a file owned by on-disk id 65536.
fn populate(src: &Path) {
    fs::write(src.join("root-file"), b"r").unwrap();
    fs::write(src.join("high-file"), b"h").unwrap();
    chown(&src.join("high-file"), 65536, 65536);
}

fn bind_idmapped(src: &Path, dst: &Path, map: &str) {
    DetachedMount::clone_tree_idmapped(src, false, &ns(map))
        .unwrap()
        .attach(dst)
        .unwrap();
}

#[test]
fn root_file_shows_as_mapped_owner_and_unmapped_ids_as_overflow() {
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        populate(&src);
        bind_idmapped(&src, &dst, "0:100000:65536");
        assert_eq!(
            owner(&src.join("root-file")),
            (0, 0),
            "the source is untouched"
        );
        assert_eq!(owner(&dst.join("root-file")), (100000, 100000));
        assert_eq!(owner(&dst), (100000, 100000));
        // On-disk 65536 is outside the map: the overflow id.
        assert_eq!(owner(&dst.join("high-file")), (65534, 65534));
    });
}

#[test]
fn single_id_map_maps_only_that_id() {
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        populate(&src);
        bind_idmapped(&src, &dst, "0:1000:1");
        assert_eq!(owner(&dst.join("root-file")), (1000, 1000));
        assert_eq!(owner(&dst.join("high-file")), (65534, 65534));
    });
}

#[test]
fn three_extent_map_maps_each_extent() {
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        for (name, id) in [
            ("a", 0),
            ("b", 5),
            ("c", 1000),
            ("d", 1009),
            ("e", 70000),
            ("f", 70001),
        ] {
            fs::write(src.join(name), b"").unwrap();
            chown(&src.join(name), id, id);
        }
        bind_idmapped(&src, &dst, "0:100000:10,1000:200000:10,70000:300000:1");
        for (name, seen) in [
            ("a", 100000),
            ("b", 100005),
            ("c", 200000),
            ("d", 200009),
            ("e", 300000),
            ("f", 65534),
        ] {
            assert_eq!(owner(&dst.join(name)), (seen, seen), "{name}");
        }
    });
}

#[test]
fn file_created_through_mount_by_mapped_user_is_stored_as_disk_id() {
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        bind_idmapped(&src, &dst, "0:100000:65536");
        let out = run_as(
            100000,
            100000,
            &format!("echo hi > {0}/new && mkdir {0}/newdir", dst.display()),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(owner(&src.join("new")), (0, 0), "stored as on-disk 0");
        assert_eq!(owner(&src.join("newdir")), (0, 0));
        assert_eq!(owner(&dst.join("new")), (100000, 100000), "seen as 100000");
        // A user the map does not cover cannot create files there at all.
        let out = run_as(5000, 5000, &format!("touch {}/nope", dst.display()));
        assert!(!out.status.success());
        assert!(!src.join("nope").exists());
    });
}

#[test]
fn remapping_an_idmapped_mount_is_atomic_and_the_two_step_path_gets_eperm() {
    in_private_ns(|dir| {
        let (src, first, second) = (mkdir(dir, "src"), mkdir(dir, "first"), mkdir(dir, "second"));
        populate(&src);
        bind_idmapped(&src, &first, "0:100000:65536");
        assert_eq!(owner(&first.join("root-file")), (100000, 100000));

        // open_tree_attr(OPEN_TREE_CLONE) replaces the map in one call.
        let remap = ns("0:2000:65536");
        DetachedMount::clone_tree_idmapped(&first, false, &remap)
            .unwrap()
            .attach(&second)
            .unwrap();
        assert_eq!(owner(&second.join("root-file")), (2000, 2000));
        assert_eq!(
            owner(&first.join("root-file")),
            (100000, 100000),
            "the first mount keeps its map"
        );

        // The two-step path cannot: mount_setattr refuses an id-mapped mount.
        let clone = DetachedMount::clone_tree(&first, false).unwrap();
        let err = clone
            .set_attr(&MountAttr::new().idmap(&remap), false)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");
    });
}

#[test]
fn readonly_clone_refuses_writes_on_submounts_when_recursive() {
    in_private_ns(|dir| {
        let (src, rec, flat) = (mkdir(dir, "src"), mkdir(dir, "rec"), mkdir(dir, "flat"));
        common::tmpfs_at(&src, "sub");

        let ro = MountAttr::new().readonly();
        DetachedMount::clone_tree_with(&src, true, &ro)
            .unwrap()
            .attach(&rec)
            .unwrap();
        for p in [rec.join("top"), rec.join("sub/inner")] {
            let err = fs::write(&p, b"x").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{}", p.display());
        }
        // The source itself stays writable.
        fs::write(src.join("sub/inner"), b"x").unwrap();

        // Recursive clone, read-only applied to the top mount only.
        let tree = DetachedMount::clone_tree(&src, true).unwrap();
        tree.set_readonly(false).unwrap();
        tree.attach(&flat).unwrap();
        assert_eq!(
            fs::write(flat.join("top"), b"x")
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EROFS)
        );
        fs::write(flat.join("sub/other"), b"x").unwrap();
    });
}

#[test]
fn idmap_reaches_submounts_only_when_recursive() {
    in_private_ns(|dir| {
        let (src, rec, flat) = (mkdir(dir, "src"), mkdir(dir, "rec"), mkdir(dir, "flat"));
        let sub = common::tmpfs_at(&src, "sub");
        fs::write(sub.join("f"), b"").unwrap();
        let map = ns("0:100000:65536");

        let tree = DetachedMount::clone_tree(&src, true).unwrap();
        tree.set_attr(&MountAttr::new().idmap(&map), false).unwrap();
        tree.attach(&flat).unwrap();
        assert_eq!(owner(&flat), (100000, 100000));
        assert_eq!(
            owner(&flat.join("sub/f")),
            (0, 0),
            "a non-recursive map leaves the submount alone"
        );

        DetachedMount::clone_tree_idmapped(&src, true, &map)
            .unwrap()
            .attach(&rec)
            .unwrap();
        assert_eq!(owner(&rec), (100000, 100000));
        assert_eq!(
            owner(&rec.join("sub/f")),
            (100000, 100000),
            "a recursive map reaches the submount"
        );
    });
}

#[test]
fn file_source_binds_onto_file_target() {
    in_private_ns(|dir| {
        let (src, dst) = (dir.join("src-file"), dir.join("dst-file"));
        fs::write(&src, b"payload").unwrap();
        fs::write(&dst, b"").unwrap();
        DetachedMount::clone_tree_idmapped(&src, false, &ns("0:100000:65536"))
            .unwrap()
            .attach(&dst)
            .unwrap();
        assert_eq!(fs::read(&dst).unwrap(), b"payload");
        assert_eq!(owner(&dst), (100000, 100000));
    });
}

#[test]
fn symlink_target_is_refused_not_followed() {
    in_private_ns(|dir| {
        let (src, real, link) = (mkdir(dir, "src"), mkdir(dir, "real"), dir.join("link"));
        fs::write(src.join("marker"), b"").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let before = common::my_mounts();
        let err = DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach(&link)
            .unwrap_err();
        // Refused before move_mount (the kernel would refuse this directory
        // mount with EINVAL, but not a file mount: see hardening_paths).
        assert!(matches!(err, mountfd::Error::InvalidInput { .. }), "{err}");
        assert!(!real.join("marker").exists(), "the symlink was followed");
        assert_eq!(before, common::my_mounts(), "nothing was mounted");
    });
}

#[test]
fn attach_at_resolves_relative_to_a_directory_fd() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        mkdir(dir, "dst");
        fs::write(src.join("marker"), b"").unwrap();
        let parent = fs::File::open(dir).unwrap();
        use std::os::fd::AsFd;
        DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach_at(parent.as_fd(), "dst")
            .unwrap();
        assert!(dir.join("dst/marker").exists());
    });
}

#[test]
fn dropping_an_unattached_mount_leaves_nothing() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        let before = common::my_mounts();
        let map = ns("0:100000:65536");
        for _ in 0..50 {
            drop(DetachedMount::clone_tree_idmapped(&src, true, &map).unwrap());
        }
        assert_eq!(before, common::my_mounts());
    });
}

#[test]
fn errors_name_the_operation_path_and_errno() {
    in_private_ns(|dir| {
        let missing = dir.join("missing");
        let err =
            DetachedMount::clone_tree_idmapped(&missing, false, &ns("0:100000:65536")).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert_eq!(err.path(), Some(missing.as_path()));
        let text = err.to_string();
        assert!(
            text.contains("open_tree_attr") && text.contains("missing"),
            "{text}"
        );
    });
}

#[test]
fn without_open_tree_attr_the_fallback_maps_fresh_sources_and_refuses_remaps() {
    in_private_ns(|dir| {
        let (src, first, second) = (mkdir(dir, "src"), mkdir(dir, "first"), mkdir(dir, "second"));
        populate(&src);
        let map = ns("0:100000:65536");
        // From here on this thread sees a kernel without open_tree_attr.
        // SAFETY: this thread is the test's own (`in_private_ns`); only
        // mountfd makes this call, and takes ENOSYS as an older kernel.
        unsafe {
            mountfd_testing::fault::fail_syscall(mountfd::raw::SYS_OPEN_TREE_ATTR, libc::ENOSYS)
        }
        .unwrap();

        let attr = MountAttr::new().idmap(&map).readonly();
        DetachedMount::clone_tree_with(&src, false, &attr)
            .unwrap()
            .attach(&first)
            .unwrap();
        assert_eq!(owner(&first.join("root-file")), (100000, 100000));
        assert_eq!(
            fs::write(first.join("x"), b"").unwrap_err().raw_os_error(),
            Some(libc::EROFS)
        );

        let before = common::my_mounts();
        let err =
            DetachedMount::clone_tree_idmapped(&first, false, &ns("0:2000:65536")).unwrap_err();
        assert!(
            matches!(err, mountfd::Error::RemapUnsupported { .. }),
            "{err}"
        );
        assert_eq!(err.errno(), Some(libc::EPERM));
        assert_eq!(err.path(), Some(first.as_path()));
        assert!(err.to_string().contains("open_tree_attr"), "{err}");
        assert_eq!(
            before,
            common::my_mounts(),
            "the failed clone left no mount"
        );
        assert!(fs::read_dir(&second).unwrap().next().is_none());
    });
}

/// The `flags:` line of `/proc/self/fdinfo/N`, octal.
fn fd_flags(fd: &impl std::os::fd::AsRawFd) -> u32 {
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap()
        .trim();
    u32::from_str_radix(flags, 8).unwrap()
}

#[test]
fn every_handle_fd_is_close_on_exec() {
    in_private_ns(|dir| {
        let cloexec = libc::O_CLOEXEC as u32;
        let map = ns("0:100000:65536");
        assert_ne!(fd_flags(&map) & cloexec, 0, "UserNs");
        let plain = DetachedMount::clone_tree(dir, false).unwrap();
        assert_ne!(fd_flags(&plain) & cloexec, 0, "clone_tree");
        let mapped = DetachedMount::clone_tree_idmapped(dir, false, &map).unwrap();
        assert_ne!(fd_flags(&mapped) & cloexec, 0, "clone_tree_idmapped");
        let ctx = FsContext::new("tmpfs").unwrap();
        assert_ne!(
            fd_flags(&std::os::fd::AsFd::as_fd(&ctx)) & cloexec,
            0,
            "FsContext"
        );
        let new_fs = ctx.mount(&MountAttr::new()).unwrap();
        assert_ne!(fd_flags(&new_fs) & cloexec, 0, "fsmount");
        let opened = UserNs::open("/proc/self/ns/user").unwrap();
        assert_ne!(fd_flags(&opened) & cloexec, 0, "UserNs::open");
    });
}
