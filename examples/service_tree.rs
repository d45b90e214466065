//! A service's whole mount tree, assembled detached, attached once, and
//! updated in one step while it is read. Run as root:
//!
//! ```text
//! cargo run --example service_tree
//! ```
//!
//! The tree is what a container host (StartOS's "nested id-mapped mounts")
//! builds for a service:
//!
//! - `/`: a squashfs root image, id-mapped `0:100000:65536`;
//! - `/data`: a volume, id-mapped with the container's base map composed
//!   with the service's own map, in one map;
//! - `/app`: an overlay whose lower layer is the image's `/app`, id-mapped
//!   (a merged overlay cannot be), under a writable upper layer of its own
//!   (the service's lasting data lives in its volume).
//!
//! Every piece is put together off the live system (no staging mount), the
//! tree appears at once with one `move_mount`, and the image is then
//! updated to a second version with `replace` (`MOVE_MOUNT_BENEATH`) while
//! a reader thread opens a file in the tree in a loop: it never fails.
//!
//! It runs in a private mount namespace of its own, over a tmpfs on `/tmp`,
//! so nothing reaches the host's mount table or disk, and everything
//! (mounts, loop devices) goes when it exits. It needs Linux 6.15+
//! (assembly in a detached tree) and `mksquashfs` (squashfs-tools).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mountfd::{mount_image, DetachedMount, IdMap, MountAttr, Overlay, UserNs};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Gives this process a mount namespace of its own, every mount private,
/// with a fresh tmpfs on `/tmp`; returns a scratch directory there.
#[cfg(target_os = "linux")]
fn private_mount_namespace() -> BoxResult<PathBuf> {
    use rustix::mount::{mount_change, MountPropagationFlags};
    use rustix::thread::{unshare_unsafe, UnshareFlags};
    let os = |op: &'static str| move |e: rustix::io::Errno| format!("{op}: {e}");
    // SAFETY: only `CLONE_NEWNS`, on the process's only thread so far: it
    // gets a mount namespace (and fs_struct) of its own, nothing else.
    unsafe { unshare_unsafe(UnshareFlags::NEWNS) }.map_err(os("unshare(CLONE_NEWNS)"))?;
    // Otherwise mounts made here would propagate to the host's shared ones.
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(os("mount(MS_REC | MS_PRIVATE)"))?;
    let tmp = std::env::temp_dir();
    mountfd::FsContext::new("tmpfs")?
        .mount(&MountAttr::new().nodev().nosuid())?
        .attach(&tmp)?;
    let dir = tmp.join("service-tree");
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

#[cfg(not(target_os = "linux"))]
fn private_mount_namespace() -> BoxResult<PathBuf> {
    Err("mount namespaces are Linux-only".into())
}

fn owner(p: &Path) -> String {
    match std::fs::symlink_metadata(p) {
        Ok(m) => format!("{}:{}", m.uid(), m.gid()),
        Err(e) => format!("({e})"),
    }
}

/// A root image, version `v`: `/etc/version`, `/app/run.sh` (owned by 1000
/// on disk), and the empty directories the volume and overlay go on.
fn build_image(dir: &Path, v: &str) -> BoxResult<PathBuf> {
    let src = dir.join(format!("rootfs-v{v}"));
    for d in ["etc", "app", "data", "run"] {
        std::fs::create_dir_all(src.join(d))?;
    }
    std::fs::write(src.join("etc/version"), v)?;
    std::fs::write(src.join("app/run.sh"), format!("echo service v{v}\n"))?;
    std::os::unix::fs::chown(src.join("app/run.sh"), Some(1000), Some(1000))?;
    let img = dir.join(format!("rootfs-v{v}.sqfs"));
    let out = Command::new("mksquashfs")
        .arg(&src)
        .arg(&img)
        .args(["-noappend", "-quiet", "-no-progress"])
        .output()?;
    if !out.status.success() {
        return Err(format!("mksquashfs: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(img)
}

/// The pieces that stay the same across image versions.
struct Service {
    base: UserNs,
    volume_ns: UserNs,
    volume: PathBuf,
}

/// Assembles the service's tree on `image`, detached: nothing is mounted
/// anywhere a process could see until the caller attaches the result. The
/// overlay's upper and work directories go in `layer`, a new directory for
/// each tree: overlayfs allows one mounted overlay per upper directory
/// (two at once is undefined behaviour, says its warning), and during a
/// `replace` the old tree is still mounted while the new one is made.
fn assemble(s: &Service, image: &Path, layer: &Path) -> BoxResult<DetachedMount> {
    let (upper, work) = (layer.join("upper"), layer.join("work"));
    std::fs::create_dir_all(&upper)?;
    std::fs::create_dir_all(&work)?;
    let plain = mount_image(image, "squashfs", &MountAttr::new().readonly().nodev())?;
    // Id-mapped by cloning the detached image: no staging path.
    let root = plain.try_clone(true, &MountAttr::new().idmap(&s.base))?;
    drop(plain);
    DetachedMount::clone_tree_with(&s.volume, false, &MountAttr::new().idmap(&s.volume_ns))?
        .attach_in(&root, "/data")?;
    // The overlay's lower layer: the image's /app, cloned out of the
    // detached, id-mapped root (it keeps the map).
    let app = DetachedMount::clone_tree_at(&root, "app", false, &MountAttr::new())?;
    Overlay::new()
        .lower_fd(&app)
        .upper(&upper, &work)
        .mount(&MountAttr::new().nodev())?
        .attach_in(&root, "/app")?;
    Ok(root)
}

fn run(dir: &Path) -> BoxResult<()> {
    let v1 = build_image(dir, "1")?;
    let v2 = build_image(dir, "2")?;
    let volume = dir.join("volume");
    std::fs::create_dir_all(&volume)?;
    std::fs::write(volume.join("db"), b"rows")?;
    std::fs::create_dir_all(dir.join("target"))?;

    let base: IdMap = "0:100000:65536".parse()?;
    // The service's own map, over the ids the container's base map shows:
    // its root (100000) becomes 200000.
    let service: IdMap = "100000:200000:65536".parse()?;
    let composed = base.compose(&service)?;
    println!("maps: base {base}, service {service}, composed into {composed}");

    let t = Instant::now();
    let s = Service {
        base: UserNs::from_idmap(&base)?,
        volume_ns: UserNs::from_idmap(&composed)?,
        volume,
    };
    let t_ns = t.elapsed();

    let t = Instant::now();
    let layer = |i: usize| dir.join(format!("layer-{i}"));
    let tree = assemble(&s, &v1, &layer(0))?;
    let t_assemble = t.elapsed();
    let target = dir.join("target");
    let t = Instant::now();
    let mounted = tree.attach(&target)?;
    let t_attach = t.elapsed();
    println!(
        "user namespaces {t_ns:?}; assembled detached in {t_assemble:?}; attached at once in {t_attach:?}"
    );
    println!(
        "mounts under the target: {}",
        mountfd::mounts_under(&target)?.len()
    );
    for p in ["", "etc/version", "app/run.sh", "data", "data/db"] {
        let path = target.join(p);
        println!("  {:<50} owner {}", path.display(), owner(&path));
    }
    std::fs::write(target.join("app/state"), b"written by the service")?;
    println!(
        "  a write to /app lands in the upper layer: {}",
        layer(0).join("upper/state").exists()
    );
    drop(mounted);

    // The update, with a reader in the tree meanwhile.
    let stop = AtomicBool::new(false);
    let file = target.join("etc/version");
    let swaps: u32 = 101;
    let (reads, failures, spent) = std::thread::scope(|sc| -> BoxResult<_> {
        let reader = sc.spawn(|| {
            let (mut reads, mut failures) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                if std::fs::read(&file).is_err() {
                    failures += 1;
                }
                reads += 1;
            }
            (reads, failures)
        });
        let mut spent = Duration::ZERO;
        // v1 -> v2, then back and forth, ending on v2: each swap a freshly
        // assembled tree.
        for i in 0..swaps {
            let next = assemble(
                &s,
                if i % 2 == 0 { &v2 } else { &v1 },
                &layer(i as usize + 1),
            )?;
            let t = Instant::now();
            let old = next.replace(&target)?;
            spent += t.elapsed();
            drop(old);
            if i == 0 {
                println!(
                    "updated to version {} by replace",
                    std::fs::read_to_string(&file)?
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
        let (reads, failures) = reader.join().expect("reader");
        Ok((reads, failures, spent))
    })?;
    println!(
        "{swaps} replaces, {:?} each; the reader: {reads} reads, {failures} failures",
        spent / swaps
    );
    println!(
        "now at version {}, the volume still shows {}",
        std::fs::read_to_string(&file)?,
        owner(&target.join("data/db"))
    );
    Ok(())
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    if !rustix::process::geteuid().is_root() {
        eprintln!("service_tree: run as root (it mounts)");
        return ExitCode::FAILURE;
    }
    if Command::new("mksquashfs").arg("-version").output().is_err() {
        eprintln!("service_tree: mksquashfs not found; install squashfs-tools (scripts/test does)");
        return ExitCode::FAILURE;
    }
    let dir = match private_mount_namespace() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("service_tree: no private mount namespace: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service_tree: {e}");
            ExitCode::FAILURE
        }
    }
}
