//! What a test must leave exactly as it found it: the process's open fds,
//! its child processes, the calling thread's mount table, and the loop
//! devices backed by files of this process.
//!
//! Fds and children belong to the whole process, and the tests of one binary
//! run in parallel: a test that compares them holds [`crate::exclusive`], so
//! that no other test opens or closes anything meanwhile.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Open fds of this process, with what each refers to.
#[must_use]
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

pub use crate::children;

/// Loop devices (`loopN` names) whose backing file path contains `needle`.
#[must_use]
pub fn loop_devices_backed_by(needle: &str) -> Vec<String> {
    crate::bound_loop_devices()
        .into_iter()
        .filter(|(_, file)| file.contains(needle))
        .map(|(n, _)| format!("loop{n}"))
        .collect()
}

/// The tag every scratch path of this process carries (see
/// [`crate::scratch_dir`]), for [`loop_devices_backed_by`].
#[must_use]
pub fn scratch_tag() -> String {
    format!("-{}", std::process::id())
}

/// Everything a test must leave as it found it.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Open fds and their targets ([`fds`]).
    pub fds: BTreeMap<u32, String>,
    /// Child processes, zombies included ([`children`]).
    pub children: Vec<u32>,
    /// The calling thread's mount table.
    pub mounts: String,
    /// Loop devices backed by a scratch file of this process.
    pub loops: Vec<String>,
}

impl Snapshot {
    /// Takes one, as the calling thread sees the mount table.
    #[must_use]
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
    ///
    /// # Panics
    ///
    /// With the first difference, once `settle` has passed.
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
