//! The harness itself; see the crate docs in `main.rs`.

use crate::chart;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use mountfd::{
    mount_image, DetachedMount, IdMap, LoopDevice, LoopOptions, MountAttr, UserNs, UserNsCache,
};

// ---------------------------------------------------------------- options

struct Opts {
    /// A real run (`cargo bench`), or a smoke run (`cargo test`).
    bench: bool,
    rounds: usize,
    /// Caller sizes at which every case runs.
    main_rss: Vec<usize>,
    /// Extra caller sizes for the user-namespace chart only.
    chart_rss: Vec<usize>,
    /// Batch sizes are multiplied by this (0.25 in `--quick`).
    scale: f64,
    mem_iters: usize,
    only: Option<Vec<String>>,
    out: PathBuf,
    /// `--probe CASE N`: only run crate case CASE N times (for strace/perf,
    /// and for the fresh-process cases).
    probe: Option<(String, usize)>,
    /// `--probe-rss MIB`: the caller size of a probe.
    probe_rss: usize,
}

impl Opts {
    fn parse() -> Opts {
        let mut args = std::env::args().skip(1);
        let mut o = Opts {
            bench: false,
            rounds: 11,
            main_rss: vec![16, 2048],
            chart_rss: vec![256, 1024],
            scale: 1.0,
            mem_iters: 10_000,
            only: None,
            probe: None,
            probe_rss: 0,
            out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench"),
        };
        let list = |v: Option<String>| -> Vec<usize> {
            v.unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().expect("a list of MiB"))
                .collect()
        };
        while let Some(a) = args.next() {
            match a.as_str() {
                "--bench" => o.bench = true,
                "--quick" => {
                    o.rounds = 3;
                    o.scale = 0.25;
                    o.chart_rss.clear();
                    o.mem_iters = 2_000;
                }
                "--rounds" => o.rounds = args.next().and_then(|v| v.parse().ok()).expect("N"),
                "--rss" => o.main_rss = list(args.next()),
                "--chart-rss" => o.chart_rss = list(args.next()),
                "--mem-iters" => {
                    o.mem_iters = args.next().and_then(|v| v.parse().ok()).expect("N");
                }
                "--only" => {
                    o.only = Some(
                        args.next()
                            .expect("groups")
                            .split(',')
                            .map(str::to_owned)
                            .collect(),
                    );
                }
                "--probe" => {
                    let case = args.next().expect("CASE");
                    let n = args.next().and_then(|v| v.parse().ok()).expect("N");
                    o.probe = Some((case, n));
                }
                "--probe-rss" => {
                    o.probe_rss = args.next().and_then(|v| v.parse().ok()).expect("MIB");
                }
                "--out" => {
                    let p = PathBuf::from(args.next().expect("DIR"));
                    // cargo runs benches in the package root; keep relative
                    // paths relative to it either way.
                    o.out = if p.is_absolute() {
                        p
                    } else {
                        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
                    };
                }
                // libtest-style flags that cargo may pass; nothing to do.
                _ => {}
            }
        }
        if !o.bench {
            o.rounds = 1;
            o.main_rss = vec![16];
            o.chart_rss.clear();
            o.scale = 0.0;
            o.mem_iters = 100;
        }
        o
    }

    fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|g| g.iter().any(|x| x == group))
    }
}

// ---------------------------------------------------------------- fixtures

/// What the cases work on, all inside the private tmpfs that
/// `enter_private_mount_ns` mounts over the temporary directory (`/tmp`).
struct Ctx {
    dir: PathBuf,
    src: PathBuf,
    dst: PathBuf,
    backing: PathBuf,
    /// `backing`, held open as `loop-cycle` holds it.
    backing_file: std::fs::File,
    image: Option<PathBuf>,
    reference: Option<PathBuf>,
    map: IdMap,
    ns: UserNs,
    cache: UserNsCache,
}

