//! User namespaces from id maps against the real kernel.
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{children, fd_count, privileged};
use mountfd::{Error, IdMap, IdMapError, IdMapping, UserNs};

/// The map the kernel reports for a namespace, read through a process in it.
fn read_map(ns: &UserNs, file: &str) -> String {
    // A namespace has no map file of its own: /proc/PID/uid_map is only
    // reachable through a process in it, so a short-lived child enters it.
    use std::os::fd::AsRawFd;
    let out = std::process::Command::new("nsenter")
        .arg(format!(
            "--user=/proc/{}/fd/{}",
            std::process::id(),
            ns.as_raw_fd()
        ))
        .args(["cat", &format!("/proc/self/{file}")])
        .output()
        .expect("spawn nsenter");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn columns(text: &str) -> Vec<[u32; 3]> {
    text.lines()
        .map(|l| {
            let v: Vec<u32> = l.split_whitespace().map(|w| w.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

#[test]
fn namespace_carries_the_maps_in_from_to_range_order() {
    if !privileged() {
        return;
    }
    let _shared = common::shared();
    let uids: IdMap = "0:100000:65536,70000:3000:5".parse().unwrap();
    let gids: IdMap = "0:200000:1000".parse().unwrap();
    let ns = UserNs::new(&uids, &gids).unwrap();
    // Seen from inside the namespace, the kernel prints each extent as
    // "inside outside range": the id inside is column 1, the id on the host
    // side column 2, exactly the order written.
    assert_eq!(
        columns(&read_map(&ns, "uid_map")),
        vec![[0, 100000, 65536], [70000, 3000, 5]]
    );
    assert_eq!(columns(&read_map(&ns, "gid_map")), vec![[0, 200000, 1000]]);
}

#[test]
fn a_thousand_namespaces_from_a_busy_threaded_process_leak_nothing() {
    if !privileged() {
        return;
    }
    /// Stops the spinners even when an assertion fails, so a failure ends
    /// the test instead of hanging it.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _alone = common::exclusive();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        for _ in 0..8 {
            s.spawn(|| {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            });
        }
        let (fds, kids) = (fd_count(), children());
        let map: IdMap = "0:100000:65536".parse().unwrap();
        for i in 0..1000 {
            let ns = UserNs::from_idmap(&map).unwrap_or_else(|e| panic!("creation {i}: {e}"));
            drop(ns);
        }
        assert_eq!(fd_count(), fds, "fds leaked");
        assert_eq!(children(), kids, "child processes left behind");
    });
}

#[test]
fn namespace_fd_is_close_on_exec() {
    if !privileged() {
        return;
    }
    let _shared = common::shared();
    use std::os::fd::AsRawFd;
    let ns = UserNs::from_idmap(&"0:100000:65536".parse().unwrap()).unwrap();
    let flags = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", ns.as_raw_fd())).unwrap();
    let flags = flags
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap()
        .trim();
    let flags = u32::from_str_radix(flags, 8).unwrap();
    assert_ne!(flags & libc::O_CLOEXEC as u32, 0, "flags {flags:o}");
}

#[test]
fn bad_maps_give_typed_errors_and_create_nothing() {
    /// Extents, and which error they must give.
    type Case = (Vec<IdMapping>, fn(&IdMapError) -> bool);
    let cases: Vec<Case> = vec![
        (vec![], |e| matches!(e, IdMapError::Empty)),
        (
            vec![IdMapping {
                from: 0,
                to: 1000,
                range: 0,
            }],
            |e| matches!(e, IdMapError::ZeroRange { .. }),
        ),
        (
            vec![IdMapping {
                from: u32::MAX - 10,
                to: 0,
                range: 20,
            }],
            |e| matches!(e, IdMapError::Overflow { .. }),
        ),
        (
            vec![IdMapping {
                from: 0,
                to: u32::MAX,
                range: 1,
            }],
            |e| matches!(e, IdMapError::InvalidId { .. }),
        ),
        (
            vec![
                IdMapping {
                    from: 0,
                    to: 100000,
                    range: 10,
                },
                IdMapping {
                    from: 5,
                    to: 200000,
                    range: 10,
                },
            ],
            |e| matches!(e, IdMapError::Overlap { .. }),
        ),
        (
            vec![
                IdMapping {
                    from: 0,
                    to: 100000,
                    range: 10,
                },
                IdMapping {
                    from: 50,
                    to: 100005,
                    range: 10,
                },
            ],
            |e| matches!(e, IdMapError::Overlap { .. }),
        ),
        (
            (0..341)
                .map(|i| IdMapping {
                    from: i * 10,
                    to: 100000 + i * 10,
                    range: 1,
                })
                .collect(),
            |e| matches!(e, IdMapError::TooManyExtents { .. }),
        ),
    ];
    let _alone = common::exclusive();
    let (fds, kids) = (fd_count(), children());
    for (extents, is_expected) in cases {
        let err = IdMap::new(extents.clone()).unwrap_err();
        match &err {
            Error::InvalidIdMap(e) => assert!(is_expected(e), "{extents:?}: {e}"),
            other => panic!("{extents:?}: not an id-map error: {other}"),
        }
        assert_eq!(err.errno(), None, "rejected before any system call");
    }
    assert_eq!(fd_count(), fds);
    assert_eq!(children(), kids);
}

#[test]
fn a_map_too_long_for_one_write_is_refused_before_any_call() {
    // 340 extents of large ids is valid for the kernel's extent rules but
    // longer than the single page `map_write` accepts.
    let map = IdMap::new((0..340u32).map(|i| IdMapping {
        from: 1_000_000_000 + i * 1_000_000,
        to: 2_000_000_000 + i * 1_000_000,
        range: 1_000_000,
    }))
    .unwrap();
    let _alone = common::exclusive();
    let (fds, kids) = (fd_count(), children());
    let err = UserNs::from_idmap(&map).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("uid map"), "{err}");
    assert_eq!(fd_count(), fds);
    assert_eq!(children(), kids);
}

#[test]
fn open_accepts_user_namespaces_only() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let _shared = common::shared();
    UserNs::open("/proc/self/ns/user").unwrap();
    let err = UserNs::open("/proc/self/ns/mnt").unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    let err = UserNs::open("/nonexistent/ns").unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENOENT));
}
