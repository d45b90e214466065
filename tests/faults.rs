//! Fault injection: an older kernel, a full fd table, the user-namespace
//! limit, a user-namespace child killed mid-way, the loss of
//! `LOOP_CONFIGURE`. Every fault ends in a typed error (or, where the kernel
//! can still finish the job, a correct result), and nothing is leaked: fds,
//! child processes, mounts and loop devices are as before.
//!
//! Per-thread faults use the seccomp filters of `mountfd_testing::fault` on
//! the test's own thread. Per-process ones (`RLIMIT_NOFILE`, being inside a
//! user namespace) run in a child process: the test binary re-executed with
//! one ignored test selected (see `reexec`).
//!
//! The single `ENOSYS`-for-`open_tree_attr` case lives in
//! `tests/idmapped_mounts.rs`; the tests here extend it to recursive trees,
//! filesystems that cannot be id-mapped, clearing a map and a kernel that
//! lacks `mount_setattr` too.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, leaks, reexec};

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{in_private_ns, mkdir, ns, owner};
use leaks::Snapshot;
use mountfd::{DetachedMount, Error, FsContext, IdMap, LoopDevice, LoopOptions, MountAttr, UserNs};
use mountfd_testing::fault;

/// `src` with a tmpfs submount `sub`, a root-owned file in each.
fn tree(dir: &Path) -> PathBuf {
    let src = mkdir(dir, "src");
    common::tmpfs_at(&src, "sub");
    fs::write(src.join("f"), b"").unwrap();
    fs::write(src.join("sub/f"), b"").unwrap();
    src
}

/// From here on this thread sees a kernel without `open_tree_attr` (before 6.15).
fn lose_open_tree_attr() {
    // SAFETY: called on a test's own thread (`in_private_ns`), where only
    // mountfd makes this call, and takes ENOSYS as an older kernel.
    unsafe { fault::fail_syscall(mountfd::raw::SYS_OPEN_TREE_ATTR, libc::ENOSYS) }.unwrap();
}

// --- ENOSYS for open_tree_attr: the fallback ------------------------------

#[test]
fn without_open_tree_attr_a_recursive_clone_maps_and_protects_every_submount() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = tree(dir);
        let dst = mkdir(dir, "dst");
        let map = ns("0:100000:65536");
        lose_open_tree_attr();
        let before = Snapshot::take();

        let attr = MountAttr::new().idmap(&map).readonly();
        DetachedMount::clone_tree_with(&src, true, &attr)
            .unwrap()
            .attach(&dst)
            .unwrap();
        for f in ["f", "sub/f"] {
            assert_eq!(owner(&dst.join(f)), (100000, 100000), "{f}");
            let err = fs::write(dst.join(f), b"x").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{f}");
        }
        assert_eq!(Snapshot::take().fds, before.fds);

        // A recursive re-map of it is refused as a whole, with the typed error.
        let mounts = common::my_mounts();
        let err = DetachedMount::clone_tree_idmapped(&dst, true, &ns("0:2000:65536")).unwrap_err();
        assert!(matches!(err, Error::RemapUnsupported { .. }), "{err}");
        assert_eq!(err.errno(), Some(libc::EPERM));
        assert_eq!(mounts, common::my_mounts());
        assert_eq!(Snapshot::take().fds, before.fds);
    });
}

#[test]
fn without_open_tree_attr_other_failures_keep_their_own_errno() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = tree(dir);
        let ramfs = mkdir(&src, "ram");
        FsContext::new("ramfs")
            .unwrap()
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&ramfs)
            .unwrap();
        let first = mkdir(dir, "first");
        let map = ns("0:100000:65536");
        DetachedMount::clone_tree_idmapped(&src, false, &map)
            .unwrap()
            .attach(&first)
            .unwrap();
        lose_open_tree_attr();
        let before = Snapshot::take();

        // A submount that cannot be id-mapped: mount_setattr's EINVAL, with
        // the path, not a re-map error.
        let err = DetachedMount::clone_tree_idmapped(&src, true, &map).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Os {
                    op: mountfd::Op::MountSetattr,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.errno(), Some(libc::EINVAL));
        assert_eq!(err.path(), Some(src.as_path()));

        // Clearing a map needs open_tree_attr too: the fallback's
        // mount_setattr refuses it with EINVAL.
        let err = DetachedMount::clone_tree_with(&first, false, &MountAttr::new().clear_idmap())
            .unwrap_err();
        assert!(matches!(err, Error::Os { .. }), "{err}");
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");

        // A missing source fails in the fallback's open_tree, and says so.
        let missing = dir.join("missing");
        let err = DetachedMount::clone_tree_with(&missing, false, &MountAttr::new().readonly())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Os {
                    op: mountfd::Op::OpenTree,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert_eq!(err.path(), Some(missing.as_path()));

        before.assert_unchanged("failed fallbacks", Duration::ZERO);
    });
}