impl Ctx {
    fn new(reference: Option<&(PathBuf, Vec<u8>)>, image: bool) -> Ctx {
        let dir = std::env::temp_dir().join("mountfd-bench");
        let (src, dst) = (dir.join("src"), dir.join("dst"));
        for d in [&src, &dst] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(src.join("file"), b"x").unwrap();
        // The same 64 MiB sparse file as the reference's loop-cycle.
        let backing = dir.join("backing.img");
        std::fs::File::create(&backing)
            .and_then(|f| f.set_len(64 << 20))
            .unwrap();
        let image = if image { make_squashfs(&dir) } else { None };
        let backing_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&backing)
            .unwrap();
        let reference = reference.and_then(|r| build_reference(&dir, r));
        let map: IdMap = "0:100000:65536".parse().unwrap();
        let ns = UserNs::from_idmap(&map).expect("a user namespace (root and Linux 5.12+)");
        Ctx {
            dir,
            src,
            dst,
            backing,
            backing_file,
            image,
            reference,
            map,
            ns,
            cache: UserNsCache::default(),
        }
    }
}

fn make_squashfs(dir: &Path) -> Option<PathBuf> {
    let content = dir.join("image-content");
    std::fs::create_dir_all(content.join("etc")).unwrap();
    std::fs::write(content.join("etc/os-release"), b"ID=bench\n").unwrap();
    std::fs::write(content.join("data"), vec![7u8; 64 << 10]).unwrap();
    let image = dir.join("small.squashfs");
    let ok = Command::new("mksquashfs")
        .arg(&content)
        .arg(&image)
        .args(["-noappend", "-quiet", "-no-progress"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("perf: mksquashfs is missing or failed: skipping the image cases");
    }
    ok.then_some(image)
}

/// Reads `reference.c`, found beside the repository as laid out for
/// development and CI, or through `MOUNTFD_REFERENCE_C`. Read before the
/// private namespace hides the caller's `/tmp`.
fn reference_source() -> Option<(PathBuf, Vec<u8>)> {
    let src = std::env::var_os("MOUNTFD_REFERENCE_C")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/reference.c")
        });
    match std::fs::read(&src) {
        Ok(text) => Some((src, text)),
        Err(e) => {
            eprintln!(
                "perf: {}: {e} (set MOUNTFD_REFERENCE_C): skipping the reference modes",
                src.display()
            );
            None
        }
    }
}

/// Builds the reference with `cc` in the private `/tmp`, gone with the
/// namespace.
fn build_reference(dir: &Path, (path, text): &(PathBuf, Vec<u8>)) -> Option<PathBuf> {
    let (src, out) = (dir.join("reference.c"), dir.join("reference"));
    std::fs::write(&src, text).unwrap();
    let ok = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "perf: cc failed on {}: skipping the reference modes",
            path.display()
        );
    }
    ok.then_some(out)
}

// ---------------------------------------------------------------- cases

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Measured in this process.
    Crate,
    /// A mode of reference.c, measured by itself in a child process.
    Reference(&'static str),
    /// Commands spawned from this process, as callers without the crate do.
    Spawned,
    /// The crate case of this name, measured by itself in a fresh child
    /// process (`--probe`) with the same caller size: the same conditions
    /// as a reference mode.
    Fresh(&'static str),
}

struct Case {
    group: &'static str,
    name: &'static str,
    kind: Kind,
    /// Operations per batch at a caller size in MiB, before `--quick` scaling.
    batch: fn(usize) -> usize,
    /// Runs `n` operations (crate and spawned cases).
    run: Option<fn(&Ctx, usize)>,
    /// Also at the chart-only caller sizes.
    chart: bool,
}

/// A batch size that shrinks with the caller size, for methods whose cost
/// grows with it (fork copies page tables).
fn by_size(at_16: usize, rss: usize) -> usize {
    (at_16 * 16 / rss.max(16)).max(2)
}

fn unmount(p: &Path) {
    rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH).expect("umount2");
}

