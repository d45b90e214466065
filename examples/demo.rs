//! A tour of `mountfd`, run as root with no arguments:
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! It makes its own private mount namespace and scratch tree (a tmpfs that
//! vanishes with the process), so nothing reaches the host's mount table,
//! then shows, with `stat` owners before and after, what each step does.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use mountfd::{mount_image, DetachedMount, IdMap, MountAttr, UserNs};

fn owner(p: &Path) -> String {
    match std::fs::symlink_metadata(p) {
        Ok(m) => format!("{}:{}", m.uid(), m.gid()),
        Err(e) => format!("({e})"),
    }
}

fn show(label: &str, paths: &[&Path]) {
    println!("  {label}");
    for p in paths {
        println!("    {:<40} owner {}", p.display(), owner(p));
    }
}

/// Gives this process a mount namespace of its own, in which every mount is
/// private, with a fresh tmpfs over `/tmp`: everything the demo mounts stays
/// in that namespace and vanishes with the process, and nothing it writes
/// reaches the host's disk.
///
/// A real program would run in a namespace its caller set up (a container
/// runtime, `unshare --mount`, a systemd unit with `PrivateMounts=`); the
/// demo makes its own so that it can be run as is.
#[cfg(target_os = "linux")]
fn private_mount_namespace() -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    use rustix::mount::{mount_change, MountPropagationFlags};
    use rustix::thread::{unshare_unsafe, UnshareFlags};
    let os = |op: &'static str| move |e: rustix::io::Errno| format!("{op}: {e}");
    // SAFETY: `unshare` is unsafe in rustix for `CLONE_FILES` (fds other
    // threads would no longer see); `CLONE_NEWNS` only gives this thread,
    // the only one so far, its own mount namespace and fs_struct.
    unsafe { unshare_unsafe(UnshareFlags::NEWNS) }.map_err(os("unshare(CLONE_NEWNS)"))?;
    // Without this, mounts made here would propagate to the host's shared
    // mounts (systemd makes `/` shared).
    mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(os("mount(MS_REC | MS_PRIVATE)"))?;
    // The scratch tmpfs, made with the crate itself.
    let tmp = std::env::temp_dir();
    mountfd::FsContext::new("tmpfs")?
        .mount(&MountAttr::new().nodev().nosuid())?
        .attach(&tmp)?;
    let dir = tmp.join("mountfd-demo");
    std::fs::create_dir(&dir).expect("scratch directory");
    Ok(dir)
}

#[cfg(not(target_os = "linux"))]
fn private_mount_namespace() -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    Err("mount namespaces are Linux-only".into())
}

