//! Small helpers the test files share: files and owners, processes, the CLI.

use std::path::{Path, PathBuf};

use mountfd::{IdMap, UserNs};

/// An id map from its `from:to:range[,...]` text.
///
/// # Panics
///
/// If the text is not a valid map.
#[must_use]
pub fn map(s: &str) -> IdMap {
    s.parse().unwrap_or_else(|e| panic!("id map {s:?}: {e}"))
}

/// A user namespace with the same map for uids and gids.
///
/// # Panics
///
/// If the text is not a valid map or the namespace cannot be made.
#[must_use]
pub fn ns(s: &str) -> UserNs {
    UserNs::from_idmap(&map(s)).unwrap_or_else(|e| panic!("user namespace {s:?}: {e}"))
}

/// Makes `dir/name` and attaches a new, empty tmpfs on it: a submount, or
/// a filesystem of its own. Returns its path.
///
/// # Panics
///
/// If any step fails.
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
///
/// # Panics
///
/// If it cannot be made.
pub fn mkdir(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The number of open fds of this process.
#[must_use]
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The pids of every child of every thread of this process, sorted.
#[must_use]
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
///
/// # Panics
///
/// If the path cannot be stat'ed.
#[must_use]
pub fn owner(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (m.uid(), m.gid())
}

/// Sets the on-disk owner of a path, not following a final symlink.
///
/// # Panics
///
/// If the call fails.
pub fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

/// Runs `sh -c script` as `uid`/`gid` (in the calling thread's mount
/// namespace) and returns its output.
///
/// # Panics
///
/// If `/bin/sh` cannot be started.
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

/// Runs the `mountfd` binary at `exe` in the calling thread's namespace.
///
/// Integration tests pass `env!("CARGO_BIN_EXE_mountfd")`: cargo builds the
/// binary for them (the `cli` feature is on for tests, through mountfd's
/// dev-dependency on itself) and sets the variable at compile time only, so
/// the path has to come from the test crate, not from here.
///
/// # Panics
///
/// If the binary cannot be started.
pub fn run_cli(exe: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(exe)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("starting {exe}: {e}"))
}

/// A process's stderr as text.
#[must_use]
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
