//! Isolation: a private mount namespace with a scratch tmpfs, and the rule
//! that decides whether a privileged test runs, skips or fails.
//!
//! A doc example that mounts first enters a private mount namespace, so that
//! nothing it does reaches the host's mount table, and works in a tmpfs
//! mounted over `/tmp` inside that namespace, so that nothing is left on the
//! host's disk either ([`enter_private_mount_ns`]). The integration tests
//! mount theirs over a directory of their own instead ([`in_private_ns`]): a
//! test may run programs (the CLI, its own binary) that live under `/tmp`.

use std::path::{Path, PathBuf};

/// The variable CI sets to turn a skipped privileged test into a failure.
pub const REQUIRE_ENV: &str = "MOUNTFD_REQUIRE_PRIVILEGED";

/// Whether the effective uid is 0.
#[must_use]
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether [`REQUIRE_ENV`] asks for every privileged test to run.
#[must_use]
pub fn privileged_required() -> bool {
    std::env::var_os(REQUIRE_ENV).is_some_and(|v| v != "0")
}

/// Whether privileged tests can run here. Not root: says so on stderr and
/// returns false, or panics when [`REQUIRE_ENV`] is set.
///
/// # Panics
///
/// When not root and [`REQUIRE_ENV`] is set.
#[must_use]
pub fn privileged() -> bool {
    if is_root() {
        return true;
    }
    if privileged_required() {
        panic!("{REQUIRE_ENV} is set but the tests do not run as root");
    }
    eprintln!("SKIPPED: this test needs root (set {REQUIRE_ENV}=1 to make that an error)");
    false
}

