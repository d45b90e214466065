//! Issue 10, item 7: errors whose "path" is the caller's path, with the
//! filesystem type and option key in fields of their own, and messages that
//! say what to do: an `EPERM` without `CAP_SYS_ADMIN` says the call needs it,
//! and a filesystem context that logged nothing points at `dmesg`.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::path::Path;

use common::{in_private_ns, mkdir, reexec};
use mountfd::{mount_image, DetachedMount, Error, FsContext, MountAttr, Op, Overlay};

#[test]
fn a_missing_overlay_layer_is_named_by_its_path_and_the_key_has_its_own_field() {
    in_private_ns(|dir| {
        let missing = dir.join("no-such-layer");
        let (base, upper, work) = (mkdir(dir, "b"), mkdir(dir, "u"), mkdir(dir, "w"));
        let err = Overlay::new()
            .lower(&missing)
            .lower(&base)
            .upper(&upper, &work)
            .mount(&MountAttr::new())
            .unwrap_err();
        // Before: Some("lowerdir+"), the option key.
        assert_eq!(err.path(), Some(missing.as_path()), "{err:?}");
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert_eq!(err.key(), Some("lowerdir+"));
        assert_eq!(err.fstype(), Some("overlay"));
        let text = err.to_string();
        assert!(text.contains(&*missing.to_string_lossy()), "{text}");
        assert!(text.contains("lowerdir+"), "{text}");
    });
}

#[test]
fn an_image_the_filesystem_refuses_is_named_by_its_path_and_the_fstype_has_its_own_field() {
    in_private_ns(|dir| {
        let image = dir.join("junk.img");
        std::fs::write(&image, vec![0u8; 4 << 20]).unwrap();
        let err = mount_image(&image, "ext4", &MountAttr::new().readonly()).unwrap_err();
        // Before: Some("ext4"), the filesystem type.
        assert_eq!(err.path(), Some(image.as_path()), "{err:?}");
        assert_eq!(err.fstype(), Some("ext4"), "{err:?}");
        assert_eq!(err.op(), Some(Op::FsconfigCreate), "{err:?}");
        // ext4 logs "Can't find ext4 filesystem" to the kernel log only,
        // not on the context: the message says where to look.
        assert_eq!(err.kernel_message(), None, "{err:?}");
        assert!(err.to_string().contains("dmesg"), "{err}");
    });
}

#[test]
fn an_eperm_without_cap_sys_admin_says_the_call_needs_it() {
    if !common::privileged() {
        return;
    }
    // The child runs as uid 65534, which has no capability at all.
    reexec::run_child("child_open_tree_as_nobody", |cmd| {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
    });
}

#[test]
#[ignore = "the child half of an_eperm_without_cap_sys_admin_says_the_call_needs_it"]
fn child_open_tree_as_nobody() {
    if !reexec::is_child("child_open_tree_as_nobody") {
        return;
    }
    let err = DetachedMount::clone_tree("/", false).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EPERM), "{err:?}");
    // Before: "open_tree /: Operation not permitted (os error 1)".
    let text = err.to_string();
    assert!(text.contains("CAP_SYS_ADMIN"), "{text}");
    assert!(text.contains("open_tree /"), "{text}");
}

#[test]
fn an_eperm_with_cap_sys_admin_does_not_blame_privilege() {
    in_private_ns(|dir| {
        // root, but the initial user namespace cannot id-map a mount: EPERM
        // for another reason than a missing capability.
        let ns = mountfd::UserNs::open("/proc/self/ns/user").unwrap();
        let err = DetachedMount::clone_tree_idmapped(dir, false, &ns).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err:?}");
        assert!(!err.to_string().contains("CAP_SYS_ADMIN"), "{err}");
    });
}

#[test]
fn a_context_that_logged_nothing_points_at_dmesg() {
    if !common::privileged() {
        return;
    }
    // A thread of its own: the seccomp filter cannot be removed.
    std::thread::spawn(|| {
        let fs = FsContext::new("tmpfs").unwrap();
        // SAFETY: only this thread makes fsconfig calls from now on, and it
        // takes the EIO as a failed call; nothing else depends on fsconfig.
        unsafe { common::fault::fail_syscall(libc::SYS_fsconfig, libc::EIO) }.unwrap();
        let err = fs.set_string("size", "1m").unwrap_err();
        assert_eq!(err.errno(), Some(libc::EIO));
        assert_eq!(err.kernel_message(), None);
        assert_eq!((err.key(), err.fstype()), (Some("size"), Some("tmpfs")));
        assert_eq!(err.path(), None::<&Path>, "a key is not a path");
        let text = err.to_string();
        assert!(text.contains("dmesg"), "{text}");
    })
    .join()
    .unwrap();
}

#[test]
fn an_errno_is_the_source_and_converts_to_io_error_kinds() {
    use std::error::Error as _;
    let err = "0:1:0".parse::<mountfd::IdMap>().unwrap_err();
    assert!(err.source().is_some(), "the IdMapError is the source");
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::InvalidInput
    );
    in_private_ns(|dir| {
        let err = DetachedMount::clone_tree(dir.join("missing"), false).unwrap_err();
        let source = err.source().expect("the errno is the source");
        let errno = source.downcast_ref::<mountfd::Errno>().expect("an Errno");
        assert_eq!(errno.raw_os_error(), libc::ENOENT);
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(err.op(), Some(Op::OpenTree));
        let io = std::io::Error::from(err);
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner.and_then(Error::errno), Some(libc::ENOENT));
    });
}