#[test]
fn with_open_tree_attr_the_same_clear_idmap_works() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = tree(dir);
        let (first, second) = (mkdir(dir, "first"), mkdir(dir, "second"));
        DetachedMount::clone_tree_idmapped(&src, false, &ns("0:100000:65536"))
            .unwrap()
            .attach(&first)
            .unwrap();
        assert_eq!(owner(&first.join("f")), (100000, 100000));
        DetachedMount::clone_tree_with(&first, false, &MountAttr::new().clear_idmap())
            .unwrap()
            .attach(&second)
            .unwrap();
        assert_eq!(owner(&second.join("f")), (0, 0), "the map is gone");
    });
}

#[test]
fn a_kernel_without_mount_setattr_either_gives_enosys_for_attributes() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let src = tree(dir);
        let dst = mkdir(dir, "dst");
        // Before 5.12: neither call exists.
        lose_open_tree_attr();
        // SAFETY: as in `lose_open_tree_attr`.
        unsafe { fault::fail_syscall(mountfd::raw::SYS_MOUNT_SETATTR, libc::ENOSYS) }.unwrap();
        let before = Snapshot::take();

        let err =
            DetachedMount::clone_tree_with(&src, true, &MountAttr::new().readonly()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Os {
                    op: mountfd::Op::MountSetattr,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.errno(), Some(libc::ENOSYS));
        // An id map on such a kernel is no re-map problem: plain ENOSYS.
        let err = DetachedMount::clone_tree_idmapped(&src, false, &ns("0:1:1")).unwrap_err();
        assert!(matches!(err, Error::Os { .. }), "{err}");
        assert_eq!(err.errno(), Some(libc::ENOSYS));
        before.assert_unchanged("ENOSYS", Duration::ZERO);

        // What needs neither call still works.
        DetachedMount::clone_tree(&src, true)
            .unwrap()
            .attach(&dst)
            .unwrap();
        assert!(dst.join("sub/f").exists());
    });
}

// --- the loss of LOOP_CONFIGURE, under concurrency --------------------------

#[test]
fn without_loop_configure_concurrent_attaches_take_distinct_devices_with_their_options() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let img = dir.join("faults-legacy-loop.img");
        fs::write(&img, vec![0u8; 4 << 20]).unwrap();
        let before = Snapshot::take();
        let opts = LoopOptions {
            offset: 1 << 20,
            size_limit: 2 << 20,
            read_only: true,
            ..LoopOptions::new()
        };
        // Each thread is an "old kernel": LOOP_CONFIGURE is EINVAL, so every
        // attach goes LOOP_SET_FD + LOOP_SET_STATUS64, the racy two-step path.
        let devs: Vec<LoopDevice> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        // SAFETY: a thread of its own; only LoopDevice
                        // issues LOOP_CONFIGURE, and falls back on EINVAL.
                        unsafe {
                            fault::fail_ioctl(
                                linux_raw_sys::loop_device::LOOP_CONFIGURE,
                                libc::EINVAL,
                            )
                        }
                        .unwrap();
                        (0..8)
                            .map(|_| LoopDevice::attach(&img, &opts).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut numbers: Vec<u32> = devs.iter().map(LoopDevice::number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), devs.len(), "every attach has its own device");
        for d in &devs {
            let st = d.status().unwrap();
            assert_eq!(
                (st.offset, st.size_limit),
                (1 << 20, 2 << 20),
                "{}",
                d.path().display()
            );
            assert!(st.read_only && st.autoclear, "{}", d.path().display());
        }
        drop(devs);
        before.assert_unchanged("legacy loop devices", Duration::from_secs(5));
    });
}

// --- EMFILE at every step, in a child with a low RLIMIT_NOFILE -------------

const EMFILE_CHILD: &str = "child_emfile_at_every_step";

#[test]
fn a_full_fd_table_gives_emfile_at_every_step_and_leaks_nothing() {
    let _alone = common::exclusive();
    if !common::privileged() {
        return;
    }
    let out = reexec::run_child(EMFILE_CHILD, |_| {});
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}