/// Skips a test that cannot run here for `reason`: says so on stderr, or
/// panics when [`REQUIRE_ENV`] is set, where every test must run.
///
/// # Panics
///
/// When [`REQUIRE_ENV`] is set.
pub fn skip(reason: &str) {
    if privileged_required() {
        panic!("{REQUIRE_ENV} is set but this test cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason} (set {REQUIRE_ENV}=1 to make that an error)");
}

/// Moves the calling thread into a new mount namespace in which every mount
/// is private, and mounts a fresh tmpfs on `/tmp` there. Returns `false`
/// when not root ([`privileged`]), so that an example can skip.
///
/// # Panics
///
/// If root cannot make the namespace, or when not root and [`REQUIRE_ENV`]
/// is set.
#[must_use]
pub fn enter_private_mount_ns() -> bool {
    enter_private_mount_ns_over(&std::env::temp_dir())
}

/// Like [`enter_private_mount_ns`], with the tmpfs mounted over `scratch`
/// (an existing directory) instead of `/tmp`.
///
/// # Panics
///
/// If root cannot make the namespace, or when not root and [`REQUIRE_ENV`]
/// is set.
#[must_use]
pub fn enter_private_mount_ns_over(scratch: &Path) -> bool {
    if !privileged() {
        return false;
    }
    private_mount_ns(scratch)
        .unwrap_or_else(|e| panic!("a private mount namespace with a tmpfs on {scratch:?}: {e}"));
    true
}

/// `unshare(CLONE_NEWNS)` for the calling thread, then `/` made recursively
/// private and a tmpfs mounted on `scratch`, so that nothing done afterwards
/// on this thread reaches the caller's mount namespace or disk.
#[cfg(target_os = "linux")]
fn private_mount_ns(scratch: &Path) -> std::io::Result<()> {
    use rustix::mount::{mount, mount_change, MountFlags, MountPropagationFlags};
    use rustix::thread::{unshare_unsafe, UnshareFlags};
    // SAFETY: the hazard of `unshare` is `CLONE_FILES` (fds this thread no
    // longer shares); `CLONE_NEWNS` only gives the thread its own fs_struct
    // and mount namespace.
    unsafe { unshare_unsafe(UnshareFlags::NEWNS) }?;
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )?;
    mount(
        "tmpfs",
        scratch,
        "tmpfs",
        MountFlags::NODEV | MountFlags::NOSUID,
        Some(c"mode=1777"),
    )?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn private_mount_ns(_: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// A fresh directory under `/tmp` (a private tmpfs after
/// [`enter_private_mount_ns`]), named after `name` and this process.
///
/// # Panics
///
/// If it cannot be created.
#[must_use]
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mountfd-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The host's mount table, as the thread group leader sees it.
#[must_use]
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo")
}

/// The mount table of the calling thread's namespace.
#[must_use]
pub fn my_mounts() -> String {
    std::fs::read_to_string("/proc/thread-self/mountinfo")
        .expect("read /proc/thread-self/mountinfo")
}

/// Runs `f` in a private mount namespace on its own thread, with a fresh
/// scratch directory on a private tmpfs. Returns `None` (a visible skip)
/// when not root. Holds [`crate::shared`] while it runs.
///
/// Every test that mounts runs here: when the thread ends, its namespace
/// (and every mount and autoclear loop device in it) goes with it. Each run
/// also checks that the host's mount table, as the main thread sees it, is
/// the same afterwards, and removes the loop device nodes it made.
pub fn in_private_ns<R: Send>(f: impl FnOnce(&Path) -> R + Send) -> Option<R> {
    if !privileged() {
        return None;
    }
    let _shared = crate::shared();
    run_in_private_ns(f)
}

/// [`in_private_ns`] for a test that counts process-wide fds: no other
/// test of the binary runs meanwhile (it holds [`crate::exclusive`]).
pub fn in_private_ns_alone<R: Send>(f: impl FnOnce(&Path) -> R + Send) -> Option<R> {
    if !privileged() {
        return None;
    }
    let _alone = crate::exclusive();
    run_in_private_ns(f)
}

fn run_in_private_ns<R: Send>(f: impl FnOnce(&Path) -> R + Send) -> Option<R> {
    let before = host_mounts();
    let loop_baseline = crate::loops::baseline();
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
            assert!(enter_private_mount_ns_over(&dir));
            f(&dir)
        })
        .join()
    });
    std::fs::remove_dir(&dir).expect("the test's scratch directory is empty on the host");
    assert_eq!(before, host_mounts(), "the host's mount table changed");
    crate::remove_new_loop_devices(loop_baseline, &format!("/mountfd-{name}-"));
    match r {
        Ok(r) => Some(r),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD: &str = "ns::tests::child_enter_private_mount_ns_unprivileged";

    /// A doc example's first line, run as an unprivileged user: it skips,
    /// unless CI asks for every privileged test to run, when it fails.
    #[test]
    fn doc_examples_skip_unprivileged_unless_required() {
        // Dropping to another uid needs root.
        if !privileged() {
            return;
        }
        use std::os::unix::process::CommandExt;
        for (require, passes) in [(None, true), (Some("0"), true), (Some("1"), false)] {
            let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
            cmd.args([
                "--exact",
                CHILD,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(crate::reexec::CHILD_ENV, CHILD)
            .uid(65534)
            .gid(65534);
            match require {
                Some(v) => cmd.env(REQUIRE_ENV, v),
                None => cmd.env_remove(REQUIRE_ENV),
            };
            let out = cmd.output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.success(),
                passes,
                "{REQUIRE_ENV}={require:?}:\n{text}"
            );
            assert!(text.contains("running 1 test"), "{text}");
            if passes {
                assert!(text.contains("SKIPPED: this test needs root"), "{text}");
            } else {
                assert!(
                    text.contains("is set but the tests do not run as root"),
                    "{text}"
                );
            }
        }
    }

    const SKIP_CHILD: &str = "ns::tests::child_skip";

    /// A test that cannot run (`peer_mount_setattr` outside the initial
    /// user namespace) passes with "SKIPPED" unless CI requires every test
    /// to run, when it fails.
    #[test]
    fn skip_passes_visibly_unless_required() {
        for (require, passes) in [(None, true), (Some("0"), true), (Some("1"), false)] {
            let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
            cmd.args([
                "--exact",
                SKIP_CHILD,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(crate::reexec::CHILD_ENV, SKIP_CHILD);
            match require {
                Some(v) => cmd.env(REQUIRE_ENV, v),
                None => cmd.env_remove(REQUIRE_ENV),
            };
            let out = cmd.output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.success(),
                passes,
                "{REQUIRE_ENV}={require:?}:\n{text}"
            );
            assert!(text.contains("running 1 test"), "{text}");
            let said = if passes {
                "SKIPPED: no such thing here"
            } else {
                "is set but this test cannot run: no such thing here"
            };
            assert!(text.contains(said), "{text}");
        }
    }

    #[test]
    #[ignore = "child half of skip_passes_visibly_unless_required"]
    fn child_skip() {
        if !crate::reexec::is_child(SKIP_CHILD) {
            return;
        }
        skip("no such thing here");
    }

    #[test]
    #[ignore = "child half of doc_examples_skip_unprivileged_unless_required"]
    fn child_enter_private_mount_ns_unprivileged() {
        if !crate::reexec::is_child(CHILD) {
            return;
        }
        assert!(!is_root());
        assert!(!enter_private_mount_ns());
    }
}
