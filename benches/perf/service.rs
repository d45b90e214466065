//! The end-to-end service group (issue 12), standalone:
//! `cargo bench --bench perf -- --service-only [ROUNDS]`.
//!
//! One service's mount tree, brought up, updated to a second image version
//! and taken down, two ways, in alternating rounds (and again in rounds of
//! their own with a reader thread opening a file in the tree throughout the
//! update, which count the reader's failures and are not timed):
//!
//! - **crate**: the `service_tree` example's flow. Four user namespaces
//!   (`UserNs::from_idmap`: the container's base map, and the base map
//!   composed with each volume's own map); the squashfs image mounted
//!   detached (`mount_image`) and id-mapped by cloning it; three volumes
//!   cloned id-mapped into it (`attach_in`); an overlay on the image's
//!   id-mapped `/app`; the tree attached with one `move_mount`. The update
//!   assembles the tree on the second image the same way (the namespaces
//!   are kept) and swaps it in with `replace`; the old tree is dropped.
//! - **staged**: the same tree the way StartOS builds it today: `mount -o
//!   loop` spawned for the image at a staging path; a user namespace from a
//!   spawned helper process (`unshare --user`, its maps written from here)
//!   for each of the four maps; each id-mapped piece (the image, each
//!   volume) bind-mounted at a staging path by a spawned `mount --bind`,
//!   cloned id-mapped from there by hand-rolled `open_tree` +
//!   `mount_setattr` + `move_mount` onto the live target, and the staging
//!   mount removed by a spawned `umount`; the overlay by a spawned `mount
//!   -t overlay`. The update is a spawned `umount -R -l` of the target, then
//!   the same bring-up on the second image (lazy: `-l`, as the reader holds
//!   files open in the tree).
//!
//! Each overlay, in both flows, gets upper and work directories of its own
//! (see [`Fixture::layer`]). Both end with the tree unmounted. It prints each flow's median time per
//! round (bring-up + update + take-down), their ratio, and the reader's
//! failures during the updates (a read that found no file).

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use mountfd::{mount_image, DetachedMount, IdMap, MountAttr, Overlay, UnmountFlags, UserNs};

const BASE: &str = "0:100000:65536";
/// Each volume's own map, over the ids the base map shows.
const VOLUME_MAPS: [&str; 3] = [
    "100000:200000:65536",
    "100000:300000:65536",
    "100000:400000:65536",
];

struct Fixture {
    images: [PathBuf; 2],
    volumes: Vec<PathBuf>,
    /// Where each overlay gets its own upper and work directories.
    layers: PathBuf,
    made: AtomicU64,
    target: PathBuf,
    staging: PathBuf,
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.stderr(Stdio::inherit()).output().expect("spawn");
    assert!(out.status.success(), "{cmd:?} failed");
}

fn fixture(base: &Path) -> Fixture {
    let image = |v: &str| {
        let src = base.join(format!("rootfs-v{v}"));
        for d in ["etc", "app", "data/v0", "data/v1", "data/v2"] {
            fs::create_dir_all(src.join(d)).unwrap();
        }
        fs::write(src.join("etc/version"), v).unwrap();
        fs::write(src.join("app/run.sh"), format!("echo v{v}\n")).unwrap();
        let img = base.join(format!("rootfs-v{v}.sqfs"));
        run_ok(Command::new("mksquashfs").arg(&src).arg(&img).args([
            "-noappend",
            "-quiet",
            "-no-progress",
        ]));
        img
    };
    let volumes = (0..3)
        .map(|i| {
            let v = base.join(format!("volume{i}"));
            fs::create_dir_all(&v).unwrap();
            fs::write(v.join("db"), b"rows").unwrap();
            v
        })
        .collect();
    let dirs: Vec<PathBuf> = ["layers", "target", "staging"]
        .iter()
        .map(|d| {
            let p = base.join(d);
            fs::create_dir_all(&p).unwrap();
            p
        })
        .collect();
    Fixture {
        images: [image("1"), image("2")],
        volumes,
        layers: dirs[0].clone(),
        made: AtomicU64::new(0),
        target: dirs[1].clone(),
        staging: dirs[2].clone(),
    }
}

