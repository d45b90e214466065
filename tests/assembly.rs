//! Assembly and atomic replace (issue 12): re-mapping a detached image by
//! cloning it ([`DetachedMount::try_clone`], [`Mount::try_clone`]),
//! attaching inside an untrusted root ([`DetachedMount::attach_in`], the runc
//! CVE-2024-21626 class of mount-target escapes), assembling a tree detached
//! and attaching it at once, and swapping a mount with
//! [`DetachedMount::replace`] while a reader never fails. Each new kernel
//! feature is also taken away with a seccomp filter on the test's thread,
//! which must give [`Error::KernelTooOld`], never a non-atomic substitute.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, fault, image_util};

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use common::{in_private_ns, mkdir, ns};
use mountfd::{
    is_mountpoint, mount_image, mounts, DetachedMount, Error, FsContext, IdMap, Mount, MountAttr,
    Propagation, UnmountFlags, UserNs,
};

fn tmpfs() -> DetachedMount {
    FsContext::new("tmpfs")
        .unwrap()
        .mount(&MountAttr::new())
        .unwrap()
}

fn uid(p: &Path) -> u32 {
    fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .uid()
}

/// An image (erofs when `mkfs.erofs` exists: no loop device; else squashfs)
/// holding the `image_util::populate` tree, with `hello.txt` owned by 1000.
fn image(dir: &Path, name: &str) -> Option<(PathBuf, &'static str)> {
    let src = dir.join(format!("{name}-src"));
    image_util::populate(&src);
    common::chown(&src.join("hello.txt"), 1000, 1000);
    if let Some(p) = image_util::erofs(dir, name) {
        return Some((p, "erofs"));
    }
    image_util::squashfs(dir, name).map(|p| (p, "squashfs"))
}

/// The mount points in this thread's namespace.
fn mount_points() -> Vec<PathBuf> {
    mounts()
        .unwrap()
        .into_iter()
        .map(|m| m.mount_point)
        .collect()
}

// --- clone re-map without staging -------------------------------------------

#[test]
fn an_image_mounted_detached_is_id_mapped_then_re_mapped_by_cloning_with_no_staging_mount() {
    in_private_ns(|dir| {
        let Some((img, fstype)) = image(dir, "remap") else {
            eprintln!("skipped: neither mkfs.erofs nor mksquashfs");
            return;
        };
        let base: IdMap = "0:100000:65536".parse().unwrap();
        // The service's own map, over the ids the base map shows.
        let service: IdMap = "100000:300000:65536".parse().unwrap();
        let composed = base.compose(&service).unwrap();
        assert_eq!(composed.to_string(), "0:300000:65536");
        let table_before = mount_points();

        let plain = mount_image(&img, fstype, &MountAttr::new().readonly()).unwrap();
        let mapped = plain
            .try_clone(false, &MountAttr::new().idmap(&ns("0:100000:65536")))
            .unwrap();
        let remapped = mapped
            .try_clone(
                false,
                &MountAttr::new().idmap(&UserNs::from_idmap(&composed).unwrap()),
            )
            .unwrap();
        // Nothing was mounted anywhere to get there.
        assert_eq!(mount_points(), table_before, "no staging mount");
        // The first clone keeps its map: mount_setattr cannot change it.
        let err = mapped
            .set_attr(&MountAttr::new().idmap(&ns("0:5000:65536")), false)
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");

        let [a, b, c, d] = ["plain", "mapped", "remapped", "from-mount"].map(|n| mkdir(dir, n));
        plain.attach(&a).unwrap();
        let mapped = mapped.attach(&b).unwrap();
        remapped.attach(&c).unwrap();
        // The same from an attached mount.
        mapped
            .try_clone(
                false,
                &MountAttr::new().idmap(&UserNs::from_idmap(&composed).unwrap()),
            )
            .unwrap()
            .attach(&d)
            .unwrap();

        assert_eq!((uid(&a), uid(&a.join("hello.txt"))), (0, 1000));
        assert_eq!((uid(&b), uid(&b.join("hello.txt"))), (100000, 101000));
        assert_eq!((uid(&c), uid(&c.join("hello.txt"))), (300000, 301000));
        assert_eq!((uid(&d), uid(&d.join("hello.txt"))), (300000, 301000));
        // The original still shows its own map after being cloned twice.
        assert_eq!(uid(&b.join("sub/nested.txt")), 100000);
    });
}

