//! Building filesystem images and finding the loop devices behind them, for
//! the image and loop-device tests.
//!
//! Images are built by the tests themselves, in the private tmpfs of the test
//! thread, with mksquashfs (squashfs-tools), mkfs.erofs (erofs-utils) and
//! mkfs.ext4 (e2fsprogs). A missing tool skips the test visibly, or fails
//! it when `MOUNTFD_REQUIRE_PRIVILEGED` is set, as in CI.
//!
//! Every test names its images after itself: the tests of one binary run in
//! parallel, each with its own tmpfs on `/tmp`, so `/tmp/mountfd-test-PID/x`
//! can exist in several of them at once, and a backing-file path shown in
//! `/sys/block/loop*/loop/backing_file` must be unique to mean anything.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether `tool` can be run. Missing: says so, or panics when CI asks for
/// every privileged test to run.
pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        || ["/sbin", "/usr/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file());
    if found {
        return true;
    }
    if crate::privileged_required() {
        panic!("{tool} is missing (install squashfs-tools, erofs-utils and e2fsprogs)");
    }
    eprintln!("SKIPPED: {tool} is not installed");
    false
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small tree: `hello.txt`, `sub/nested.txt`, all owned by root.
pub fn populate(src: &Path) {
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("hello.txt"), b"hello from the image\n").unwrap();
    fs::write(src.join("sub/nested.txt"), b"nested\n").unwrap();
}

/// A directory `dir/name-src` filled by [`populate`].
pub fn source_tree(dir: &Path, name: &str) -> PathBuf {
    let src = dir.join(format!("{name}-src"));
    populate(&src);
    src
}

/// `mksquashfs src dir/name.sqfs`.
pub fn squashfs(dir: &Path, name: &str) -> Option<PathBuf> {
    if !have("mksquashfs") {
        return None;
    }
    let src = source_tree(dir, name);
    let img = dir.join(format!("{name}.sqfs"));
    run(Command::new("mksquashfs").arg(&src).arg(&img).args([
        "-noappend",
        "-quiet",
        "-no-progress",
    ]));
    Some(img)
}

/// `mkfs.erofs dir/name.erofs src`.
pub fn erofs(dir: &Path, name: &str) -> Option<PathBuf> {
    if !have("mkfs.erofs") {
        return None;
    }
    let src = source_tree(dir, name);
    let img = dir.join(format!("{name}.erofs"));
    run(Command::new("mkfs.erofs").arg(&img).arg(&src));
    Some(img)
}

/// An 8 MiB ext4 image holding the [`populate`] tree.
pub fn ext4(dir: &Path, name: &str) -> Option<PathBuf> {
    if !have("mkfs.ext4") {
        return None;
    }
    let src = source_tree(dir, name);
    let img = dir.join(format!("{name}.ext4"));
    fs::write(&img, vec![0u8; 8 << 20]).unwrap();
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&src)
        .arg(&img));
    Some(img)
}

/// The loop devices whose backing file is `backing` (as
/// `/sys/block/loopN/loop/backing_file` shows it).
pub fn devices_backed_by(backing: &Path) -> Vec<String> {
    let want = backing.to_string_lossy();
    crate::bound_loop_devices()
        .into_iter()
        .filter(|(_, file)| *file == want)
        .map(|(n, _)| format!("loop{n}"))
        .collect()
}

/// Waits (at most 5 s) until no loop device is backed by `backing`, and
/// says how long that took. Autoclear runs on the last close of the device,
/// which the kernel may finish a moment after the unmount returns.
pub fn assert_no_device_for(backing: &Path) -> Duration {
    let start = Instant::now();
    loop {
        let left = devices_backed_by(backing);
        if left.is_empty() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "loop devices still bound to {}: {left:?}",
            backing.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A sysfs attribute of a loop device, trimmed.
pub fn sysfs(device: &str, attr: &str) -> String {
    fs::read_to_string(format!("/sys/block/{device}/{attr}"))
        .unwrap_or_else(|e| panic!("/sys/block/{device}/{attr}: {e}"))
        .trim()
        .to_owned()
}

/// `umount path`, run by umount(8) in this thread's mount namespace (which
/// a child inherits), so that the tests need no `unsafe` of their own.
pub fn umount(path: &Path) {
    run(Command::new("umount").arg(path));
}

/// The mountinfo line of the mount at `target` in this thread's namespace.
pub fn mountinfo_line(target: &Path) -> String {
    let text = fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    let want = target.to_string_lossy();
    text.lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(&*want))
        .unwrap_or_else(|| panic!("{} is not a mount point", target.display()))
        .to_owned()
}

/// The major:minor of the filesystem a path is on.
pub fn dev_of(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let dev = fs::metadata(p).unwrap().dev();
    (libc::major(dev), libc::minor(dev))
}
