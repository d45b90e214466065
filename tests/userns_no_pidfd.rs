//! `UserNs::new` on a kernel without `CLONE_PIDFD` (before Linux 5.2),
//! where `clone` refuses the flag with EINVAL: the child is then tracked by
//! its pid (`waitpid(__WCLONE)`, and `/proc/self` to check the pid
//! namespace), and from then on no pidfd is asked for. Alone in its test
//! binary, because that choice is made once per process.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, fault, leaks::Snapshot};

use std::time::Duration;

use common::{in_private_ns, mkdir, owner};
use mountfd::{DetachedMount, IdMap, UserNs};

/// `CLONE_PIDFD` from `<linux/sched.h>`.
const CLONE_PIDFD: u32 = 0x1000;

/// Runs `f` on a thread whose `clone` calls fail with `errno` when their
/// flags have any bit of `mask`; other clones (threads, the namespace child
/// without those flags) run.
fn where_clone_fails<R: Send>(mask: u32, errno: i32, f: impl FnOnce() -> R + Send) -> R {
    fault::on_own_thread(|| {
        let cond = [fault::Arg::HasAnyBit { index: 0, mask }];
        // SAFETY: only `clone` with those flags fails on this thread: the
        // standard library never asks for CLONE_PIDFD or CLONE_NEWUSER, and
        // `UserNs` handles the failure as an error.
        unsafe { fault::fail_syscall_if(libc::SYS_clone, &cond, errno) }.unwrap();
        f()
    })
}

/// [`where_clone_fails`] for the clones that ask for a pidfd.
fn where_clone_pidfd_fails<R: Send>(errno: i32, f: impl FnOnce() -> R + Send) -> R {
    where_clone_fails(CLONE_PIDFD, errno, f)
}

#[test]
fn without_clone_pidfd_the_namespace_is_made_by_pid_with_the_right_maps() {
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        std::fs::write(src.join("f"), b"").unwrap();
        let uid: IdMap = "0:100000:65536".parse().unwrap();
        let gid: IdMap = "0:200000:65536".parse().unwrap();
        let before = Snapshot::take();

        // The filter is real: a clone asking for a pidfd fails with the
        // errno chosen (EPERM here, which `UserNs` does not take for an
        // old kernel).
        let err = where_clone_pidfd_fails(libc::EPERM, || UserNs::new(&uid, &gid)).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPERM), "{err}");

        // The old kernel's EINVAL: the namespace is made all the same.
        let ns = where_clone_pidfd_fails(libc::EINVAL, || UserNs::new(&uid, &gid)).unwrap();
        DetachedMount::clone_tree_idmapped(&src, false, &ns)
            .unwrap()
            .attach(&dst)
            .unwrap();
        assert_eq!(owner(&dst.join("f")), (100000, 200000));
        rustix::mount::unmount(&dst, rustix::mount::UnmountFlags::empty()).unwrap();
        drop(ns);

        // From then on no pidfd is asked for: a clone that would get EPERM
        // for one is never made.
        for _ in 0..20 {
            let ns = where_clone_pidfd_fails(libc::EPERM, || UserNs::new(&uid, &gid)).unwrap();
            let tree = DetachedMount::clone_tree_idmapped(&src, false, &ns).unwrap();
            let st = rustix::fs::statat(&tree, "f", rustix::fs::AtFlags::empty()).unwrap();
            assert_eq!((st.st_uid, st.st_gid), (100000, 200000));
        }
        // Every child, tracked by pid only, was killed and reaped.
        before.assert_unchanged("without CLONE_PIDFD", Duration::ZERO);

        // Once without pidfds, an EINVAL from `clone` is an error like any
        // other, not a reason to fall back again (which would recurse for
        // ever): here every clone that makes a user namespace fails.
        let err = where_clone_fails(libc::CLONE_NEWUSER as u32, libc::EINVAL, || {
            UserNs::new(&uid, &gid).map(drop).unwrap_err()
        });
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
        before.assert_unchanged("a failed clone", Duration::ZERO);
    });
}
