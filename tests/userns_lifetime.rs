//! The child that owns a new user namespace dies with its creator: when
//! the calling process is killed, calls `exit()`, or `execve`s on another
//! thread while threads are inside `UserNs::new`, nothing is left behind
//! (no process, no copy of the caller's fds, so a flock the caller held is
//! free at once).
//!
//! Each round re-executes this binary as a caller with 16 threads creating
//! namespaces in a loop and a flock'd file; this process is a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`), so whatever the caller leaves
//! behind is re-parented here, where it is counted, killed and reaped. Alone
//! in its test binary: the subreaper setting and the counting of children
//! are process-wide, and the tests here run one at a time.
// Kernel tests: the fd-based mount API is Linux-only.
#![cfg(target_os = "linux")]

use mountfd_testing as common;
use mountfd_testing::leaks;
use mountfd_testing::reexec;

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mountfd::{IdMap, UserNs};

/// The child half: which way the caller ends (`kill`, `exit`, `exec`).
const MODE_ENV: &str = "MOUNTFD_LIFETIME_MODE";
/// The child half: the file it flocks.
const LOCK_ENV: &str = "MOUNTFD_LIFETIME_LOCK";
/// The child half: how long after "ready" it exits or execs, in µs.
const DELAY_ENV: &str = "MOUNTFD_LIFETIME_DELAY_US";

const THREADS: usize = 16;

/// How the caller ends.
#[derive(Clone, Copy, Debug)]
enum End {
    /// `SIGKILL` from this process.
    Kill,
    /// `exit()` on the main thread while the others create namespaces.
    Exit,
    /// `execve("/bin/true")` on the main thread.
    Exec,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Kill => "kill",
            End::Exit => "exit",
            End::Exec => "exec",
        }
    }
}

/// A small deterministic generator, seeded from the clock (the seed is
/// printed so that a failing run can be repeated).
struct Lcg(u64);