impl Fixture {
    /// New upper and work directories for one overlay: overlayfs allows one
    /// mounted overlay per upper directory (two is undefined behaviour, its
    /// warning says), and while an update runs the old tree is still
    /// mounted. Both flows make them the same way.
    fn layer(&self) -> (PathBuf, PathBuf) {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let dir = self.layers.join(n.to_string());
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        fs::create_dir_all(&upper).unwrap();
        fs::create_dir_all(&work).unwrap();
        (upper, work)
    }
}

// --- the crate's flow ----------------------------------------------------------------

struct Namespaces {
    base: UserNs,
    volumes: Vec<UserNs>,
}

fn namespaces() -> Namespaces {
    let base: IdMap = BASE.parse().unwrap();
    Namespaces {
        base: UserNs::from_idmap(&base).unwrap(),
        volumes: VOLUME_MAPS
            .iter()
            .map(|m| UserNs::from_idmap(&base.compose(&m.parse().unwrap()).unwrap()).unwrap())
            .collect(),
    }
}

fn assemble(f: &Fixture, ns: &Namespaces, image: &Path) -> DetachedMount {
    let plain = mount_image(image, "squashfs", &MountAttr::new().readonly()).unwrap();
    let root = plain
        .try_clone(true, &MountAttr::new().idmap(&ns.base))
        .unwrap();
    drop(plain);
    for (i, (vol, userns)) in f.volumes.iter().zip(&ns.volumes).enumerate() {
        DetachedMount::clone_tree_with(vol, false, &MountAttr::new().idmap(userns))
            .unwrap()
            .attach_in(&root, format!("/data/v{i}"))
            .unwrap();
    }
    let app = DetachedMount::clone_tree_at(&root, "app", false, &MountAttr::new()).unwrap();
    let (upper, work) = f.layer();
    Overlay::new()
        .lower_fd(&app)
        .upper(&upper, &work)
        .mount(&MountAttr::new())
        .unwrap()
        .attach_in(&root, "/app")
        .unwrap();
    root
}

fn crate_flow(f: &Fixture, update: impl FnOnce(&mut dyn FnMut())) {
    let ns = namespaces();
    let mounted = assemble(f, &ns, &f.images[0]).attach(&f.target).unwrap();
    drop(mounted);
    update(&mut || drop(assemble(f, &ns, &f.images[1]).replace(&f.target).unwrap()));
    // One lazy unmount takes the whole tree (`umount -l`).
    mountfd::unmount(&f.target, UnmountFlags::DETACH).unwrap();
}

// --- the staged flow, as StartOS does it today ---------------------------------------