// --- attach_in: a hostile rootfs ------------------------------------------------

/// A container rootfs beside a host directory `host/target` it must never
/// reach, with in-root decoys at the places the links would lead to if
/// resolved inside the root.
struct Hostile {
    rootfs: PathBuf,
    host_target: PathBuf,
}

fn hostile(dir: &Path) -> Hostile {
    let host_target = dir.join("host/target");
    fs::create_dir_all(&host_target).unwrap();
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(rootfs.join("host/target")).unwrap();
    // The absolute host path, re-created inside the root.
    fs::create_dir_all(rootfs.join(host_target.strip_prefix("/").unwrap())).unwrap();
    fs::create_dir_all(rootfs.join("run")).unwrap();
    fs::create_dir_all(rootfs.join("var")).unwrap();
    symlink("/run", rootfs.join("var/run")).unwrap();
    symlink("/", rootfs.join("slash")).unwrap();
    symlink("../../../../../../..", rootfs.join("up")).unwrap();
    symlink(&host_target, rootfs.join("abs")).unwrap();
    symlink("../../host/target", rootfs.join("climb")).unwrap();
    symlink("/proc/self/root", rootfs.join("selfroot")).unwrap();
    symlink(
        format!("/proc/self/root{}", host_target.display()),
        rootfs.join("selfroot-target"),
    )
    .unwrap();
    // A real procfs inside the root, so that the /proc links are magic links.
    fs::create_dir_all(rootfs.join("proc")).unwrap();
    FsContext::new("proc")
        .unwrap()
        .mount(&MountAttr::new())
        .unwrap()
        .attach(rootfs.join("proc"))
        .unwrap();
    Hostile {
        rootfs,
        host_target,
    }
}

/// Asserts that every mount point not in `before` is inside `rootfs`.
fn assert_all_inside(before: &[PathBuf], rootfs: &Path, what: &str) {
    for mp in mount_points() {
        if !before.contains(&mp) {
            assert!(
                mp.starts_with(rootfs),
                "{what}: a mount landed outside the root, on {}",
                mp.display()
            );
        }
    }
}

#[test]
fn attach_in_resolves_every_hostile_link_inside_the_root() {
    in_private_ns(|dir| {
        let h = hostile(dir);
        let root = fs::File::open(&h.rootfs).unwrap();
        let before = mount_points();
        // (path, where the mount must land, relative to the rootfs)
        let cases: &[(&str, Option<&str>)] = &[
            ("var/run", Some("run")),
            ("/var/run/", Some("run")),
            (
                "abs",
                Some(h.host_target.strip_prefix("/").unwrap().to_str().unwrap()),
            ),
            ("climb", Some("host/target")),
            ("up/host/target", Some("host/target")),
            ("slash/host/target", Some("host/target")),
            ("../../../host/target", Some("host/target")),
            // Magic links are refused outright.
            ("selfroot", None),
            ("selfroot-target", None),
            ("proc/self/root/host/target", None),
            ("proc/self/cwd", None),
        ];
        for &(path, lands) in cases {
            let r = tmpfs().attach_in(&root, path);
            match lands {
                Some(rel) => {
                    let m = r.unwrap_or_else(|e| panic!("{path}: {e}"));
                    let at = h.rootfs.join(rel);
                    assert_eq!(m.info().unwrap().mount_point, at, "{path}");
                    assert!(!is_mountpoint(&h.host_target).unwrap(), "{path}");
                    m.unmount(UnmountFlags::DETACH).unwrap();
                }
                None => {
                    let e = r.expect_err(path);
                    assert_eq!(e.errno(), Some(libc::ELOOP), "{path}: {e}");
                }
            }
            assert_all_inside(&before, &h.rootfs, path);
        }
        assert_eq!(mount_points(), before, "every mount was taken off");
    });
}