fn spawn_ok(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::inherit()).output().expect("spawn");
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn cases() -> Vec<Case> {
    use Kind::*;
    vec![
        // -- user namespaces
        Case {
            group: "userns",
            name: "UserNs::from_idmap",
            kind: Crate,
            batch: |_| 100,
            run: Some(|c, n| {
                for _ in 0..n {
                    drop(UserNs::from_idmap(&c.map).unwrap());
                }
            }),
            chart: true,
        },
        Case {
            group: "userns",
            name: "UserNs::from_idmap (fresh process)",
            kind: Fresh("UserNs::from_idmap"),
            batch: |_| 100,
            run: None,
            chart: true,
        },
        Case {
            group: "userns",
            name: "UserNsCache::get_idmap (hit)",
            kind: Crate,
            batch: |_| 4000,
            run: Some(|c, n| {
                for _ in 0..n {
                    drop(std::hint::black_box(c.cache.get_idmap(&c.map).unwrap()));
                }
            }),
            chart: false,
        },
        Case {
            group: "userns",
            name: "userns-clone",
            kind: Reference("userns-clone"),
            batch: |_| 100,
            run: None,
            chart: true,
        },
        Case {
            group: "userns",
            name: "userns-fork",
            kind: Reference("userns-fork"),
            batch: |rss| by_size(40, rss).min(20),
            run: None,
            chart: true,
        },
        Case {
            group: "userns",
            name: "userns-exec",
            kind: Reference("userns-exec"),
            batch: |rss| by_size(10, rss).min(10),
            run: None,
            chart: true,
        },
        // -- id-mapped bind cycle
        Case {
            group: "bind",
            name: "bind cycle, fresh UserNs",
            kind: Crate,
            batch: |_| 100,
            run: Some(|c, n| {
                for _ in 0..n {
                    let ns = UserNs::from_idmap(&c.map).unwrap();
                    DetachedMount::clone_tree_idmapped(&c.src, false, &ns)
                        .unwrap()
                        .attach(&c.dst)
                        .unwrap();
                    unmount(&c.dst);
                }
            }),
            chart: false,
        },
        Case {
            group: "bind",
            name: "bind cycle, reused UserNs",
            kind: Crate,
            batch: |_| 400,
            run: Some(|c, n| {
                for _ in 0..n {
                    DetachedMount::clone_tree_idmapped(&c.src, false, &c.ns)
                        .unwrap()
                        .attach(&c.dst)
                        .unwrap();
                    unmount(&c.dst);
                }
            }),
            chart: false,
        },
        Case {
            group: "bind",
            name: "bind cycle, reused UserNs (fresh process)",
            kind: Fresh("bind cycle, reused UserNs"),
            batch: |_| 400,
            run: None,
            chart: false,
        },
        Case {
            group: "bind",
            name: "bind cycle, UserNsCache",
            kind: Crate,
            batch: |_| 400,
            run: Some(|c, n| {
                for _ in 0..n {
                    let ns = c.cache.get_idmap(&c.map).unwrap();
                    DetachedMount::clone_tree_idmapped(&c.src, false, &ns)
                        .unwrap()
                        .attach(&c.dst)
                        .unwrap();
                    unmount(&c.dst);
                }
            }),
            chart: false,
        },
        Case {
            group: "bind",
            name: "bind-fresh",
            kind: Reference("bind-fresh"),
            batch: |_| 100,
            run: None,
            chart: false,
        },
        Case {
            group: "bind",
            name: "bind-cached",
            kind: Reference("bind-cached"),
            batch: |_| 400,
            run: None,
            chart: false,
        },
        Case {
            group: "bind",
            name: "spawned mount --bind + umount",
            kind: Spawned,
            batch: |_| 8,
            run: Some(|c, n| {
                for _ in 0..n {
                    spawn_ok(Command::new("mount").arg("--bind").arg(&c.src).arg(&c.dst));
                    spawn_ok(Command::new("umount").arg(&c.dst));
                }
            }),
            chart: false,
        },
        // -- loop devices
        Case {
            group: "loop",
            name: "LoopDevice::attach + detach",
            kind: Crate,
            batch: |_| 50,
            run: Some(|c, n| {
                for _ in 0..n {
                    LoopDevice::attach(&c.backing, &LoopOptions::new())
                        .unwrap()
                        .detach()
                        .unwrap();
                }
            }),
            chart: false,
        },
        Case {
            group: "loop",
            name: "LoopDevice::attach + detach (fresh process)",
            kind: Fresh("LoopDevice::attach + detach"),
            batch: |_| 50,
            run: None,
            chart: false,
        },
        Case {
            group: "loop",
            name: "LoopDevice::attach_fd + detach",
            kind: Crate,
            batch: |_| 50,
            run: Some(|c, n| {
                use std::os::fd::AsFd;
                for _ in 0..n {
                    LoopDevice::attach_fd(c.backing_file.as_fd(), &LoopOptions::new())
                        .unwrap()
                        .detach()
                        .unwrap();
                }
            }),
            chart: false,
        },
        Case {
            group: "loop",
            name: "loop-cycle",
            kind: Reference("loop-cycle"),
            batch: |_| 50,
            run: None,
            chart: false,
        },
        Case {
            group: "loop",
            name: "spawned losetup --find + losetup -d",
            kind: Spawned,
            batch: |_| 6,
            run: Some(|c, n| {
                for _ in 0..n {
                    let dev = spawn_ok(
                        Command::new("losetup")
                            .args(["--find", "--show"])
                            .arg(&c.backing),
                    );
                    spawn_ok(Command::new("losetup").arg("-d").arg(dev.trim()));
                }
            }),
            chart: false,
        },
        // -- images
        Case {
            group: "image",
            name: "mount_image + attach + umount",
            kind: Crate,
            batch: |_| 30,
            run: Some(|c, n| {
                let image = c.image.as_ref().unwrap();
                for _ in 0..n {
                    mount_image(image, "squashfs", &MountAttr::new().readonly())
                        .unwrap()
                        .attach(&c.dst)
                        .unwrap();
                    unmount(&c.dst);
                }
            }),
            chart: false,
        },
        Case {
            group: "image",
            name: "spawned mount -o loop,ro + umount",
            kind: Spawned,
            batch: |_| 6,
            run: Some(|c, n| {
                let image = c.image.as_ref().unwrap();
                for _ in 0..n {
                    spawn_ok(
                        Command::new("mount")
                            .args(["-t", "squashfs", "-o", "loop,ro"])
                            .arg(image)
                            .arg(&c.dst),
                    );
                    spawn_ok(Command::new("umount").arg(&c.dst));
                }
            }),
            chart: false,
        },
    ]
}