/// A user namespace from a spawned helper: `unshare --user` runs a shell
/// that says it is ready and sleeps; its maps are written from here, its
/// namespace opened, and the helper killed.
fn helper_userns(map: &IdMap) -> OwnedFd {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("unshare")
        .args(["--user", "--", "sh", "-c", "echo r; exec sleep 1000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("unshare");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let proc = PathBuf::from(format!("/proc/{}", child.id()));
    let text = map.to_proc_map();
    fs::write(proc.join("uid_map"), &text).unwrap();
    fs::write(proc.join("gid_map"), &text).unwrap();
    let ns = fs::File::open(proc.join("ns/user")).unwrap().into();
    child.kill().unwrap();
    child.wait().unwrap();
    ns
}

/// `open_tree(staging, OPEN_TREE_CLONE)`, `mount_setattr(IDMAP)`,
/// `move_mount` onto `dst`, as a caller without the crate writes them.
fn idmap_from_staging(staging: &Path, userns: &OwnedFd, dst: &Path) {
    use rustix::mount::{move_mount, open_tree, MountAttrFlags, MoveMountFlags, OpenTreeFlags};
    let tree = open_tree(
        rustix::fs::CWD,
        staging,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .unwrap();
    let attr = linux_raw_sys::general::mount_attr {
        attr_set: MountAttrFlags::MOUNT_ATTR_IDMAP.bits() as u64,
        attr_clr: 0,
        propagation: 0,
        userns_fd: std::os::fd::AsRawFd::as_raw_fd(userns) as u64,
    };
    // SAFETY: `attr` is a live, initialized `struct mount_attr` of the size
    // passed; the fd and the empty path are valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(&tree),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const _,
            std::mem::size_of_val(&attr),
        )
    };
    assert_eq!(r, 0, "mount_setattr: {}", std::io::Error::last_os_error());
    move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        dst,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .unwrap();
}

fn staged_bring_up(f: &Fixture, image: &Path) {
    let base: IdMap = BASE.parse().unwrap();
    let stage = f.staging.join("image");
    fs::create_dir_all(&stage).unwrap();
    run_ok(
        Command::new("mount")
            .args(["-t", "squashfs", "-o", "loop,ro"])
            .arg(image)
            .arg(&stage),
    );
    let ns = helper_userns(&base);
    idmap_from_staging(&stage, &ns, &f.target);
    run_ok(Command::new("umount").arg(&stage));
    for (i, (vol, map)) in f.volumes.iter().zip(VOLUME_MAPS).enumerate() {
        let stage = f.staging.join(format!("v{i}"));
        fs::create_dir_all(&stage).unwrap();
        run_ok(Command::new("mount").arg("--bind").arg(vol).arg(&stage));
        let ns = helper_userns(&base.compose(&map.parse().unwrap()).unwrap());
        idmap_from_staging(&stage, &ns, &f.target.join(format!("data/v{i}")));
        run_ok(Command::new("umount").arg(&stage));
    }
    let app = f.target.join("app");
    let (upper, work) = f.layer();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        app.display(),
        upper.display(),
        work.display()
    );
    run_ok(
        Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&app),
    );
}

fn staged_flow(f: &Fixture, update: impl FnOnce(&mut dyn FnMut())) {
    staged_bring_up(f, &f.images[0]);
    update(&mut || {
        // Lazily: the reader holds files open in the tree (a plain
        // `umount -R` fails with EBUSY).
        run_ok(Command::new("umount").args(["-R", "-l"]).arg(&f.target));
        staged_bring_up(f, &f.images[1]);
    });
    run_ok(Command::new("umount").arg("-R").arg(&f.target));
}

// --- the comparison ------------------------------------------------------------------

/// The tree as a user sees it: owners through the maps, and its mounts.
fn check_tree(f: &Fixture, flow: &str) {
    let t = &f.target;
    let uid = |p: &str| fs::metadata(t.join(p)).unwrap().uid();
    assert_eq!(uid("etc/version"), 100000, "{flow}: the image's map");
    for i in 0..3 {
        assert_eq!(
            uid(&format!("data/v{i}/db")),
            200000 + 100000 * i as u32,
            "{flow}: volume {i}'s composed map"
        );
    }
    assert_eq!(
        uid("app/run.sh"),
        100000,
        "{flow}: the overlay's lower layer"
    );
    assert_eq!(mountfd::mounts_under(t).unwrap().len(), 5, "{flow}: mounts");
}

/// Runs `update` while a reader opens `target/etc/version` in a loop;
/// returns the update's duration and the reader's failures and reads.
fn read_during(f: &Fixture, update: &mut dyn FnMut()) -> (f64, [u64; 2]) {
    let stop = AtomicBool::new(false);
    let failures = AtomicU64::new(0);
    let reads = AtomicU64::new(0);
    let file = f.target.join("etc/version");
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if fs::read(&file).is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        });
        // The update starts once the reader is reading.
        while reads.load(Ordering::Relaxed) == 0 {
            std::hint::spin_loop();
        }
        // Stops the reader even if the update panics (else the scope
        // would wait for it for ever).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        let t = Instant::now();
        update();
        let spent = t.elapsed().as_secs_f64() * 1e3;
        let seen = [
            failures.load(Ordering::Relaxed),
            reads.load(Ordering::Relaxed),
        ];
        (spent, seen)
    })
}