/// One operation of the sweep, each result dropped at once.
type Op = (&'static str, fn(&Path, &UserNs) -> mountfd::Result<()>);

const OPS: [Op; 5] = [
    ("UserNs::new", |_, _| {
        UserNs::new(&"0:100000:65536".parse()?, &"0:200000:65536".parse()?).map(drop)
    }),
    ("clone_tree_idmapped + attach", |dir, ns| {
        let target = dir.join("target");
        let r = DetachedMount::clone_tree_idmapped(dir.join("src"), true, ns)?.attach(&target);
        if r.is_ok() {
            rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH).unwrap();
        }
        r.map(drop)
    }),
    ("FsContext + mount", |_, _| {
        let fs = FsContext::new("tmpfs")?;
        fs.set_string("size", "1m")?;
        fs.mount(&MountAttr::new().nodev()).map(drop)
    }),
    ("UserNs::open", |_, _| {
        UserNs::open("/proc/self/ns/user").map(drop)
    }),
    ("LoopDevice::attach", |dir, _| {
        LoopDevice::attach(dir.join("faults-emfile.img"), &LoopOptions::new()).map(drop)
    }),
];

#[test]
#[ignore = "child half of a_full_fd_table_gives_emfile_at_every_step_and_leaks_nothing"]
fn child_emfile_at_every_step() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    if !reexec::is_child(EMFILE_CHILD) {
        return;
    }
    in_private_ns(|dir| {
        tree(dir);
        mkdir(dir, "target");
        fs::write(dir.join("faults-emfile.img"), vec![0u8; 1 << 20]).unwrap();
        let map = ns("0:100000:65536");
        let old = getrlimit(Resource::Nofile);
        // Fill the holes in the fd table, so that the limit is the only room.
        let highest = *leaks::fds().keys().max().unwrap();
        let mut fillers = Vec::new();
        loop {
            let f = fs::File::open("/dev/null").unwrap();
            if std::os::fd::AsRawFd::as_raw_fd(&f) as u32 > highest {
                break;
            }
            fillers.push(f);
        }
        let before = Snapshot::take();
        let highest = u64::from(*before.fds.keys().max().unwrap());

        // Raise the headroom one fd at a time: each operation fails with
        // EMFILE wherever it runs out, and succeeds once it has enough.
        let mut failed = [0usize; OPS.len()];
        let mut needed = [None; OPS.len()];
        for headroom in 0..16u64 {
            for (i, (name, op)) in OPS.iter().enumerate() {
                let limit = Rlimit {
                    current: Some(highest + 1 + headroom),
                    maximum: old.maximum,
                };
                setrlimit(Resource::Nofile, limit).unwrap();
                let result = op(dir, &map);
                // Room again for the checks.
                setrlimit(Resource::Nofile, old).unwrap();
                match result {
                    Ok(()) => {
                        needed[i].get_or_insert(headroom);
                    }
                    Err(e) => {
                        assert_eq!(e.errno(), Some(libc::EMFILE), "{name} at +{headroom}: {e}");
                        assert!(
                            needed[i].is_none(),
                            "{name} failed at +{headroom} after working with less: {e}"
                        );
                        failed[i] += 1;
                    }
                }
                before.assert_unchanged(name, Duration::from_secs(5));
            }
        }
        drop(fillers);
        for (i, (name, _)) in OPS.iter().enumerate() {
            println!(
                "{name}: EMFILE {} times, works with {:?} free fds",
                failed[i], needed[i]
            );
            assert!(failed[i] > 0, "{name} never ran out of fds");
            assert!(needed[i].is_some(), "{name} never succeeded");
        }
    });
}

// --- the user-namespace limit, inside a child user namespace ---------------

const USERNS_LIMIT_CHILD: &str = "child_user_namespace_limit";

#[test]
fn the_user_namespace_limit_gives_enospc_and_leaks_nothing() {
    let _alone = common::exclusive();
    if !common::privileged() {
        return;
    }
    // `user.max_user_namespaces` counts per user namespace: set inside a
    // namespace of its own, the limit binds the child only, not the host.
    reexec::run_child(
        USERNS_LIMIT_CHILD,
        mountfd_testing::raw::command_in_new_user_ns,
    );
}

