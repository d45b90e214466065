//! Issue 10, items 3 and 4: caller paths resolved once to an fd, their kind
//! checked on that fd, and that fd used. Each test reproduces a defect of
//! the path-based code: a file mount attached over a symlink, a FIFO that
//! blocks `UserNs::open` or an overlay layer for ever, a device node that is
//! really opened before it is refused.
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::ffi::OsStr;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::{in_private_ns, mkdir, my_mounts};
use mountfd::{DetachedMount, Error, MountAttr, Overlay, UserNs};
use rustix::fs::{inotify, mknodat, FileType, Mode, CWD};

fn is_invalid_input(e: &Error) -> bool {
    matches!(e, Error::InvalidInput { .. })
}

/// Runs `f` on a thread of its own (in the caller's mount namespace) and
/// waits at most five seconds for it. If it is still running then, `unblock`
/// is called (to release a blocked FIFO open) and the test fails.
fn within_5s<T: Send>(what: &str, f: impl FnOnce() -> T + Send, unblock: impl FnOnce()) -> T {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let h = s.spawn(move || {
            let _ = tx.send(f());
        });
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(v) => {
                h.join().unwrap();
                v
            }
            Err(_) => {
                unblock();
                let _ = h.join();
                panic!("{what} blocked for 5 s");
            }
        }
    })
}

/// Makes a FIFO at `p`.
fn mkfifo(p: &Path) {
    mknodat(CWD, p, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
}

/// Opens the FIFO for writing without blocking: this releases a reader
/// blocked in `open`, which is what the old code did.
fn release_fifo_reader(p: &Path) {
    let _ = rustix::fs::open(
        p,
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK,
        Mode::empty(),
    );
}

/// An inotify watch for `IN_OPEN` on `p`: a real `open` of the file, by any
/// path, is reported; an `O_PATH` lookup is not.
fn watch_opens(p: &Path) -> OwnedFd {
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
    inotify::add_watch(&fd, p, inotify::WatchFlags::OPEN).unwrap();
    fd
}

/// Whether the watch saw any open.
fn was_opened(watch: &OwnedFd) -> bool {
    let mut buf = [0u8; 1024];
    match rustix::io::read(watch, &mut buf) {
        Ok(n) => n > 0,
        Err(rustix::io::Errno::AGAIN) => false,
        Err(e) => panic!("read inotify: {e}"),
    }
}

// --- item 3: mount targets ---

#[test]
fn a_file_mount_is_not_attached_over_a_symlink() {
    in_private_ns(|dir| {
        let src = dir.join("src-file");
        fs::write(&src, b"payload").unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, b"victim").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let before = my_mounts();

        let err = DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach(&link)
            .unwrap_err();
        assert!(is_invalid_input(&err), "{err}");
        assert!(err.to_string().contains("symlink"), "{err}");

        let parent = fs::File::open(dir).unwrap();
        let err = DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach_at(parent.as_fd(), "link")
            .unwrap_err();
        assert!(is_invalid_input(&err), "{err}");

        assert_eq!(before, my_mounts(), "nothing was mounted");
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read(&link).unwrap(), b"victim");
    });
}

#[test]
fn a_trailing_slash_does_not_make_a_final_symlink_followed() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("marker"), b"").unwrap();
        let real = mkdir(dir, "real");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let before = my_mounts();
        for name in ["link/", "link//"] {
            let err = DetachedMount::clone_tree(&src, false)
                .unwrap()
                .attach(dir.join(name))
                .unwrap_err();
            assert!(is_invalid_input(&err), "{name}: {err}");
        }
        assert!(!real.join("marker").exists(), "the symlink was followed");
        assert_eq!(before, my_mounts());

        // A trailing slash on a real directory is still fine.
        let dst = mkdir(dir, "dst");
        DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach(dir.join("dst/"))
            .unwrap();
        assert!(dst.join("marker").exists());
    });
}

#[test]
fn symlinks_before_the_final_component_are_followed() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("marker"), b"").unwrap();
        let real = mkdir(dir, "real");
        mkdir(&real, "sub");
        std::os::unix::fs::symlink(&real, dir.join("via")).unwrap();
        DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach(dir.join("via/sub"))
            .unwrap();
        assert!(real.join("sub/marker").exists());
    });
}