fn run(dir: &Path) -> mountfd::Result<()> {
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sub")).expect("scratch tree");
    std::fs::write(data.join("config"), b"owned by root on disk\n").expect("scratch file");
    std::fs::write(data.join("sub/log"), b"").expect("scratch file");
    std::os::unix::fs::chown(data.join("sub/log"), Some(1000), Some(1000)).expect("chown");

    println!("1. An id-mapped bind mount: on-disk 0..65536 shows as 100000..165536");
    let map: IdMap = "0:100000:65536".parse()?;
    println!(
        "   map text written to uid_map/gid_map: {:?}",
        map.to_proc_map()
    );
    let ns = UserNs::from_idmap(&map)?;
    let view = dir.join("view");
    std::fs::create_dir(&view).expect("mount point");
    show(
        "before (the data on disk):",
        &[&data.join("config"), &data.join("sub/log")],
    );
    DetachedMount::clone_tree_idmapped(&data, false, &ns)?.attach(&view)?;
    show(
        "after, through the mount:",
        &[&view.join("config"), &view.join("sub/log")],
    );

    println!("\n2. Re-mapping that id-mapped mount (open_tree_attr, atomic): 0 now shows as 2000");
    let remapped = dir.join("remapped");
    std::fs::create_dir(&remapped).expect("mount point");
    let ns2 = UserNs::from_idmap(&"0:2000:65536".parse()?)?;
    DetachedMount::clone_tree_idmapped(&view, false, &ns2)?.attach(&remapped)?;
    show("source mount (still 0->100000):", &[&view.join("config")]);
    show(
        "re-mapped mount:",
        &[&remapped.join("config"), &remapped.join("sub/log")],
    );
    let two_step =
        DetachedMount::clone_tree(&view, false)?.set_attr(&MountAttr::new().idmap(&ns2), false);
    println!(
        "   the two-step clone + mount_setattr on the same source: {}",
        describe(two_step)
    );

    println!("\n3. A read-only, id-mapped mount refuses writes");
    let ro = dir.join("readonly");
    std::fs::create_dir(&ro).expect("mount point");
    DetachedMount::clone_tree_with(&data, true, &MountAttr::new().idmap(&ns).readonly())?
        .attach(&ro)?;
    match std::fs::write(ro.join("config"), b"changed") {
        Ok(()) => println!("   write succeeded (unexpected!)"),
        Err(e) => println!("   write to {}: {e}", ro.join("config").display()),
    }

    println!(
        "\n4. A multi-extent map: uids 0 and 1000 go to different ranges, the rest is unmapped"
    );
    let multi: IdMap = "0:100000:1,1000:201000:10".parse()?;
    let ns3 = UserNs::from_idmap(&multi)?;
    let mv = dir.join("multi");
    std::fs::create_dir(&mv).expect("mount point");
    std::fs::write(data.join("stray"), b"").expect("scratch file");
    std::os::unix::fs::chown(data.join("stray"), Some(5), Some(5)).expect("chown");
    DetachedMount::clone_tree_idmapped(&data, false, &ns3)?.attach(&mv)?;
    show(
        "before:",
        &[
            &data.join("config"),
            &data.join("sub/log"),
            &data.join("stray"),
        ],
    );
    show(
        "after (5 is outside the map, so it shows as the overflow id):",
        &[&mv.join("config"), &mv.join("sub/log"), &mv.join("stray")],
    );

    println!("\n5. A filesystem image, mounted without mount(8), id-mapped and read-only");
    match build_image(dir, &data) {
        None => println!("   skipped: neither mksquashfs nor mkfs.ext4 is installed"),
        Some((image, fstype)) => {
            let mounted = dir.join("image");
            std::fs::create_dir(&mounted).expect("mount point");
            let attr = MountAttr::new().readonly().idmap(&ns);
            mount_image(&image, fstype, &attr)?.attach(&mounted)?;
            println!("   {fstype} image {}", image.display());
            match loop_device_of(&image) {
                Some(dev) => {
                    println!("   attached through {dev} (autoclear: it goes when the mount goes)")
                }
                None => println!("   mounted from the file itself, no loop device"),
            }
            show(
                "its files, through the mount:",
                &[&mounted.join("config"), &mounted.join("sub/log")],
            );
            match std::fs::write(mounted.join("config"), b"changed") {
                Ok(()) => println!("   write succeeded (unexpected!)"),
                Err(e) => println!("   write to {}: {e}", mounted.join("config").display()),
            }
        }
    }
    Ok(())
}

/// Builds an image of `src` with mksquashfs, or else mkfs.ext4, whichever
/// is installed; `None` if neither is.
fn build_image(dir: &Path, src: &Path) -> Option<(std::path::PathBuf, &'static str)> {
    use std::process::{Command, Stdio};
    let quiet = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let sqfs = dir.join("data.sqfs");
    if quiet(
        Command::new("mksquashfs")
            .arg(src)
            .arg(&sqfs)
            .args(["-noappend", "-quiet"]),
    ) {
        return Some((sqfs, "squashfs"));
    }
    let ext4 = dir.join("data.ext4");
    std::fs::write(&ext4, vec![0u8; 8 << 20]).ok()?;
    quiet(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(src)
            .arg(&ext4),
    )
    .then_some((ext4, "ext4"))
}

/// The `/dev/loopN` whose backing file is `image`, from sysfs.
fn loop_device_of(image: &Path) -> Option<String> {
    std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .find_map(|e| {
            let backing = std::fs::read_to_string(e.path().join("loop/backing_file")).ok()?;
            (Path::new(backing.trim_end()) == image)
                .then(|| format!("/dev/{}", e.file_name().to_string_lossy()))
        })
}

fn describe(r: mountfd::Result<()>) -> String {
    match r {
        Ok(()) => "succeeded".into(),
        Err(e) => format!("refused: {e}"),
    }
}

fn main() -> ExitCode {
    let dir = match private_mount_namespace() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!(
                "demo: run as root (it mounts, inside a private mount namespace of its own): {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    match run(&dir) {
        Ok(()) => {
            println!("\nDone: the mounts vanish with this process's private mount namespace.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}