#[test]
fn attach_in_refuses_a_final_symlink_for_a_file_mount_and_a_kind_mismatch() {
    in_private_ns(|dir| {
        let rootfs = mkdir(dir, "rootfs");
        fs::write(rootfs.join("file"), b"in root").unwrap();
        symlink("/file", rootfs.join("link")).unwrap();
        fs::write(dir.join("src"), b"the mount").unwrap();
        let root = fs::File::open(&rootfs).unwrap();
        let before = mount_points();

        let file = DetachedMount::clone_tree(dir.join("src"), false).unwrap();
        let e = file.attach_in(&root, "link").unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        let e = DetachedMount::clone_tree(dir.join("src"), false)
            .unwrap()
            .attach_in(&root, "/")
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        let e = tmpfs().attach_in(&root, "file").unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        assert_eq!(mount_points(), before);
        assert_eq!(fs::read(rootfs.join("file")).unwrap(), b"in root");

        // Through a symlinked parent a file mount is fine: only the final
        // component matters.
        symlink("/", rootfs.join("dirlink")).unwrap();
        let m = DetachedMount::clone_tree(dir.join("src"), false)
            .unwrap()
            .attach_in(&root, "dirlink/file")
            .unwrap();
        assert_eq!(fs::read(rootfs.join("file")).unwrap(), b"the mount");
        m.unmount(UnmountFlags::empty()).unwrap();
    });
}

#[test]
fn attach_in_never_leaves_the_root_while_a_link_is_swapped_1000_times() {
    in_private_ns(|dir| {
        let h = hostile(dir);
        let root = fs::File::open(&h.rootfs).unwrap();
        let before = mount_points();
        let src = mkdir(dir, "src");
        // Links ready to be renamed over `swap`: each one is an escape if
        // resolved outside the root.
        let targets: [PathBuf; 4] = [
            h.host_target.parent().unwrap().to_owned(),
            PathBuf::from("../../../../../host"),
            PathBuf::from("/host"),
            PathBuf::from("/proc/self/root/host"),
        ];
        symlink(&targets[1], h.rootfs.join("swap")).unwrap();
        let stop = AtomicBool::new(false);
        let (mut landed, mut failed) = (0, 0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let tmp = h.rootfs.join(format!(".swap{}", i % 2));
                    let _ = fs::remove_file(&tmp);
                    symlink(&targets[i % targets.len()], &tmp).unwrap();
                    fs::rename(&tmp, h.rootfs.join("swap")).unwrap();
                    i += 1;
                }
            });
            for _ in 0..1000 {
                let clone = DetachedMount::clone_tree(&src, false).unwrap();
                match clone.attach_in(&root, "swap/target") {
                    Ok(m) => {
                        let at = m.info().unwrap().mount_point;
                        assert!(at.starts_with(&h.rootfs), "{}", at.display());
                        landed += 1;
                        m.unmount(UnmountFlags::DETACH).unwrap();
                    }
                    // The magic link, or ENOENT for `.../host` re-created
                    // inside the root at another place.
                    Err(e) => {
                        assert!(
                            matches!(e.errno(), Some(libc::ELOOP | libc::ENOENT | libc::EAGAIN)),
                            "{e}"
                        );
                        failed += 1;
                    }
                }
                assert!(!is_mountpoint(&h.host_target).unwrap());
            }
            stop.store(true, Ordering::Relaxed);
        });
        eprintln!(
            "1000 attach_in under a swapped link: {landed} inside the root, {failed} refused"
        );
        assert!(landed > 0, "the race never let a lookup through");
        assert_all_inside(&before, &h.rootfs, "swap");
        assert_eq!(mount_points(), before);
    });
}