#[test]
fn attach_at_dot_mounts_on_the_directory_fd_itself() {
    in_private_ns(|dir| {
        let src = mkdir(dir, "src");
        fs::write(src.join("marker"), b"").unwrap();
        let dst = mkdir(dir, "dst");
        let fd = rustix::fs::open(
            &dst,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        DetachedMount::clone_tree(&src, false)
            .unwrap()
            .attach_at(fd.as_fd(), ".")
            .unwrap();
        assert!(dst.join("marker").exists());
    });
}

#[test]
fn a_target_of_the_other_kind_is_einval() {
    in_private_ns(|dir| {
        let src_dir = mkdir(dir, "src");
        let src_file = dir.join("src-file");
        fs::write(&src_file, b"").unwrap();
        let (file, sub) = (dir.join("file"), mkdir(dir, "sub"));
        fs::write(&file, b"").unwrap();
        let before = my_mounts();
        for (src, dst) in [(&src_dir, &file), (&src_file, &sub)] {
            let err = DetachedMount::clone_tree(src, false)
                .unwrap()
                .attach(dst)
                .unwrap_err();
            assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
            assert_eq!(err.path(), Some(dst.as_path()), "{err}");
        }
        assert_eq!(before, my_mounts());
    });
}

// --- item 4: UserNs::open ---

#[test]
fn user_ns_open_refuses_a_fifo_without_blocking_or_opening_it() {
    in_private_ns(|dir| {
        let fifo = dir.join("fifo");
        mkfifo(&fifo);
        let watch = watch_opens(&fifo);
        let r = within_5s(
            "UserNs::open on a FIFO",
            || UserNs::open(&fifo),
            || release_fifo_reader(&fifo),
        );
        let err = r.unwrap_err();
        assert!(is_invalid_input(&err), "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(!was_opened(&watch), "the FIFO was opened");
    });
}

#[test]
fn user_ns_open_refuses_a_device_node_without_opening_it() {
    in_private_ns(|dir| {
        // A tmpfs without nodev, so that the nodes could really be opened,
        // with a devpts instance of its own at dev/pts: opening a node with
        // /dev/ptmx's numbers at dev/ptmx allocates a pty there.
        let dev = common::tmpfs_at(dir, "dev");
        mountfd::FsContext::new("devpts")
            .unwrap()
            .mount(&MountAttr::new())
            .unwrap()
            .attach(mkdir(&dev, "pts"))
            .unwrap();
        for (name, major, minor) in [("ptmx", 5, 2), ("null", 1, 3)] {
            let node = dev.join(name);
            mknodat(
                CWD,
                &node,
                FileType::CharacterDevice,
                Mode::from_raw_mode(0o666),
                rustix::fs::makedev(major, minor),
            )
            .unwrap();
            let watch = watch_opens(&node);
            let r = UserNs::open(&node);
            assert!(!was_opened(&watch), "{name}: the device was opened");
            let err = r.unwrap_err();
            assert!(is_invalid_input(&err), "{name}: {err}");
            assert!(
                err.to_string().contains("character device"),
                "{name}: {err}"
            );
        }
    });
}

#[test]
fn user_ns_open_refuses_files_that_are_not_a_user_namespace_unopened() {
    in_private_ns(|dir| {
        let file = dir.join("plain");
        fs::write(&file, b"").unwrap();
        let watch = watch_opens(&file);
        let err = UserNs::open(&file).unwrap_err();
        assert!(is_invalid_input(&err), "{err}");
        assert!(!was_opened(&watch), "the regular file was opened");
        for other in ["/proc/self/ns/mnt", "/proc/self/ns/net"] {
            let err = UserNs::open(other).unwrap_err();
            assert!(is_invalid_input(&err), "{other}: {err}");
        }
        let err = UserNs::open(dir.join("missing")).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
    });
}

#[test]
fn user_ns_open_follows_proc_magic_links_and_gives_a_usable_namespace() {
    in_private_ns(|dir| {
        UserNs::open(format!("/proc/{}/ns/user", std::process::id())).unwrap();
        // A namespace with a map, reached through a symlink to the magic
        // link of the fd that holds it.
        let made = UserNs::from_idmap(&"0:100000:65536".parse().unwrap()).unwrap();
        let link = dir.join("ns-link");
        std::os::unix::fs::symlink(
            format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&made)),
            &link,
        )
        .unwrap();
        let ns = UserNs::open(&link).unwrap();
        drop(made);
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        DetachedMount::clone_tree_idmapped(&src, false, &ns)
            .unwrap()
            .attach(&dst)
            .unwrap();
        assert_eq!(common::owner(&dst), (100000, 100000));
    });
}

