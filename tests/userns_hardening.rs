//! What the child that owns a new user namespace may not do to its caller,
//! and which `/proc` its maps are written through:
//!
//! - every signal, glibc's internal 32 and 33 included, is blocked in the
//!   child, the caller's own mask is as it was, and the child holds none of
//!   the caller's fds while it waits;
//! - with a `/proc` of an ancestor pid namespace (`unshare -p -f` without a
//!   new `/proc`), the maps go to the child, not to whichever process has
//!   the child's pid number there;
//! - a `/proc` that is not procfs is a typed error.
//!
//! The tests count this process's children, so they run one at a time.
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;
use mountfd_testing::leaks;
use mountfd_testing::reexec;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{in_private_ns, mkdir, owner};
use mountfd::{DetachedMount, Error, FsContext, IdMap, MountAttr, UserNs};

/// The `SigBlk:` mask of a `/proc/.../status` file, if it can be read.
fn sigblk(status: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let hex = text.lines().find_map(|l| l.strip_prefix("SigBlk:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Bit of signal `n` in a `SigBlk:` mask.
fn bit(n: u32) -> u64 {
    1 << (n - 1)
}

#[test]
fn helper_blocks_every_signal_holds_no_fd_and_the_callers_mask_is_kept() {
    if !common::privileged() {
        return;
    }
    let _alone = mountfd_testing::exclusive();
    let map: IdMap = "0:100000:65536".parse().unwrap();
    let stop = AtomicBool::new(false);
    let seen = std::thread::scope(|s| {
        let creator = s.spawn(|| {
            // A mask of the caller's own, to see that it is kept.
            // SAFETY: plain sigset out-parameters and a valid `how`.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            let before = sigblk("/proc/thread-self/status").unwrap();
            assert_eq!(before & bit(10), bit(10));
            let mut made = 0;
            while !stop.load(Ordering::Relaxed) && made < 200_000 {
                drop(UserNs::from_idmap(&map).unwrap());
                made += 1;
                assert_eq!(
                    sigblk("/proc/thread-self/status").unwrap(),
                    before,
                    "the caller's signal mask changed"
                );
            }
        });
        // The child lives for a few tens of µs per creation: look at it then.
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut mask, mut empty_fd_table) = (None, false);
        while (mask.is_none() || !empty_fd_table)
            && Instant::now() < deadline
            && !creator.is_finished()
        {
            for pid in common::children() {
                let status = format!("/proc/{pid}/status");
                if let Some(m) = sigblk(&status) {
                    mask = Some(m);
                }
                // Right after `clone` the child still shares the caller's
                // table; once it waits (asleep) it has none. A dead child
                // shows none either: count only while it sleeps, before
                // and after the listing.
                let asleep = || {
                    std::fs::read_to_string(&status)
                        .is_ok_and(|t| t.lines().any(|l| l.starts_with("State:\tS")))
                };
                if asleep() {
                    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(Iterator::count);
                    empty_fd_table |= fds.is_ok_and(|n| n == 0) && asleep();
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        creator.join().unwrap();
        assert!(
            empty_fd_table,
            "never saw the waiting child without the caller's fds"
        );
        mask
    });
    let mask = seen.expect("never saw the child alive");
    // SIGKILL (9) and SIGSTOP (19) cannot be blocked; all else is.
    let all = !(bit(9) | bit(19));
    assert_eq!(
        mask & (bit(32) | bit(33)),
        bit(32) | bit(33),
        "signals 32 and 33 are open in the child: SigBlk {mask:016x}"
    );
    assert_eq!(mask, all, "SigBlk of the child: {mask:016x}");
}

#[test]
fn proc_that_is_not_procfs_is_a_typed_error() {
    let _alone = mountfd_testing::exclusive();
    in_private_ns(|_| {
        let before = leaks::Snapshot::take();
        // In this thread's mount namespace only.
        FsContext::new("tmpfs")
            .unwrap()
            .mount(&MountAttr::new())
            .unwrap()
            .attach("/proc")
            .unwrap();
        let map: IdMap = "0:100000:65536".parse().unwrap();
        let err = UserNs::from_idmap(&map).unwrap_err();
        assert!(
            matches!(&err, Error::ProcUnusable { path, .. } if path == std::path::Path::new("/proc")),
            "{err:?}"
        );
        // SAFETY: a NUL-terminated path and integer flags.
        assert_eq!(
            unsafe { libc::umount2(c"/proc".as_ptr(), libc::MNT_DETACH) },
            0
        );
        before.assert_unchanged("a failed UserNs::from_idmap", Duration::from_secs(1));
    });
}

/// `unshare --pid --fork` without `--mount-proc`: this binary runs as pid 1
/// of a new pid namespace and `/proc` is still the host's, where the pid
/// `clone` returns (2, say) is some other process (`kthreadd`).
#[test]
fn proc_of_an_ancestor_pid_namespace_gets_the_maps_to_the_right_process() {
    if !common::privileged() {
        return;
    }
    let _alone = mountfd_testing::exclusive();
    let name = "in_a_new_pid_namespace_with_the_hosts_proc";
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--"])
        .arg(exe)
        .args(["--exact", name, "--ignored", "--nocapture"])
        .arg("--test-threads=1")
        .env(reexec::CHILD_ENV, name)
        .env_remove("RUST_TEST_THREADS")
        .output()
        .expect("run unshare(1)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "the child half of the test above; inert unless it runs it"]
fn in_a_new_pid_namespace_with_the_hosts_proc() {
    if !reexec::is_child("in_a_new_pid_namespace_with_the_hosts_proc") {
        return;
    }
    assert_eq!(std::process::id(), 1, "not pid 1 of a new pid namespace");
    in_private_ns(|dir| {
        let (src, dst) = (mkdir(dir, "src"), mkdir(dir, "dst"));
        let map: IdMap = "0:100000:65536".parse().unwrap();
        // Either the maps asked for, or the typed error; never other maps.
        match UserNs::from_idmap(&map) {
            Ok(ns) => {
                DetachedMount::clone_tree_idmapped(&src, false, &ns)
                    .unwrap()
                    .attach(&dst)
                    .unwrap();
                assert_eq!(owner(&dst), (100000, 100000));
            }
            Err(e) => panic!("the host's /proc shows this pid namespace: {e:?}"),
        }
    });
}

/// A `/proc` of a child pid namespace, in which the caller and its children
/// are not visible: the thread enters the mount namespace of
/// `unshare --pid --fork --mount-proc sleep`, whose `/proc` shows only that
/// namespace. There, the pid `clone` returns may name one of its processes.
#[test]
fn proc_of_a_pid_namespace_that_cannot_see_the_caller_is_a_typed_error() {
    if !common::privileged() {
        return;
    }
    let _alone = mountfd_testing::exclusive();
    let before = leaks::Snapshot::take();
    let mut outer = std::process::Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sleep",
            "30",
        ])
        .spawn()
        .expect("run unshare(1)");
    // The inner `sleep`, once its own /proc is mounted and it runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    let inner = loop {
        let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", outer.id()))
            .unwrap_or_default();
        let inner = kids.split_whitespace().next().map(str::to_owned);
        if let Some(pid) = inner.filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n")
        }) {
            break pid;
        }
        assert!(Instant::now() < deadline, "unshare's child never ran sleep");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mnt = std::fs::File::open(format!("/proc/{inner}/ns/mnt")).unwrap();
    let result = in_private_ns(|_| {
        use std::os::fd::AsRawFd;
        // This thread has a mount namespace and fs_struct of its own, so
        // it may enter another mount namespace.
        // SAFETY: an fd this function owns and a namespace type.
        assert_eq!(
            unsafe { libc::setns(mnt.as_raw_fd(), libc::CLONE_NEWNS) },
            0
        );
        let map: IdMap = "0:100000:65536".parse().unwrap();
        UserNs::from_idmap(&map)
    });
    drop(mnt);
    outer.kill().unwrap();
    outer.wait().unwrap();
    before.assert_unchanged("the unshare(1) child", Duration::from_secs(2));
    if let Some(result) = result {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::ProcUnusable { path, .. } if path == std::path::Path::new("/proc")),
            "{err:?}"
        );
    }
}