#[test]
fn attach_in_creating_makes_the_target_inside_the_root_only() {
    in_private_ns(|dir| {
        let rootfs = mkdir(dir, "rootfs");
        mkdir(dir, "outside");
        // An absolute link to the host's directory, resolved in the root.
        symlink(dir.join("outside"), rootfs.join("out")).unwrap();
        fs::create_dir_all(rootfs.join(dir.join("outside").strip_prefix("/").unwrap())).unwrap();
        symlink("../../..", rootfs.join("up")).unwrap();
        let root = fs::File::open(&rootfs).unwrap();

        let m = tmpfs().attach_in_creating(&root, "out/newdir").unwrap();
        let inside = rootfs
            .join(dir.join("outside").strip_prefix("/").unwrap())
            .join("newdir");
        assert_eq!(m.info().unwrap().mount_point, inside);
        assert!(
            !dir.join("outside/newdir").exists(),
            "created outside the root"
        );

        fs::write(dir.join("f"), b"file mount").unwrap();
        let f = DetachedMount::clone_tree(dir.join("f"), false).unwrap();
        f.attach_in_creating(&root, "up/etc-file").unwrap();
        assert_eq!(fs::read(rootfs.join("etc-file")).unwrap(), b"file mount");
        // Where `up` would lead from the host's side.
        let escaped = rootfs.join("../../..").join("etc-file");
        assert!(!escaped.exists(), "created outside the root");
        // An existing directory is used as it is.
        tmpfs().attach_in_creating(&root, "/newdir2").unwrap();
        assert!(is_mountpoint(rootfs.join("newdir2")).unwrap());
        tmpfs().attach_in_creating(&root, "/newdir2").unwrap();
    });
}

// --- assembly ---------------------------------------------------------------------

/// Counts the mounts at or below `target` in this thread's mount table.
fn count_under(target: &Path) -> usize {
    mount_points()
        .iter()
        .filter(|p| p.starts_with(target))
        .count()
}

/// Runs `cycle` `n` times while a watcher thread polls the mount table
/// with one `listmount` a poll (an atomic read of the namespace's mounts);
/// returns the distinct numbers of mounts over the count before, seen.
fn watched(n: usize, mut cycle: impl FnMut()) -> Vec<usize> {
    let base = common::raw::mount_count().expect("listmount (Linux 6.8+)");
    let seen = Mutex::new(std::collections::BTreeSet::new());
    let stop = AtomicBool::new(false);
    let polls = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let c = common::raw::mount_count().unwrap() - base;
                seen.lock().unwrap().insert(c);
                polls.fetch_add(1, Ordering::Relaxed);
            }
        });
        for _ in 0..n {
            cycle();
        }
        stop.store(true, Ordering::Relaxed);
    });
    eprintln!("watcher: {} polls", polls.load(Ordering::Relaxed));
    seen.into_inner().unwrap().into_iter().collect()
}

#[test]
fn a_three_level_tree_assembled_detached_appears_whole_with_one_attach() {
    in_private_ns(|dir| {
        let Some((img, fstype)) = image(dir, "asm") else {
            eprintln!("skipped: neither mkfs.erofs nor mksquashfs");
            return;
        };
        let vol = mkdir(dir, "volume");
        fs::create_dir(vol.join("cache")).unwrap();
        let target = mkdir(dir, "target");
        let map = ns("0:100000:65536");
        let image_root = mount_image(&img, fstype, &MountAttr::new().readonly()).unwrap();

        let assemble = || {
            let root = image_root
                .try_clone(false, &MountAttr::new().idmap(&map))
                .unwrap();
            DetachedMount::clone_tree_idmapped(&vol, false, &map)
                .unwrap()
                .attach_in(&root, "/sub")
                .unwrap();
            tmpfs().attach_in(&root, "/sub/cache").unwrap();
            root
        };
        // Checked once: the assembled tree as a user sees it.
        let m = assemble().attach(&target).unwrap();
        assert_eq!(uid(&target.join("hello.txt")), 101000);
        assert_eq!(uid(&target.join("sub")), 100000, "the id-mapped volume");
        assert!(is_mountpoint(target.join("sub/cache")).unwrap());
        assert_eq!(count_under(&target), 3);
        // A lazy unmount of the top takes the whole tree at once.
        mountfd::unmount(&target, UnmountFlags::DETACH).unwrap();
        drop(m);

        let seen = watched(200, || {
            let root = assemble();
            root.attach(&target).unwrap();
            // Long enough for the watcher to see the tree.
            std::thread::sleep(std::time::Duration::from_micros(500));
            // A lazy unmount of the top takes the whole tree at once.
            mountfd::unmount(&target, UnmountFlags::DETACH).unwrap();
        });
        assert!(
            seen.iter().all(|&c| c == 0 || c == 3),
            "the watcher saw a partial tree: counts {seen:?}"
        );
        assert!(
            seen.contains(&3),
            "the watcher never saw the tree: {seen:?}"
        );

        // Control: the same pieces attached one by one on the live system
        // are seen half-done, so the watcher can tell.
        let seen = watched(20, || {
            let root = image_root
                .try_clone(false, &MountAttr::new().idmap(&map))
                .unwrap();
            root.attach(&target).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
            DetachedMount::clone_tree_idmapped(&vol, false, &map)
                .unwrap()
                .attach(target.join("sub"))
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
            tmpfs().attach(target.join("sub/cache")).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(500));
            // A lazy unmount of the top takes the whole tree at once.
            mountfd::unmount(&target, UnmountFlags::DETACH).unwrap();
        });
        assert!(
            seen.contains(&1) || seen.contains(&2),
            "control: piecewise attaching was never seen half-done: {seen:?}"
        );
    });
}

