//! What a test must leave exactly as it found it: the process's open fds,
//! its child processes, the calling thread's mount table, and the loop
//! devices backed by files of this process.
//!
//! Fds and children belong to the whole process, and the tests of one binary
//! run in parallel: a binary that compares them takes [`serial`] in every
//! test, so that no other test opens or closes anything meanwhile.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Runs the tests of a binary one at a time (a failed test does not poison
/// the others).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open fds of this process, with what each refers to.
pub fn fds() -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    // The listing's own fd shows as this directory: leave it out.
    let listing = format!("/proc/{}/fd", std::process::id());
    let dir = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    for entry in dir.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy().into_owned();
            if target != listing {
                out.insert(fd, target);
            }
        }
    }
    out
}

pub use super::common::children;

/// Loop devices (`loopN` names) whose backing file path contains `needle`.
pub fn loop_devices_backed_by(needle: &str) -> Vec<String> {
    super::common::bound_loop_devices()
        .into_iter()
        .filter(|(_, file)| file.contains(needle))
        .map(|(n, _)| format!("loop{n}"))
        .collect()
}

/// The tag every scratch path of this process carries (see
/// `mountfd::__doc::scratch_dir`), for [`loop_devices_backed_by`].
pub fn scratch_tag() -> String {
    format!("-{}", std::process::id())
}

/// Everything a test must leave as it found it.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub fds: BTreeMap<u32, String>,
    pub children: Vec<u32>,
    pub mounts: String,
    pub loops: Vec<String>,
}

impl Snapshot {
    /// Takes one, as the calling thread sees the mount table.
    pub fn take() -> Snapshot {
        Snapshot {
            fds: fds(),
            children: children(),
            mounts: std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap(),
            loops: loop_devices_backed_by(&scratch_tag()),
        }
    }

    /// Asserts that a new snapshot equals this one, waiting up to `settle`
    /// for what the kernel releases asynchronously (autoclear loop devices,
    /// the mounts of a dead namespace).
    pub fn assert_unchanged(&self, what: &str, settle: Duration) {
        let deadline = Instant::now() + settle;
        loop {
            let now = Snapshot::take();
            if now == *self {
                return;
            }
            if Instant::now() >= deadline {
                assert_eq!(self.fds, now.fds, "{what}: open fds changed");
                assert_eq!(
                    self.children, now.children,
                    "{what}: child processes changed"
                );
                assert_eq!(self.loops, now.loops, "{what}: loop devices changed");
                assert_eq!(self.mounts, now.mounts, "{what}: the mount table changed");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
