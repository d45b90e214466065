//! Shared support for the integration tests.
//!
//! Every test that mounts runs its body on a fresh thread that first enters
//! its own private mount namespace with a tmpfs on `/tmp`; when the thread
//! ends, its namespace (and every mount and autoclear loop device in it)
//! goes with it. Each run also checks that the host's mount table, as the
//! main thread sees it, is the same afterwards.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Tests in one binary run on parallel threads of one process, so a test
/// that counts the process's fds or children must not overlap any other.
/// Counting tests hold this lock exclusively ([`exclusive`]); every other
/// test holds it shared ([`shared`], taken by [`in_private_ns`] itself).
static PROCESS_WIDE: RwLock<()> = RwLock::new(());

/// Held by a test that counts process-wide resources (fds, children).
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    PROCESS_WIDE.write().unwrap_or_else(|e| e.into_inner())
}

/// Held by any test that opens fds or spawns processes.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    PROCESS_WIDE.read().unwrap_or_else(|e| e.into_inner())
}

/// The variable CI sets to turn a skipped privileged test into a failure.
pub const REQUIRE_ENV: &str = "MOUNTFD_REQUIRE_PRIVILEGED";

/// Whether privileged tests can run here. Not root: says so on stderr and
/// returns false, or panics when [`REQUIRE_ENV`] is set.
pub fn privileged() -> bool {
    if mountfd::__doc::is_root() {
        return true;
    }
    if std::env::var_os(REQUIRE_ENV).is_some_and(|v| v != "0") {
        panic!("{REQUIRE_ENV} is set but the tests do not run as root");
    }
    eprintln!("SKIPPED: this test needs root (set {REQUIRE_ENV}=1 to make that an error)");
    false
}

/// The host's mount table, as the thread group leader sees it.
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo")
}

/// The mount table of the calling thread's namespace.
pub fn my_mounts() -> String {
    std::fs::read_to_string("/proc/thread-self/mountinfo")
        .expect("read /proc/thread-self/mountinfo")
}

/// Runs `f` in a private mount namespace on its own thread, with a fresh
/// scratch directory on a private tmpfs. Returns `None` (a visible skip)
/// when not root. Holds [`shared`] while it runs.
pub fn in_private_ns<R: Send>(f: impl FnOnce(&Path) -> R + Send) -> Option<R> {
    if !privileged() {
        return None;
    }
    let _shared = shared();
    run_in_private_ns(f)
}

/// [`in_private_ns`] for a test that counts process-wide fds: no other
/// test of the binary runs meanwhile (it holds [`exclusive`]).
pub fn in_private_ns_alone<R: Send>(f: impl FnOnce(&Path) -> R + Send) -> Option<R> {
    if !privileged() {
        return None;
    }
    let _alone = exclusive();
    run_in_private_ns(f)
}