#[test]
#[ignore = "child half of the_user_namespace_limit_gives_enospc_and_leaks_nothing"]
fn child_user_namespace_limit() {
    if !reexec::is_child(USERNS_LIMIT_CHILD) {
        return;
    }
    let limit = Path::new("/proc/sys/user/max_user_namespaces");
    let set = |n: u32| fs::write(limit, n.to_string()).unwrap();
    // Only id 0 is mapped in this namespace.
    let map: IdMap = "0:0:1".parse().unwrap();
    let before = Snapshot::take();

    set(0);
    let err = UserNs::from_idmap(&map).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Os {
                op: mountfd::Op::CloneUserNs,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.errno(), Some(libc::ENOSPC), "{err}");
    before.assert_unchanged("at the limit", Duration::ZERO);

    // One allowed: the first works, a second while it lives does not.
    set(1);
    let first = UserNs::from_idmap(&map).unwrap();
    let err = UserNs::from_idmap(&map).unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENOSPC), "{err}");
    // Dropping the first frees its slot (the kernel frees a namespace
    // asynchronously, so allow it a moment).
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let again = loop {
        match UserNs::from_idmap(&map) {
            Ok(ns) => break ns,
            Err(e) if e.errno() == Some(libc::ENOSPC) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the slot was not freed: {e}"),
        }
    };
    drop(again);
    before.assert_unchanged("after the limit", Duration::ZERO);
}

// --- a user-namespace child killed mid-way ---------------------------------

/// Checks a namespace made under a fault: usable, with the map asked for.
fn assert_maps(ns: &UserNs, dir: &Path) {
    let tree = DetachedMount::clone_tree_idmapped(dir.join("src"), false, ns).unwrap();
    let st = rustix::fs::statat(&tree, "f", rustix::fs::AtFlags::empty()).unwrap();
    assert_eq!((st.st_uid, st.st_gid), (100000, 100000));
}

/// How the calling process's one unreaped clone child (exit signal 0) died,
/// as `(si_code, si_status)`, once it has (within 10 s); it stays unreaped
/// (`WNOWAIT`).
fn death_of_the_child() -> (i32, i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        // SAFETY: `info` is a writable siginfo_t the kernel fills in.
        let (pid, code, status) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | libc::WNOHANG | libc::__WCLONE,
            );
            assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
            (info.si_pid(), info.si_code, info.si_status())
        };
        if pid != 0 {
            return (code, status);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child is still alive after 10 s: the filter never killed it"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The `fstatfs` rustix makes: `fstatfs64` on 32-bit targets.
#[cfg(target_pointer_width = "64")]
const SYS_FSTATFS: libc::c_long = libc::SYS_fstatfs;
#[cfg(target_pointer_width = "32")]
const SYS_FSTATFS: libc::c_long = libc::SYS_fstatfs64;

#[test]
fn a_child_killed_before_its_maps_are_written_is_reaped_and_nothing_leaks() {
    const ROUNDS: usize = 50;
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        tree(dir);
        let map: IdMap = "0:100000:65536".parse().unwrap();
        let before = Snapshot::take();
        let (tx, rx) = std::sync::mpsc::channel::<fault::Listener>();
        // The child only ever parks in ppoll; a filter inherited from the
        // creating thread kills it there. `UserNs::new` checks `/proc` with
        // `fstatfs` right after `clone` returns, before it writes any map:
        // that call is held until the child is dead, so each child dies of
        // the filter (SIGSYS), before its maps are written, every time.
        let (results, deaths) = std::thread::scope(|s| {
            let maker = s.spawn(|| {
                // SAFETY: the test thread reads the listener until this
                // thread ends; only `UserNs::new` calls fstatfs here.
                let listener = unsafe { fault::notify_on_syscall(SYS_FSTATFS) }.unwrap();
                tx.send(listener).unwrap();
                // SAFETY: this thread never calls ppoll (UserNs::from_idmap
                // reaps with waitid); only the children it clones,
                // which are expendable, park there.
                unsafe { fault::kill_on_syscall(libc::SYS_ppoll) }.unwrap();
                (0..ROUNDS)
                    .map(|_| UserNs::from_idmap(&map))
                    .collect::<Vec<_>>()
            });
            let listener = rx.recv().unwrap();
            let mut deaths = Vec::new();
            loop {
                match listener.next(Duration::from_millis(50)).unwrap() {
                    Some(call) => {
                        deaths.push(death_of_the_child());
                        listener.resume(call.id).unwrap();
                    }
                    None if maker.is_finished() => break,
                    None => {}
                }
            }
            (maker.join().unwrap(), deaths)
        });
        // Every child was killed by the filter, none by the library first
        // and none exited on its own.
        assert_eq!(deaths.len(), ROUNDS);
        for (code, status) in &deaths {
            assert!(
                matches!(*code, libc::CLD_KILLED | libc::CLD_DUMPED),
                "si_code {code}"
            );
            assert_eq!(*status, libc::SIGSYS);
        }
        // Linux 6.18 lets the parent finish on a dead (unreaped) child: its
        // `/proc` entry and credentials stay until it is reaped, so every
        // namespace is whole, with the map asked for.
        assert_eq!(results.len(), ROUNDS);
        for r in &results {
            match r {
                Ok(ns) => assert_maps(ns, dir),
                Err(e) => panic!("a namespace from a dead child: {e}"),
            }
        }
        drop(results);
        before.assert_unchanged("killed children", Duration::ZERO);
    });
}

