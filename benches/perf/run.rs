//! The harness itself; see the crate docs in `main.rs`.

mod bind;
mod fixtures;
mod image;
mod loops;
mod memory;
mod replace;
mod report;
mod userns;

use crate::chart;
use fixtures::*;
use memory::*;
use report::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use mountfd::{DetachedMount, IdMap, UserNs, UserNsCache};

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
    /// Measured in this process, by the case itself: it times only its
    /// operations (through [`timed`]), not the teardown that follows them.
    SelfTimed,
}

/// The time a [`Kind::SelfTimed`] case measured for its last batch, in ns.
static SELF_TIMED_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `f` and adds its time to the batch of a [`Kind::SelfTimed`] case.
fn timed<T>(f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    SELF_TIMED_NS.fetch_add(
        t.elapsed().as_nanos() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    r
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
    [
        userns::cases(),
        bind::cases(),
        loops::cases(),
        image::cases(),
        replace::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
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
        Kind::SelfTimed => {
            SELF_TIMED_NS.store(0, std::sync::atomic::Ordering::Relaxed);
            (case.run.unwrap())(ctx, n);
            let ns = SELF_TIMED_NS.load(std::sync::atomic::Ordering::Relaxed);
            Some(ns as f64 / 1e3 / n as f64)
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
            if matches!(c.kind, Kind::Crate | Kind::Spawned | Kind::SelfTimed) {
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