#[test]
fn a_tree_assembled_detached_and_dropped_leaves_nothing() {
    in_private_ns(|_| {
        let before = mount_points();
        let root = tmpfs();
        tmpfs().attach_in_creating(&root, "a").unwrap();
        tmpfs().attach_in_creating(&root, "a/b").unwrap();
        assert_eq!(mount_points(), before);
        drop(root);
        assert_eq!(mount_points(), before);
    });
}

#[test]
fn without_assembly_support_attach_in_a_detached_tree_is_kernel_too_old() {
    in_private_ns(|dir| {
        let rootfs = mkdir(dir, "rootfs");
        mkdir(&rootfs, "a");
        let root = tmpfs();
        let piece = tmpfs();
        let attached_root = fs::File::open(&rootfs).unwrap();
        let other = tmpfs();
        // A kernel before 6.15 refuses a target inside a detached tree with
        // EINVAL; so does this filter, for every move_mount.
        // SAFETY: on the test's own thread; only mountfd calls move_mount.
        unsafe { fault::fail_syscall(libc::SYS_move_mount, libc::EINVAL) }.unwrap();
        let e = piece.attach_in_creating(&root, "a").unwrap_err();
        assert!(
            matches!(
                e,
                Error::KernelTooOld {
                    version: "6.15",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.errno(), Some(libc::EINVAL));
        // An EINVAL on a live root is the kernel's own, not a version.
        let e = other.attach_in(&attached_root, "a").unwrap_err();
        assert!(matches!(e, Error::Os { .. }), "{e}");
    });
}

// --- replace -------------------------------------------------------------------------

fn versioned(v: &str) -> DetachedMount {
    let m = tmpfs();
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(format!(
            "/proc/self/fd/{}/version",
            std::os::fd::AsRawFd::as_raw_fd(&m)
        ))
        .unwrap();
    std::io::Write::write_all(&mut &f, v.as_bytes()).unwrap();
    m
}

/// Runs `swap` `n` times, 100 µs apart, while a reader opens and reads
/// `target/version` in a loop; returns (reads, failures, versions seen).
fn read_while(target: &Path, n: usize, mut swap: impl FnMut(usize)) -> (usize, usize, Vec<String>) {
    let stop = AtomicBool::new(false);
    let file = target.join("version");
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut reads, mut failures) = (0, 0);
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(Ordering::Relaxed) {
                match fs::read_to_string(&file) {
                    Ok(v) => {
                        seen.insert(v);
                    }
                    Err(_) => failures += 1,
                }
                reads += 1;
            }
            (reads, failures, seen.into_iter().collect())
        });
        for i in 0..n {
            swap(i);
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    })
}