#[test]
fn children_killed_at_random_points_are_reaped_and_nothing_leaks() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        tree(dir);
        let map: IdMap = "0:100000:65536".parse().unwrap();
        let before = Snapshot::take();
        let stop = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let (stop, map) = (&stop, &map);
        let (results, killed) = std::thread::scope(|s| {
            let maker = s.spawn(move || {
                // This thread's id, for the killer to watch its children only.
                let me = fs::read_link("/proc/thread-self").unwrap();
                tx.send(me.file_name().unwrap().to_string_lossy().into_owned())
                    .unwrap();
                let r: Vec<_> = (0..300).map(|_| UserNs::from_idmap(map)).collect();
                stop.store(true, Ordering::Relaxed);
                r
            });
            let tid = rx.recv().unwrap();
            let children = format!("/proc/self/task/{tid}/children");
            // A second thread kills whatever child the maker has, whenever
            // it sees one: before, between or after the map writes.
            let killer = s.spawn(move || {
                let mut killed = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(text) = fs::read_to_string(&children) else {
                        continue;
                    };
                    for raw in text
                        .split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok())
                    {
                        let pid = rustix::process::Pid::from_raw(raw).unwrap();
                        let kill =
                            rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                        if kill.is_ok() {
                            killed.insert(raw);
                        }
                    }
                }
                killed
            });
            (maker.join().unwrap(), killer.join().unwrap())
        });
        // Wherever the child died, it was not reaped before the parent
        // finished: Linux 6.18 gives a whole namespace every time (as the
        // test above shows for a child dead before the maps).
        for r in &results {
            match r {
                Ok(ns) => assert_maps(ns, dir),
                Err(e) => panic!("a namespace from a killed child: {e}"),
            }
        }
        eprintln!("{} children killed, 300 usable namespaces", killed.len());
        assert!(!killed.is_empty(), "the killer never caught a child");
        drop(results);
        before.assert_unchanged("randomly killed children", Duration::ZERO);
    });
}

/// A write to `uid_map` that the kernel takes only in part (here: a `write`
/// of the map's exact length returns 0 without running). The kernel needs
/// the whole map in one `write`; a namespace whose map was cut short maps
/// nothing, and every file would show as nobody. The crate must say so.
#[test]
fn a_short_write_to_a_map_file_is_an_error_and_nothing_leaks() {
    in_private_ns(|_| {
        // Different lengths: only the uid map's write matches the filter.
        let uid: IdMap = "0:100000:65536".parse().unwrap();
        let gid: IdMap = "0:200000:7".parse().unwrap();
        let len = uid.to_proc_map().len() as u32;
        assert_ne!(len as usize, gid.to_proc_map().len());
        let before = Snapshot::take();
        let err = fault::on_own_thread(|| {
            let cond = [fault::Arg::Eq {
                index: 2,
                value: len,
            }];
            // SAFETY: only `write`s of exactly `len` bytes on this thread
            // return 0 without running; nothing else on it writes that many.
            unsafe { fault::skip_syscall_if(libc::SYS_write, &cond) }.unwrap();
            UserNs::new(&uid, &gid).map(drop).unwrap_err()
        });
        assert_eq!(err.errno(), Some(libc::EIO), "{err}");
        let path = err.path().expect("the error names the map file");
        assert!(path.ends_with("uid_map"), "{err}");
        before.assert_unchanged("a short map write", Duration::ZERO);
        // Without the fault the same maps make a namespace.
        UserNs::new(&uid, &gid).unwrap();
    });
}
