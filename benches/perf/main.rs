//! The performance harness: the crate's hot paths against the raw syscall
//! sequences in C (`../shared/bench/reference.c`) and against what callers
//! do without the crate (spawned `mount(8)`/`losetup(8)`, a forked or
//! exec'd user-namespace child), side by side in one run.
//!
//! ```text
//! cargo bench --bench perf -- --out docs/benchmarks   # what BENCHMARKS.md shows
//! cargo bench --bench perf -- --quick                 # a rough run while developing
//! cargo bench --bench perf -- --only userns,loop      # some groups (userns, bind,
//!                                                     # loop, image, memory)
//! cargo bench --bench perf -- --probe 'UserNs::from_idmap' 1000   # one crate case
//!                                                     # alone, for strace -c / perf
//! cargo bench --bench perf -- --lifecycle-only        # issue 13's group
//! cargo bench --bench perf -- --service-only 7        # issue 12's end-to-end group
//! ```
//!
//! Method: the process sets its resident size to each caller size (a heap
//! ballast, touched), then runs rounds. In each round every case runs one
//! batch, in an order rotated from round to round, so that a slow spell of
//! the machine hits every case alike; a batch yields a mean time per
//! operation, and the figures are medians over rounds.
//!
//! Reference modes run as a child process built from `reference.c` with the
//! same caller size (its third argument) and time their own loop, so process
//! start-up is not counted. A young process is slower at these calls than a
//! warm one, so the crate's cases that have a reference are also timed the
//! reference's way: this binary re-run with `--probe`, the same caller size
//! and batch, timing its own loop.
//!
//! Everything that mounts happens in a private mount namespace entered by
//! this process's only benchmarking thread (spawned commands inherit it),
//! on a private tmpfs over `/tmp`; loop devices are released each cycle. At
//! the end the harness checks that the host's mount table is unchanged, that
//! no loop device is bound to a file of the run and no device node it made is
//! left (it removes those), and that the process has no child left.
//!
//! Writes `results.md` (tables), `results.tsv` (every batch) and
//! `userns-vs-rss.svg` (the chart) to `--out DIR` (default
//! `target/bench`). Without `--bench` (as under `cargo test`) it makes a
//! smoke run: each case once, no references, no files.

#[cfg(target_os = "linux")]
mod chart;
#[cfg(target_os = "linux")]
mod lifecycle;
#[cfg(target_os = "linux")]
mod run;
#[cfg(target_os = "linux")]
mod service;

fn main() {
    #[cfg(target_os = "linux")]
    if std::env::args().any(|a| a == "--lifecycle-only") {
        return lifecycle::standalone();
    }
    #[cfg(target_os = "linux")]
    if let Some(i) = std::env::args().position(|a| a == "--service-only") {
        let rounds = std::env::args().nth(i + 1).and_then(|v| v.parse().ok());
        return service::standalone(rounds.unwrap_or(7));
    }
    #[cfg(target_os = "linux")]
    run::main();
    #[cfg(not(target_os = "linux"))]
    println!("perf: the benchmarks need Linux");
}
