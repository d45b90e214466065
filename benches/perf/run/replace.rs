//! The atomic replace group (issue 12): a fresh tmpfs swapped in for what
//! is mounted on a target, against `reference.c`'s `replace` (the bare
//! `MOVE_MOUNT_BENEATH` + lazy unmount of the old top) and `replace-naive`
//! (unmount, then mount: the window a reader sees).
//!
//! `replace` also clones the old tree for a rollback; dropping that clone
//! is one more unmount. It is measured both ways: dropped in the timed
//! loop, and kept until the batch's calls are timed.

use std::path::PathBuf;

use mountfd::{FsContext, MountAttr};

use super::{timed, Case, Ctx, Kind::*};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            group: "replace",
            name: "FsContext tmpfs + DetachedMount::replace",
            kind: Crate,
            batch: |_| 200,
            run: Some(|c, n| {
                let target = mounted_target(c);
                for _ in 0..n {
                    // The old tree comes back detached; dropping it
                    // unmounts it, as the reference's lazy unmount does.
                    drop(fresh().replace(&target).unwrap());
                }
            }),
            chart: false,
        },
        Case {
            group: "replace",
            name: "FsContext tmpfs + DetachedMount::replace (rollback kept)",
            kind: SelfTimed,
            batch: |_| 200,
            run: Some(|c, n| {
                let target = mounted_target(c);
                let kept: Vec<_> = (0..n)
                    .map(|_| timed(|| fresh().replace(&target).unwrap()))
                    .collect();
                drop(kept);
            }),
            chart: false,
        },
        Case {
            group: "replace",
            name: "FsContext tmpfs + DetachedMount::replace_discarding_old",
            kind: Crate,
            batch: |_| 200,
            run: Some(|c, n| {
                let target = mounted_target(c);
                for _ in 0..n {
                    drop(fresh().replace_discarding_old(&target).unwrap());
                }
            }),
            chart: false,
        },
        Case {
            group: "replace",
            name: "FsContext tmpfs + DetachedMount::replace_discarding_old (fresh process)",
            kind: Fresh("FsContext tmpfs + DetachedMount::replace_discarding_old"),
            batch: |_| 200,
            run: None,
            chart: false,
        },
        Case {
            group: "replace",
            name: "FsContext tmpfs + DetachedMount::replace (fresh process)",
            kind: Fresh("FsContext tmpfs + DetachedMount::replace"),
            batch: |_| 200,
            run: None,
            chart: false,
        },
        Case {
            group: "replace",
            name: "bare exact swap",
            kind: Crate,
            batch: |_| 200,
            run: Some(|c, n| {
                let target = mounted_target(c);
                let target =
                    std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).expect("no NUL");
                for _ in 0..n {
                    bare_exact_swap(&target);
                }
            }),
            chart: false,
        },
        Case {
            group: "replace",
            name: "replace",
            kind: Reference("replace"),
            batch: |_| 200,
            run: None,
            chart: false,
        },
        Case {
            group: "replace",
            name: "replace-naive",
            kind: Reference("replace-naive"),
            batch: |_| 200,
            run: None,
            chart: false,
        },
    ]
}

/// A new, empty tmpfs, detached.
fn fresh() -> mountfd::DetachedMount {
    FsContext::new("tmpfs")
        .unwrap()
        .mount(&MountAttr::new())
        .unwrap()
}

/// The target the crate cases swap on, mounted on first use.
fn mounted_target(c: &Ctx) -> PathBuf {
    let target = c.dir.join("replace-target");
    if !mountfd::is_mountpoint(&target).unwrap_or(false) {
        std::fs::create_dir_all(&target).unwrap();
        fresh().attach(&target).unwrap();
    }
    target
}

/// The system calls `replace_discarding_old` makes (strace), done bare with
/// libc: the floor for a swap that resolves the target once and unmounts
/// exactly the mount it found there. Against the reference's `replace`
/// (which names the target by path twice) it adds the `O_PATH` lookup, a
/// `statx` for the mount-root check, and the `/proc/thread-self/fd/N` walk
/// of `umount2`.
fn bare_exact_swap(target: &std::ffi::CStr) {
    // SAFETY: plain system calls on fds this function opens and closes, with
    // pointers to live local buffers of the sizes the kernel expects.
    unsafe {
        let fs = libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 1) as i32;
        assert!(fs >= 0);
        let create = linux_raw_sys::general::fsconfig_command::FSCONFIG_CMD_CREATE;
        let no_str = std::ptr::null::<u8>();
        assert_eq!(
            libc::syscall(libc::SYS_fsconfig, fs, create, no_str, no_str, 0),
            0
        );
        let new = libc::syscall(libc::SYS_fsmount, fs, 1, 0) as i32;
        assert!(new >= 0);
        libc::close(fs);
        let top = libc::open(
            target.as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        );
        assert!(top >= 0);
        let mut sx: libc::statx = std::mem::zeroed();
        let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT;
        assert_eq!(libc::statx(top, c"".as_ptr(), flags, 0x4000, &mut sx), 0);
        assert!(sx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0);
        let beneath = linux_raw_sys::general::MOVE_MOUNT_F_EMPTY_PATH
            | linux_raw_sys::general::MOVE_MOUNT_T_EMPTY_PATH
            | linux_raw_sys::general::MOVE_MOUNT_BENEATH;
        let empty = c"".as_ptr();
        assert_eq!(
            libc::syscall(libc::SYS_move_mount, new, empty, top, empty, beneath),
            0
        );
        let link = std::ffi::CString::new(format!("/proc/thread-self/fd/{top}")).unwrap();
        assert_eq!(libc::umount2(link.as_ptr(), libc::MNT_DETACH), 0);
        libc::close(top);
        libc::close(new);
    }
}