fn run_in_private_ns<R: Send>(f: impl FnOnce(&Path) -> R + Send) -> Option<R> {
    let before = host_mounts();
    let loop_baseline = loop_baseline();
    // A name of its own, so the loop devices behind this test's files can
    // be told from those of tests running beside it.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "test{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    // The tmpfs goes over a directory of the test's own, not over /tmp: the
    // test may run programs that live there (the CLI, its own binary when
    // the checkout is under /tmp). On the host the directory stays empty,
    // and removing it is allowed while it is still a mount point in the
    // dying namespace (Linux 3.18+ detaches such mounts).
    let dir = std::env::temp_dir().join(format!("mountfd-{name}-{}", std::process::id()));
    std::fs::create_dir(&dir).expect("the test's scratch directory");
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            assert!(mountfd::__doc::enter_private_mount_ns_over(&dir));
            f(&dir)
        })
        .join()
    });
    std::fs::remove_dir(&dir).expect("the test's scratch directory is empty on the host");
    assert_eq!(before, host_mounts(), "the host's mount table changed");
    remove_new_loop_devices(loop_baseline, &format!("/mountfd-{name}-"));
    match r {
        Ok(r) => Some(r),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Makes `dir/name` and attaches a new, empty tmpfs on it: a submount, or
/// a filesystem of its own. Returns its path.
pub fn tmpfs_at(dir: &Path, name: &str) -> PathBuf {
    let p = mkdir(dir, name);
    mountfd::FsContext::new("tmpfs")
        .unwrap()
        .mount(&mountfd::MountAttr::new())
        .unwrap()
        .attach(&p)
        .unwrap();
    p
}

/// Makes `dir/name` as a directory and returns its path.
pub fn mkdir(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The number of open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The pids of every child of every thread of this process.
pub fn children() -> Vec<u32> {
    let mut all = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            all.extend(text.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
        }
    }
    all.sort_unstable();
    all
}

/// `stat` owner (uid, gid) of a path, not following a final symlink.
pub fn owner(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (m.uid(), m.gid())
}

/// Sets the on-disk owner of a path.
pub fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

/// Runs `sh -c script` as `uid`/`gid` (in the calling thread's mount
/// namespace) and returns whether it succeeded.
pub fn run_as(uid: u32, gid: u32, script: &str) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .uid(uid)
        .gid(gid)
        .output()
        .expect("spawn /bin/sh")
}

/// Runs the `mountfd` example CLI (`target/<profile>/examples/mountfd`,
/// built by `cargo test` with the tests) in the calling thread's namespace.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let cli = profile_dir.join("examples/mountfd");
    assert!(cli.exists(), "{} not built", cli.display());
    std::process::Command::new(cli).args(args).output().unwrap()
}

/// A process's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The numbers of the loop devices that exist (`/sys/block/loopN`).
pub fn loop_device_numbers() -> std::collections::BTreeSet<u32> {
    let Ok(dir) = std::fs::read_dir("/sys/block") else {
        return Default::default();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("loop")?.parse().ok())
        .collect()
}

/// Every bound loop device: its number and its backing file as
/// `/sys/block/loopN/loop/backing_file` shows it (without the newline, and
/// without the " (deleted)" the kernel appends for an unlinked file).
pub fn bound_loop_devices() -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = loop_device_numbers()
        .into_iter()
        .filter_map(|n| {
            let text =
                std::fs::read_to_string(format!("/sys/block/loop{n}/loop/backing_file")).ok()?;
            let text = text.trim_end_matches('\n');
            Some((
                n,
                text.strip_suffix(" (deleted)").unwrap_or(text).to_owned(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// The loop devices that existed before the first test of this binary ran.
fn loop_baseline() -> &'static std::collections::BTreeSet<u32> {
    static BASELINE: std::sync::OnceLock<std::collections::BTreeSet<u32>> =
        std::sync::OnceLock::new();
    BASELINE.get_or_init(loop_device_numbers)
}

/// `LOOP_CTL_GET_FREE` creates a device node whenever every existing one is
/// bound, and the kernel keeps it after use; remove the ones the tests made,
/// so the host keeps the set of loop devices it had. Autoclear unbinds this
/// test's devices (those backed by files under `tag`) when its mount
/// namespace is torn down, a little after the thread is joined: wait for
/// that, briefly. A device still bound or open belongs to a test still
/// running, which removes it when it ends.
pub fn remove_new_loop_devices(baseline: &std::collections::BTreeSet<u32>, tag: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let new: Vec<u32> = loop_device_numbers()
            .difference(baseline)
            .copied()
            .collect();
        let bound = bound_loop_devices();
        let is_bound = |n: u32| bound.iter().any(|(b, _)| *b == n);
        let mine_bound = bound
            .iter()
            .any(|(n, file)| new.contains(n) && file.contains(tag));
        if !mine_bound || std::time::Instant::now() >= deadline {
            for n in new.into_iter().filter(|&n| !is_bound(n)) {
                // EBUSY: opened by a running test meanwhile; it cleans up.
                let _ = mountfd::__doc::remove_loop_device(n);
            }
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