impl Lcg {
    fn new() -> Lcg {
        let seed = std::env::var("MOUNTFD_LIFETIME_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("MOUNTFD_LIFETIME_SEED={seed}");
        Lcg(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

fn flock(file: &std::fs::File, op: libc::c_int) -> bool {
    // SAFETY: flock takes an fd this function borrows and integer flags.
    unsafe { libc::flock(file.as_raw_fd(), op) == 0 }
}

/// What one round left behind.
#[derive(Debug, Default)]
struct Leftovers {
    /// Descendants still alive 2 s after the caller ended (then killed).
    processes: Vec<u32>,
    /// Whether the caller's flock was still held after they were reaped.
    lock_held: bool,
}

/// Runs one caller, ends it `end`-wise after `delay_us`, reaps it and
/// everything re-parented here, and reports what was left.
fn round(end: End, delay_us: u64, n: usize) -> Leftovers {
    let lock =
        std::env::temp_dir().join(format!("mountfd-lifetime-{}-{n}.lock", std::process::id()));
    std::fs::File::create(&lock).unwrap();
    let name = "caller_with_threads_in_userns_new";
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture"])
        .args(["--test-threads=1"])
        .env(reexec::CHILD_ENV, name)
        .env(MODE_ENV, end.name())
        .env(LOCK_ENV, &lock)
        .env(DELAY_ENV, delay_us.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let mut ready = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if line.unwrap().trim_end().ends_with(" ready") {
            ready = true;
            break;
        }
    }
    assert!(ready, "the caller never got ready: {:?}", child.wait());
    if let End::Kill = end {
        std::thread::sleep(Duration::from_micros(delay_us));
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(
        matches!(end, End::Kill) || status.success(),
        "{end:?}: the caller failed: {status}"
    );

    // Reap what was re-parented here, as it ends.
    let mut left = Leftovers::default();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !reap(libc::WNOHANG).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // A restarted service would take its lock now.
    let file = std::fs::File::open(&lock).unwrap();
    left.lock_held = !flock(&file, libc::LOCK_EX | libc::LOCK_NB);
    drop(file);
    // What did not end by itself is killed, so that no process is left.
    left.processes = reap(libc::WNOHANG);
    for &pid in &left.processes {
        // SAFETY: `pid` is our unreaped child, so its number is not reused.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    reap(0);
    std::fs::remove_file(&lock).unwrap();
    left
}

/// Reaps (`__WALL`) each child of this process that has ended, waiting
/// for each unless `flags` has `WNOHANG`; returns those still running.
fn reap(flags: libc::c_int) -> Vec<u32> {
    let mut running = Vec::new();
    for pid in common::children() {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        if unsafe { libc::waitpid(pid as i32, &mut status, flags | libc::__WALL) } == 0 {
            running.push(pid);
        }
    }
    running
}

/// Runs `rounds` rounds (ends and delays from `pick`) with nothing else in
/// this process running meanwhile, and checks that none left anything.
fn rounds(rounds: usize, mut pick: impl FnMut(&mut Lcg) -> (End, u64)) {
    if !common::privileged() {
        return;
    }
    let _alone = mountfd_testing::exclusive();
    become_subreaper();
    let before = leaks::Snapshot::take();
    let mut rng = Lcg::new();
    let mut bad = Vec::new();
    for n in 0..rounds {
        let (end, delay) = pick(&mut rng);
        let left = round(end, delay, n);
        if !left.processes.is_empty() || left.lock_held {
            bad.push((n, end, delay, left));
        }
    }
    before.assert_unchanged("after the rounds", Duration::from_secs(2));
    assert!(
        bad.is_empty(),
        "{} of {rounds} rounds left something behind (round, end, delay µs, leftovers): {bad:?}",
        bad.len()
    );
}

#[test]
fn killed_caller_leaves_no_helper_and_its_flock_is_free() {
    rounds(3, |rng| (End::Kill, rng.below(3000)));
}

#[test]
fn exit_on_another_thread_leaves_no_helper() {
    rounds(3, |rng| (End::Exit, rng.below(3000)));
}

#[test]
fn execve_on_another_thread_leaves_no_helper() {
    rounds(3, |rng| (End::Exec, rng.below(3000)));
}

/// The stress test of issue 10: 16 threads create namespaces while the
/// process is killed, exits or execs at random points, 50 rounds.
#[test]
fn stress_kill_exit_exec_at_random_points() {
    rounds(50, |rng| {
        let end = [End::Kill, End::Exit, End::Exec][rng.below(3) as usize];
        (end, rng.below(5000))
    });
}

/// The child half: flocks the file, starts 16 threads that create user
/// namespaces without pause, says "ready" once each has made one, then
/// waits to be killed, or exits or execs after the delay.
#[test]
#[ignore = "the child half of the tests above; inert unless they run it"]
fn caller_with_threads_in_userns_new() {
    if !reexec::is_child("caller_with_threads_in_userns_new") {
        return;
    }
    let mode = std::env::var(MODE_ENV).unwrap();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(std::env::var_os(LOCK_ENV).unwrap())
        .unwrap();
    assert!(flock(&lock, libc::LOCK_EX | libc::LOCK_NB));
    let delay: u64 = std::env::var(DELAY_ENV).unwrap().parse().unwrap();
    let map: &'static IdMap = Box::leak(Box::new("0:100000:65536".parse().unwrap()));
    static MADE: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..THREADS {
        std::thread::spawn(move || {
            let mut first = true;
            loop {
                drop(UserNs::from_idmap(map).unwrap());
                if std::mem::take(&mut first) {
                    MADE.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while MADE.load(Ordering::Relaxed) < THREADS {
        std::thread::sleep(Duration::from_micros(100));
    }
    println!("ready");
    std::thread::sleep(Duration::from_micros(delay));
    match mode.as_str() {
        "exit" => std::process::exit(0),
        "exec" => panic!("exec /bin/true: {}", Command::new("/bin/true").exec()),
        _ => std::thread::sleep(Duration::from_secs(60)),
    }
}