/// Runs one batch; the mean time per operation in µs, or `None` if the
/// case cannot run here.
fn run_batch(ctx: &Ctx, case: &Case, n: usize, rss: usize) -> Option<f64> {
    if case.group == "image" && ctx.image.is_none() {
        return None;
    }
    match case.kind {
        Kind::Reference(mode) => {
            let bin = ctx.reference.as_ref()?;
            let mut cmd = Command::new(bin);
            cmd.args([mode, &n.to_string(), &rss.to_string()]);
            let text = run_child(&mut cmd, &ctx.dir, rss);
            let us = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix("us_per_op="))
                .and_then(|v| v.parse().ok());
            assert!(us.is_some(), "reference {mode} said {text:?}");
            us
        }
        Kind::Fresh(name) => {
            // A magic link: reaches this binary even where the private /tmp
            // hides the path it was started from.
            let mut cmd = Command::new("/proc/self/exe");
            cmd.args(["--bench", "--probe", name, &n.to_string()])
                .args(["--probe-rss", &rss.to_string()]);
            let text = run_child(&mut cmd, &ctx.dir, rss);
            // "NAME: X µs per operation over N"
            let us = text
                .rsplit_once(": ")
                .and_then(|(_, t)| t.split_whitespace().next())
                .and_then(|v| v.parse().ok());
            assert!(us.is_some(), "probe {name} said {text:?}");
            us
        }
        Kind::Crate | Kind::Spawned => {
            let run = case.run.unwrap();
            let t = Instant::now();
            run(ctx, n);
            Some(t.elapsed().as_secs_f64() * 1e6 / n as f64)
        }
    }
}