#[test]
fn replace_1000_times_while_a_reader_never_fails() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "target");
        versioned("1").attach(&target).unwrap();
        let before = mount_points();
        let mut next = Some(versioned("2"));
        let mut spent = std::time::Duration::ZERO;
        let (reads, failures, seen) = read_while(&target, 1000, |_| {
            let t0 = std::time::Instant::now();
            next = Some(next.take().unwrap().replace(&target).unwrap());
            spent += t0.elapsed();
        });
        let per = spent / 1000;
        eprintln!("replace: 1000 cycles, {per:?} a cycle; reader: {reads} reads, {failures} failures, saw {seen:?}");
        assert_eq!(failures, 0, "a reader saw neither tree");
        assert_eq!(seen, ["1", "2"]);
        // Exactly one mount at the target: each old top went.
        assert_eq!(mount_points(), before);
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "1");
    });
}

#[test]
fn control_unmount_then_mount_is_seen_by_the_reader() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "target");
        versioned("1").attach(&target).unwrap();
        let (reads, failures, _) = read_while(&target, 1000, |i| {
            mountfd::unmount(&target, UnmountFlags::DETACH).unwrap();
            versioned(if i % 2 == 0 { "2" } else { "1" })
                .attach(&target)
                .unwrap();
        });
        eprintln!("unmount + mount: 1000 cycles; reader: {reads} reads, {failures} failures");
        assert!(failures > 0, "control: the naive swap never showed a gap");
    });
}

#[test]
fn replace_returns_the_old_tree_with_its_submounts_for_a_rollback() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "target");
        let old = versioned("1").attach(&target).unwrap();
        fs::create_dir(target.join("sub")).unwrap();
        versioned("inner").attach(target.join("sub")).unwrap();
        drop(old);
        let back = versioned("2").replace(&target).unwrap();
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "2");
        assert!(!target.join("sub").exists());
        back.replace(&target).unwrap();
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "1");
        assert_eq!(
            fs::read_to_string(target.join("sub/version")).unwrap(),
            "inner"
        );
        assert_eq!(count_under(&target), 2);
    });
}

#[test]
fn replace_discarding_old_1000_times_while_a_reader_never_fails() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "target");
        versioned("1").attach(&target).unwrap();
        let before = mount_points();
        let mut last = None;
        let (reads, failures, seen) = read_while(&target, 1000, |i| {
            let v = if i % 2 == 0 { "2" } else { "1" };
            last = Some(versioned(v).replace_discarding_old(&target).unwrap());
        });
        eprintln!("replace_discarding_old: 1000 cycles; reader: {reads} reads, {failures} failures, saw {seen:?}");
        assert_eq!(failures, 0, "a reader saw neither tree");
        assert_eq!(seen, ["1", "2"]);
        assert_eq!(mount_points(), before, "each old top went");
        // The handle is the mount now on the target.
        let now = Mount::open(&target).unwrap().info().unwrap();
        assert_eq!(last.unwrap().info().unwrap().id, now.id);
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "1");
    });
}

#[test]
fn replace_swaps_only_the_topmost_of_stacked_mounts() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "target");
        versioned("bottom").attach(&target).unwrap();
        versioned("top").attach(&target).unwrap();
        let old = versioned("new").replace(&target).unwrap();
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "new");
        // The bottom mount is still there, under the new one.
        let at = mounts()
            .unwrap()
            .into_iter()
            .filter(|m| m.mount_point == target)
            .count();
        assert_eq!(at, 2, "the bottom and the new mount");
        drop(old.replace_discarding_old(&target).unwrap());
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "top");
        mountfd::unmount(&target, UnmountFlags::DETACH).unwrap();
        assert_eq!(
            fs::read_to_string(target.join("version")).unwrap(),
            "bottom"
        );
    });
}

#[test]
fn replace_on_a_plain_directory_is_not_mounted() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "plain");
        let e = versioned("2").replace(&target).unwrap_err();
        assert!(matches!(e, Error::NotMounted { .. }), "{e}");
        assert!(!is_mountpoint(&target).unwrap());
    });
}