// --- item 4: overlay layers that are not UTF-8 ---

fn non_utf8(dir: &Path, stem: &[u8]) -> PathBuf {
    let mut name = stem.to_vec();
    name.extend_from_slice(b"-\xff\xfe");
    dir.join(OsStr::from_bytes(&name))
}

#[test]
fn an_overlay_layer_that_is_a_non_utf8_fifo_is_refused_without_blocking() {
    in_private_ns(|dir| {
        let fifo = non_utf8(dir, b"fifo");
        mkfifo(&fifo);
        let base = mkdir(dir, "base");
        let watch = watch_opens(&fifo);
        let before = my_mounts();
        let r = within_5s(
            "Overlay::mount with a FIFO layer",
            || {
                Overlay::new()
                    .lower(&fifo)
                    .lower(&base)
                    .mount(&MountAttr::new())
            },
            || release_fifo_reader(&fifo),
        );
        let err = r.unwrap_err();
        assert!(is_invalid_input(&err), "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(!was_opened(&watch), "the FIFO was opened");
        assert_eq!(before, my_mounts());
    });
}

#[test]
fn non_utf8_overlay_layers_still_mount() {
    in_private_ns(|dir| {
        let top = non_utf8(dir, b"top");
        let base = non_utf8(dir, b"base");
        let (upper, work) = (non_utf8(dir, b"upper"), non_utf8(dir, b"work"));
        for d in [&top, &base, &upper, &work] {
            fs::create_dir(d).unwrap();
        }
        fs::write(top.join("a"), b"top").unwrap();
        fs::write(base.join("a"), b"base").unwrap();
        fs::write(base.join("b"), b"base").unwrap();
        let target = mkdir(dir, "target");
        Overlay::new()
            .lower(&top)
            .lower(&base)
            .upper(&upper, &work)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_eq!(fs::read(target.join("a")).unwrap(), b"top");
        assert_eq!(fs::read(target.join("b")).unwrap(), b"base");
        fs::write(target.join("c"), b"new").unwrap();
        assert!(upper.join("c").exists());
    });
}

#[test]
fn an_overlay_layer_that_is_a_non_utf8_symlink_to_a_directory_is_followed() {
    in_private_ns(|dir| {
        let real = mkdir(dir, "real");
        fs::write(real.join("f"), b"").unwrap();
        let link = non_utf8(dir, b"link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let base = mkdir(dir, "base");
        let target = mkdir(dir, "target");
        Overlay::new()
            .lower(&link)
            .lower(&base)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert!(target.join("f").exists());
    });
}

// --- item 9: a re-map replaces the source's map; flags are inherited ---

#[test]
fn a_remap_applies_to_on_disk_ids_and_a_clone_inherits_read_only() {
    in_private_ns(|dir| {
        let ns = |m: &str| UserNs::from_idmap(&m.parse().unwrap()).unwrap();
        let src = mkdir(dir, "src");
        fs::write(src.join("f"), b"").unwrap();
        let first = mkdir(dir, "first");
        let ro = MountAttr::new().readonly();
        DetachedMount::clone_tree_with(&src, false, &ro.idmap(&ns("0:100000:65536")))
            .unwrap()
            .attach(&first)
            .unwrap();
        assert_eq!(common::owner(&first.join("f")), (100000, 100000));

        // Were maps stacked, 100000 (what `first` shows) would become 2000.
        // The new map is applied to the on-disk 0 instead, which it does
        // not cover.
        for (map, shown) in [("100000:2000:65536", 65534), ("0:2000:65536", 2000)] {
            let dst = mkdir(dir, &format!("remap-{shown}"));
            DetachedMount::clone_tree_idmapped(&first, false, &ns(map))
                .unwrap()
                .attach(&dst)
                .unwrap();
            assert_eq!(common::owner(&dst.join("f")), (shown, shown), "{map}");
            // Nothing asked about read-only: the clone keeps the source's.
            let err = fs::write(dst.join("g"), b"").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{map}");
        }

        // Unless the attributes clear it.
        let rw = mkdir(dir, "rw");
        DetachedMount::clone_tree_with(&first, false, &MountAttr::new().read_write())
            .unwrap()
            .attach(&rw)
            .unwrap();
        // Root's own id is not in the map, so write as the id root's files
        // show as.
        let out = common::run_as(100000, 100000, &format!("touch {}/g", rw.display()));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(common::owner(&src.join("g")), (0, 0), "the map stays too");
    });
}