/// Runs a child that times itself and returns what it printed.
fn run_child(cmd: &mut Command, dir: &Path, rss: usize) -> String {
    let out = cmd
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn");
    assert!(out.status.success(), "{cmd:?} failed");
    // The kernel stays busy for a while after tearing down a large child
    // (and the forks it made): without a pause, the next case's batch can
    // take ten times its usual time. A quarter of a millisecond per MiB.
    std::thread::sleep(std::time::Duration::from_micros(rss as u64 * 250));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits, up to a second, until the CPUs were at least 90 % idle over 10 ms.
///
/// A batch leaves work behind in the kernel (namespaces and mounts are freed
/// by workqueues and RCU callbacks, loop devices torn down, large children's
/// memory returned); on two CPUs, that work would otherwise land on the next
/// batch, whichever case it is. Every batch waits the same way.
fn settle() {
    fn cpu_times() -> (u64, u64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let v: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal ...
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        (v.iter().take(8).sum(), idle)
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(1);
    let mut last = cpu_times();
    while Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let now = cpu_times();
        let (total, idle) = (now.0 - last.0, now.1 - last.1);
        if total > 0 && idle * 10 >= total * 9 {
            return;
        }
        last = now;
    }
}

// ---------------------------------------------------------------- caller size

/// A touched heap ballast that brings the process to a resident size.
struct Ballast(Vec<u8>);

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Ballast {
    /// Resizes the ballast so that VmRSS is about `mib` MiB.
    fn set(&mut self, mib: usize) -> u64 {
        self.0 = Vec::new();
        let base = status_kib("VmRSS:") as usize * 1024;
        let want = (mib << 20).saturating_sub(base);
        // vec![1; n] writes every byte, so every page is resident.
        self.0 = std::hint::black_box(vec![1u8; want]);
        status_kib("VmRSS:") >> 10
    }
}

// ---------------------------------------------------------------- results

#[derive(Default)]
struct Results {
    /// (caller MiB, case name) -> batch means in µs.
    samples: BTreeMap<(usize, &'static str), Vec<f64>>,
    /// Caller MiB -> measured VmRSS MiB.
    rss: BTreeMap<usize, u64>,
    tsv: String,
    notes: Vec<String>,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

impl Results {
    fn median(&self, rss: usize, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|((r, n), _)| *r == rss && *n == name)
            .and_then(|(_, v)| median(v))
    }
}

// ---------------------------------------------------------------- checks

/// What the run must leave as it found it.
#[derive(PartialEq, Debug)]
struct World {
    host_mounts: String,
    /// The loop devices that exist, and those of them that are bound.
    loops: BTreeSet<u32>,
    bound_loops: BTreeSet<u32>,
}

fn world() -> World {
    let loops = mountfd_testing::loop_device_numbers();
    let bound_loops = mountfd_testing::bound_loop_devices()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    World {
        // PID 1 lives in the host's mount namespace.
        host_mounts: std::fs::read_to_string("/proc/1/mountinfo").unwrap_or_default(),
        loops,
        bound_loops,
    }
}

/// Creates 10,000 namespaces and id-mapped mounts and follows the peak
/// resident size (VmHWM) from the end of a warm-up to the end, in tenths.
fn memory_check(ctx: &Ctx, iters: usize, res: &mut Results) -> bool {
    let cycle = || {
        let ns = UserNs::from_idmap(&ctx.map).unwrap();
        DetachedMount::clone_tree_idmapped(&ctx.src, false, &ns)
            .unwrap()
            .attach(&ctx.dst)
            .unwrap();
        unmount(&ctx.dst);
    };
    let fd_count = mountfd_testing::fd_count;
    let warm = (iters / 10).max(10);
    for _ in 0..warm {
        cycle();
    }
    let (rss0, fds0) = (status_kib("VmRSS:"), fd_count());
    let mut hwm = vec![status_kib("VmHWM:")];
    let step = (iters / 10).max(1);
    let mut done = 0;
    while done < iters {
        let n = step.min(iters - done);
        for _ in 0..n {
            cycle();
        }
        done += n;
        hwm.push(status_kib("VmHWM:"));
    }
    let (rss1, fds1) = (status_kib("VmRSS:"), fd_count());
    let growth = hwm.last().unwrap().saturating_sub(hwm[0]);
    let flat = growth == 0 && fds1 == fds0;
    let line = format!(
        "Peak memory over {iters} user namespaces + id-mapped mounts, after {warm} warm-up \
         cycles: VmHWM {} KiB at each tenth ({:?}), growth {growth} KiB; VmRSS {rss0} -> {rss1} \
         KiB; open fds {fds0} -> {fds1}: {}",
        hwm[0],
        hwm,
        if flat { "flat" } else { "NOT flat" }
    );
    println!("{line}");
    res.notes.push(line);
    flat
}

// ---------------------------------------------------------------- main

pub fn main() {
    let opts = Opts::parse();
    if !mountfd_testing::is_root() {
        println!("perf: skipped: the benchmarks mount and need root");
        return;
    }
    let before = world();
    // Everything from here on (and every command spawned) is in a private
    // mount namespace with its own /tmp.
    // Opened before the namespace hides the caller's /tmp, and written
    // through /proc/self/fd, which reaches the directory from any namespace.
    let out_dir = opts.bench.then(|| {
        std::fs::create_dir_all(&opts.out).unwrap();
        std::fs::File::open(&opts.out).unwrap()
    });
    let source = (opts.bench && opts.probe.is_none())
        .then(reference_source)
        .flatten();
    assert!(mountfd_testing::enter_private_mount_ns());
    if let Some((name, n)) = &opts.probe {
        let case = cases()
            .into_iter()
            .find(|c| c.name == name && c.run.is_some())
            .unwrap_or_else(|| panic!("no crate or spawned case named {name:?}"));
        let ctx = Ctx::new(None, case.group == "image");
        let mut ballast = Ballast(Vec::new());
        if opts.probe_rss > 0 {
            ballast.set(opts.probe_rss);
        }
        let us = run_batch(&ctx, &case, *n, opts.probe_rss).unwrap();
        println!("{name}: {us:.1} µs per operation over {n}");
        drop(ballast);
        return;
    }
    let ctx = Ctx::new(source.as_ref(), opts.wants("image"));
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| opts.wants(c.group))
        .collect();

    let mut levels: Vec<(usize, bool)> = opts.main_rss.iter().map(|&r| (r, true)).collect();
    levels.extend(
        opts.chart_rss
            .iter()
            .filter(|r| !opts.main_rss.contains(r))
            .map(|&r| (r, false)),
    );
    levels.sort_unstable();

    let mut res = Results::default();
    res.tsv
        .push_str("caller_mib\tcase\tround\tops\tus_per_op\n");
    let mut ballast = Ballast(Vec::new());
    let mut memory_flat = None;
    let start = Instant::now();
    for &(rss, main_level) in &levels {
        let measured = ballast.set(rss);
        res.rss.insert(rss, measured);
        let here: Vec<&Case> = cases
            .iter()
            .filter(|c| main_level || c.chart)
            .filter(|c| opts.bench || c.kind != Kind::Reference(""))
            .collect();
        eprintln!(
            "perf: caller RSS {measured} MiB: {} cases x {} rounds",
            here.len(),
            opts.rounds
        );
        // One untimed pass warms caches and the allocator.
        for c in &here {
            if matches!(c.kind, Kind::Crate | Kind::Spawned) {
                run_batch(&ctx, c, 1, rss);
            }
        }
        for round in 0..opts.rounds {
            for i in 0..here.len() {
                let c = here[(i + round) % here.len()];
                let n = (((c.batch)(rss) as f64 * opts.scale).round() as usize).max(1);
                if opts.bench {
                    settle();
                }
                let Some(us) = run_batch(&ctx, c, n, rss) else {
                    continue;
                };
                res.samples.entry((rss, c.name)).or_default().push(us);
                let _ = writeln!(res.tsv, "{rss}\t{}\t{round}\t{n}\t{us:.2}", c.name);
            }
        }
        if rss == levels[0].0 && opts.wants("memory") {
            memory_flat = Some(memory_check(&ctx, opts.mem_iters, &mut res));
        }
    }
    drop(ballast);
    let elapsed = start.elapsed().as_secs_f64();

    // Leave the private /tmp and the namespace as they were; then check
    // that nothing reached outside it.
    drop(ctx);
    // `LOOP_CTL_GET_FREE` makes a new device node whenever every existing
    // one is bound, and the kernel keeps it: remove those the run made.
    mountfd_testing::remove_new_loop_devices(&before.loops, "");
    let after = world();
    let kids = mountfd_testing::children();
    // Other processes (tests running beside the benchmark) may bind loop
    // devices meanwhile: what counts is that none is bound to a file of this
    // run and that no device node it made is left.
    let ours_bound: Vec<u32> = mountfd_testing::bound_loop_devices()
        .into_iter()
        .filter(|(_, file)| file.contains("/mountfd-bench/"))
        .map(|(n, _)| n)
        .collect();
    let left_nodes: Vec<u32> = after
        .loops
        .difference(&before.loops)
        .copied()
        .filter(|n| !after.bound_loops.contains(n))
        .collect();
    let mounts_same = before.host_mounts == after.host_mounts;
    let clean = mounts_same && ours_bound.is_empty() && left_nodes.is_empty() && kids.is_empty();
    let cleanup = format!(
        "After the run: host mount table {}; loop devices bound to this run's files: {:?}, \
         device nodes it left: {:?} ({} loop devices before, {} after, others' tests \
         included); children left: {}",
        if mounts_same { "unchanged" } else { "CHANGED" },
        ours_bound,
        left_nodes,
        before.loops.len(),
        after.loops.len(),
        kids.len()
    );
    eprintln!("perf: {cleanup}");
    res.notes.push(cleanup);

    if !opts.bench {
        assert!(clean, "the smoke run left something behind");
        println!(
            "perf: smoke run ok ({} cases); `cargo bench --bench perf` measures",
            cases.len()
        );
        return;
    }
    let report = report(&opts, &res, memory_flat, elapsed);
    println!("{report}");
    let out = PathBuf::from(format!(
        "/proc/self/fd/{}",
        out_dir.as_ref().unwrap().as_raw_fd()
    ));
    std::fs::write(out.join("results.md"), &report).unwrap();
    std::fs::write(out.join("results.tsv"), &res.tsv).unwrap();
    let svg = chart::userns_vs_rss(&res.samples_for_chart(), &res.rss);
    std::fs::write(out.join("userns-vs-rss.svg"), svg).unwrap();
    eprintln!(
        "perf: wrote results.md, results.tsv and userns-vs-rss.svg to {}",
        opts.out.display()
    );
    assert!(clean, "the run left something behind");
}

impl Results {
    /// Chart series: (label, [(caller MiB, median µs)]).
    fn samples_for_chart(&self) -> Vec<(&'static str, Vec<(usize, f64)>)> {
        [
            ("mountfd UserNs::from_idmap", "UserNs::from_idmap"),
            (
                "the same, in a fresh process",
                "UserNs::from_idmap (fresh process)",
            ),
            ("C clone(CLONE_VM) child (userns-clone)", "userns-clone"),
            ("C fork()ed child (userns-fork)", "userns-fork"),
            ("C exec'd unshare(1) helper (userns-exec)", "userns-exec"),
        ]
        .into_iter()
        .map(|(label, case)| {
            let pts = self
                .rss
                .keys()
                .filter_map(|&r| self.median(r, case).map(|m| (r, m)))
                .collect();
            (label, pts)
        })
        .collect()
    }
}

/// Formats a time in µs with sensible precision.
fn fmt_us(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else if us >= 1.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.0} ns", us * 1000.0)
    }
}