#[test]
fn replace_of_an_unbindable_tree_changes_nothing() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "target");
        let m = versioned("1").attach(&target).unwrap();
        m.set_attr(
            &MountAttr::new().propagation(Propagation::Unbindable),
            false,
        )
        .unwrap();
        let before = mount_points();
        let e = versioned("2").replace(&target).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
        assert_eq!(mount_points(), before);
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "1");
    });
}

#[test]
fn without_move_mount_beneath_replace_is_kernel_too_old_and_changes_nothing() {
    in_private_ns(|dir| {
        let target = mkdir(dir, "target");
        versioned("1").attach(&target).unwrap();
        let new = versioned("2");
        let before = mount_points();
        // Before 6.5 move_mount refuses the unknown flag with EINVAL.
        // SAFETY: on the test's own thread; only mountfd calls move_mount.
        unsafe {
            fault::fail_syscall_if(
                libc::SYS_move_mount,
                &[fault::Arg::HasAnyBit {
                    index: 4,
                    mask: linux_raw_sys::general::MOVE_MOUNT_BENEATH,
                }],
                libc::EINVAL,
            )
        }
        .unwrap();
        let e = new.replace(&target).unwrap_err();
        assert!(
            matches!(e, Error::KernelTooOld { version: "6.5", .. }),
            "{e}"
        );
        assert_eq!(mount_points(), before);
        assert_eq!(fs::read_to_string(target.join("version")).unwrap(), "1");
        // move_mount without the flag still works on this thread.
        let other = mkdir(dir, "other");
        versioned("3").attach(&other).unwrap();
        assert!(is_mountpoint(&other).unwrap());
    });
}

// --- overlay on id-mapped layers -----------------------------------------------------

#[test]
fn a_merged_overlay_cannot_be_id_mapped_but_its_layers_can() {
    in_private_ns(|dir| {
        let [lower, upper, work, target] =
            ["lower", "upper", "work", "target"].map(|n| mkdir(dir, n));
        fs::write(lower.join("f"), b"x").unwrap();
        let map = ns("0:100000:65536");
        let merged = mountfd::Overlay::new()
            .lower(&lower)
            .upper(&upper, &work)
            .mount(&MountAttr::new())
            .unwrap();
        let e = merged
            .try_clone(false, &MountAttr::new().idmap(&map))
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
        let e = merged
            .set_attr(&MountAttr::new().idmap(&map), false)
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
        let e = mountfd::Overlay::new()
            .lower(&lower)
            .upper(&upper, &work)
            .mount(&MountAttr::new().idmap(&map))
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");

        // The layers id-mapped first, detached, passed by fd.
        let layer = DetachedMount::clone_tree_idmapped(&lower, false, &map).unwrap();
        let up = mkdir(dir, "upper2");
        let wk = mkdir(dir, "work2");
        mountfd::Overlay::new()
            .lower_fd(&layer)
            .upper(&up, &wk)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_eq!(uid(&target.join("f")), 100000);
    });
}

// --- the example ---------------------------------------------------------------------

/// `examples/service_tree.rs`, built by `cargo test` beside this test's own
/// binary (`target/<profile>/examples/`), run whole: it must succeed and
/// show what it promises.
#[test]
fn the_service_tree_example_runs_whole() {
    if !common::privileged() || !image_util::have("mksquashfs") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("examples/service_tree"))
        .unwrap();
    if !example.is_file() {
        common::skip("the service_tree example was not built (cargo test builds it)");
        return;
    }
    let out = std::process::Command::new(&example).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shown in [
        "composed into 0:200000:65536",
        "target/etc/version               owner 100000:100000",
        "target/data/db                   owner 200000:200000",
        "a write to /app lands in the upper layer: true",
        "updated to version 2 by replace",
        "now at version 2",
    ] {
        assert!(text.contains(shown), "{shown:?} not in:\n{text}");
    }
    let reader = text
        .lines()
        .find(|l| l.starts_with("101 replaces"))
        .unwrap_or_else(|| panic!("no replace line in:\n{text}"));
    assert!(reader.ends_with(" 0 failures"), "{reader}");
}