/// One round of a flow: (total ms, update ms, [reader failures, reads]). With
/// `reader`, a thread opens a file in the tree throughout the update; it
/// competes for this machine's two CPUs, so timed rounds run without it.
fn round(f: &Fixture, flow: &str, reader: bool) -> (f64, f64, [u64; 2]) {
    let (mut upd, mut fails) = (0.0, [0, 0]);
    // The checks of the tree are not part of either flow: their time is
    // taken out of the total.
    let mut checking = std::time::Duration::ZERO;
    let t = Instant::now();
    let update = |u: &mut dyn FnMut()| {
        let c = Instant::now();
        check_tree(f, flow);
        checking += c.elapsed();
        (upd, fails) = if reader {
            read_during(f, u)
        } else {
            let t = Instant::now();
            u();
            (t.elapsed().as_secs_f64() * 1e3, [0, 0])
        };
        let c = Instant::now();
        check_tree(f, flow);
        assert_eq!(
            fs::read_to_string(f.target.join("etc/version")).unwrap(),
            "2"
        );
        checking += c.elapsed();
    };
    match flow {
        "crate" => crate_flow(f, update),
        _ => staged_flow(f, update),
    }
    let total = (t.elapsed() - checking).as_secs_f64() * 1e3;
    assert!(
        !mountfd::is_mountpoint(&f.target).unwrap(),
        "{flow}: left mounted"
    );
    (total, upd, fails)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the group and prints its table.
pub fn standalone(rounds: usize) {
    assert!(mountfd_testing::enter_private_mount_ns());
    let base = PathBuf::from(format!("/tmp/mountfd-bench-service-{}", std::process::id()));
    fs::create_dir_all(&base).unwrap();
    let f = fixture(&base);
    let loops_before = loop_devices();
    // One untimed round each: page cache, the binaries, the allocator.
    round(&f, "crate", false);
    round(&f, "staged", false);
    let mut timed: [Vec<(f64, f64, [u64; 2])>; 2] = Default::default();
    let mut read: [Vec<[u64; 2]>; 2] = Default::default();
    for _ in 0..rounds {
        for (i, flow) in ["crate", "staged"].into_iter().enumerate() {
            timed[i].push(round(&f, flow, false));
            read[i].push(round(&f, flow, true).2);
        }
    }
    let col =
        |r: &[(f64, f64, [u64; 2])], i: usize| median(r.iter().map(|x| [x.0, x.1][i]).collect());
    println!(
        "# service tree end to end: image + 3 id-mapped volumes + overlay, median of {rounds} rounds"
    );
    println!(
        "| flow | bring-up + update + take-down | the update | reader: failures / reads in each update |"
    );
    println!("|---|---:|---:|---|");
    let names = [
        "crate: assembled detached, attached once, `replace`",
        "staged (StartOS today): spawned `mount`, helpers, staging mounts; `umount -R -l` + mount",
    ];
    for i in 0..2 {
        let seen: Vec<String> = read[i].iter().map(|[f, r]| format!("{f}/{r}")).collect();
        println!(
            "| {} | {:.2} ms | {:.2} ms | {} |",
            names[i],
            col(&timed[i], 0),
            col(&timed[i], 1),
            seen.join(", ")
        );
    }
    println!(
        "ratio (staged / crate): end to end {:.1}×, the update {:.1}×",
        col(&timed[1], 0) / col(&timed[0], 0),
        col(&timed[1], 1) / col(&timed[0], 1)
    );
    assert_eq!(loop_devices(), loops_before, "a loop device was left bound");
}

/// The loop devices bound now (their names), from sysfs.
fn loop_devices() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let bound = fs::metadata(format!("/sys/block/{name}/loop/backing_file")).is_ok();
            (name.starts_with("loop") && bound).then_some(name)
        })
        .collect();
    v.sort();
    v
}
