//! Results and the Markdown report.

use super::*;

#[derive(Default)]
pub(super) struct Results {
    /// (caller MiB, case name) -> batch means in µs.
    pub(super) samples: BTreeMap<(usize, &'static str), Vec<f64>>,
    /// Caller MiB -> measured VmRSS MiB.
    pub(super) rss: BTreeMap<usize, u64>,
    pub(super) tsv: String,
    pub(super) notes: Vec<String>,
}

pub(super) fn median(v: &[f64]) -> Option<f64> {
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
    pub(super) fn median(&self, rss: usize, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|((r, n), _)| *r == rss && *n == name)
            .and_then(|(_, v)| median(v))
    }
}

impl Results {
    /// Chart series: (label, [(caller MiB, median µs)]).
    pub(super) fn samples_for_chart(&self) -> Vec<(&'static str, Vec<(usize, f64)>)> {
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
pub(super) fn fmt_us(us: f64) -> String {
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

pub(super) fn report(
    opts: &Opts,
    res: &Results,
    memory_flat: Option<bool>,
    elapsed: f64,
) -> String {
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
            Kind::Crate | Kind::SelfTimed => format!("`{}`", c.name),
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
    let targets: [Target; 20] = [
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
            "`LoopDevice` attach + detach / the same system calls, bare (`O_PATH` lookup, `/proc` re-open, `loop-cycle`)",
            "LoopDevice::attach + detach",
            "bare path attach + detach",
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
            "`DetachedMount::replace` of a fresh tmpfs, its rollback tree dropped / `replace` (bare `MOVE_MOUNT_BENEATH` + lazy unmount)",
            "FsContext tmpfs + DetachedMount::replace",
            "replace",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "the same, the rollback trees dropped after the timed calls",
            "FsContext tmpfs + DetachedMount::replace (rollback kept)",
            "replace",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "the same, crate in a fresh process",
            "FsContext tmpfs + DetachedMount::replace (fresh process)",
            "replace",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "`DetachedMount::replace_discarding_old` / the same system calls, bare (`O_PATH` lookup, `statx`, `umount2` through `/proc/thread-self/fd/N`)",
            "FsContext tmpfs + DetachedMount::replace_discarding_old",
            "bare exact swap",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "the bare exact swap / `replace`: resolving the target once and unmounting exactly what was found",
            "bare exact swap",
            "replace",
            "(no target)",
            |_| true,
            false,
        ),
        (
            "`DetachedMount::replace_discarding_old` of a fresh tmpfs / `replace`",
            "FsContext tmpfs + DetachedMount::replace_discarding_old",
            "replace",
            "≤ 1.15×",
            |x| x <= 1.15,
            false,
        ),
        (
            "the same, crate in a fresh process",
            "FsContext tmpfs + DetachedMount::replace_discarding_old (fresh process)",
            "replace",
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