fn report(opts: &Opts, res: &Results, memory_flat: Option<bool>, elapsed: f64) -> String {
    let mut s = String::new();
    let uname = |a: &str| {
        Command::new("uname")
            .arg(a)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        s,
        "Machine: {cpu}, {nproc} CPUs; kernel {} ({}). {} rounds, medians of per-batch means; \
         run took {elapsed:.0} s.\n",
        uname("-r"),
        uname("-m"),
        opts.rounds
    );

    let main: Vec<usize> = opts.main_rss.clone();
    let all_levels: Vec<usize> = res.rss.keys().copied().collect();
    // Per-case medians at each caller size.
    let _ = writeln!(s, "### Medians (time per operation)\n");
    let _ = write!(s, "| group | case |");
    for r in &all_levels {
        let _ = write!(s, " {} MiB caller |", res.rss[r]);
    }
    let _ = write!(s, "\n|---|---|");
    for _ in &all_levels {
        let _ = write!(s, "---:|");
    }
    s.push('\n');
    for c in cases() {
        if !res.samples.keys().any(|(_, n)| *n == c.name) {
            continue;
        }
        let label = match c.kind {
            Kind::Crate => format!("`{}`", c.name),
            Kind::Fresh(name) => format!("`{name}`, in a fresh process"),
            Kind::Reference(m) => format!("reference `{m}`"),
            Kind::Spawned => c.name.to_owned(),
        };
        let _ = write!(s, "| {} | {label} |", c.group);
        for &r in &all_levels {
            let _ = write!(s, " {} |", res.median(r, c.name).map_or("—".into(), fmt_us));
        }
        s.push('\n');
    }

    let _ = writeln!(s, "\n### Targets\n");
    let _ = writeln!(
        s,
        "| target | caller | measured | goal | met |\n|---|---|---:|---|---|"
    );
    let mut row =
        |what: &str, caller: String, ratio: Option<f64>, goal: &str, ok: fn(f64) -> bool| {
            let (m, met) = match ratio {
                Some(x) => (format!("{x:.2}×"), if ok(x) { "yes" } else { "**no**" }),
                None => ("—".into(), "not measured"),
            };
            let _ = writeln!(s, "| {what} | {caller} | {m} | {goal} | {met} |");
        };
    let q = |r: usize, a: &str, b: &str| Some(res.median(r, a)? / res.median(r, b)?);
    // (what, numerator case, denominator case, goal, test, only at the
    // largest caller size)
    type Target = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        fn(f64) -> bool,
        bool,
    );
    let targets: [Target; 12] = [
        (
            "`UserNs::from_idmap` / `userns-clone`",
            "UserNs::from_idmap",
            "userns-clone",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "the same, crate in a fresh process",
            "UserNs::from_idmap (fresh process)",
            "userns-clone",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "`userns-exec` / `UserNs::from_idmap`",
            "userns-exec",
            "UserNs::from_idmap",
            "≥ 10×",
            |x| x >= 10.0,
            false,
        ),
        (
            "`userns-fork` / `UserNs::from_idmap`",
            "userns-fork",
            "UserNs::from_idmap",
            "≥ 100× at 2 GiB",
            |x| x >= 100.0,
            true,
        ),
        (
            "bind cycle, reused ns / `bind-cached`",
            "bind cycle, reused UserNs",
            "bind-cached",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "the same, crate in a fresh process",
            "bind cycle, reused UserNs (fresh process)",
            "bind-cached",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "bind cycle, fresh ns / `bind-fresh`",
            "bind cycle, fresh UserNs",
            "bind-fresh",
            "(no target)",
            |_| true,
            false,
        ),
        (
            "spawned `mount --bind` + `umount` / bind cycle, reused ns",
            "spawned mount --bind + umount",
            "bind cycle, reused UserNs",
            "≥ 30×",
            |x| x >= 30.0,
            false,
        ),
        (
            "`LoopDevice` attach + detach / `loop-cycle`",
            "LoopDevice::attach + detach",
            "loop-cycle",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "the same, crate in a fresh process",
            "LoopDevice::attach + detach (fresh process)",
            "loop-cycle",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "`LoopDevice::attach_fd` (backing held open, as `loop-cycle` does) + detach / `loop-cycle`",
            "LoopDevice::attach_fd + detach",
            "loop-cycle",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "spawned `mount -o loop,ro` + `umount` / `mount_image` cycle",
            "spawned mount -o loop,ro + umount",
            "mount_image + attach + umount",
            "≥ 10×",
            |x| x >= 10.0,
            false,
        ),
    ];
    let largest = main.iter().copied().max().unwrap_or(0);
    for (what, a, b, goal, ok, only_largest) in targets {
        for &r in &main {
            if only_largest && r != largest {
                continue;
            }
            let caller = format!("{} MiB", res.rss.get(&r).copied().unwrap_or(r as u64));
            row(what, caller, q(r, a, b), goal, ok);
        }
    }
    if let (Some(&lo), Some(&hi)) = (main.first(), main.last()) {
        if lo != hi {
            let ratio = (|| {
                Some(res.median(hi, "UserNs::from_idmap")? / res.median(lo, "UserNs::from_idmap")?)
            })();
            row(
                "`UserNs::from_idmap` at the largest / smallest caller",
                format!(
                    "{} / {} MiB",
                    res.rss.get(&hi).copied().unwrap_or(0),
                    res.rss.get(&lo).copied().unwrap_or(0)
                ),
                ratio,
                "≤ 1.3×",
                |x| x <= 1.3,
            );
        }
    }
    let flat = match memory_flat {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "not measured",
    };
    let _ = writeln!(
        s,
        "| peak memory (VmHWM) flat over {} cycles | {} MiB | see below | no growth | {flat} |",
        opts.mem_iters,
        res.rss.values().next().copied().unwrap_or(0)
    );
    s.push('\n');
    for n in &res.notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}
