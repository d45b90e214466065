//! Running one test of this test binary again, in a child process.
//!
//! Some faults and peer scenarios are per process, not per thread: a
//! resource limit (`RLIMIT_NOFILE`), or being inside a user namespace (which
//! a multi-threaded process such as the test harness cannot enter). The test
//! re-executes its own binary with `--exact NAME --ignored`, with
//! [`CHILD_ENV`] naming the child half; the child half is an `#[ignore]`d
//! test that does nothing unless that variable names it, so it stays inert
//! in an ordinary run, even with `--include-ignored`.

use std::process::{Command, Output};

/// The variable that turns a child half on, naming it.
pub const CHILD_ENV: &str = "MOUNTFD_TEST_CHILD";

/// Whether this process is the child run of the test `name`.
#[must_use]
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Runs the ignored test `name` of this binary in a child process, after
/// `setup` has adjusted the command, and returns its output once it checked
/// that the child ran exactly that test and passed.
///
/// # Panics
///
/// If the child cannot be started, or did not run and pass exactly `name`.
pub fn run_child(name: &str, setup: impl FnOnce(&mut Command)) -> Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, name)
    .env_remove("RUST_TEST_THREADS");
    setup(&mut cmd);
    let out = cmd.output().expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    out
}
