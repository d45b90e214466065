//! The paths `UserNs::new` takes on kernels older than this one: without
//! `PIDFD_GET_USER_NAMESPACE` (before Linux 6.11) the namespace is opened
//! through `/proc/PID/ns/user`, and from then on the ioctl is not tried.
//! Alone in its test binary, because that choice is made once per process.
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::os::fd::AsRawFd;

use common::{children, fd_count, in_private_ns, mkdir, owner};
use mountfd::{DetachedMount, IdMap, UserNs};

/// `_IO(0xFF, 9)`, `PIDFD_GET_USER_NAMESPACE`.
const PIDFD_GET_USER_NAMESPACE: u32 = 0xff09;

fn is_cloexec(ns: &UserNs) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", ns.as_raw_fd())).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap()
        .trim();
    u32::from_str_radix(flags, 8).unwrap() & libc::O_CLOEXEC as u32 != 0
}

#[test]
fn without_pidfd_get_user_namespace_the_namespace_comes_from_proc() {
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        let map: IdMap = "0:100000:65536".parse().unwrap();
        let (fds, kids) = (fd_count(), children());

        // The fast path first, as on this kernel.
        drop(UserNs::from_idmap(&map).unwrap());

        // An older kernel: the ioctl is unknown.
        // SAFETY: this thread is the test's own (`in_private_ns`); only
        // UserNs issues this request, and takes ENOTTY as an older kernel.
        unsafe { mountfd_testing::fault::fail_ioctl(PIDFD_GET_USER_NAMESPACE, libc::ENOTTY) }
            .unwrap();
        let ns = UserNs::from_idmap(&map).unwrap();
        assert!(is_cloexec(&ns));
        DetachedMount::clone_tree_idmapped(&src, false, &ns)
            .unwrap()
            .attach(&dst)
            .unwrap();
        assert_eq!(owner(&dst), (100000, 100000));
        drop(ns);

        // Later calls no longer try the ioctl, and still work.
        for _ in 0..20 {
            let ns = UserNs::from_idmap(&map).unwrap();
            assert!(is_cloexec(&ns));
        }
        assert_eq!(fd_count(), fds, "fds leaked");
        assert_eq!(children(), kids, "children left behind");
    });
}
