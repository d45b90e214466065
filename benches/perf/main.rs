//! The performance harness: the crate's hot paths against the raw syscall
//! sequences in C (`../shared/bench/reference.c`) and against what callers
//! do without the crate (spawned `mount(8)`/`losetup(8)`, a forked or
//! exec'd user-namespace child), side by side in one run.
//!
//! ```text
//! cargo bench --bench perf                       # full run, a few minutes
//! cargo bench --bench perf -- --quick            # a rough run while developing
//! cargo bench --bench perf -- --out docs/benchmarks   # what BENCHMARKS.md shows
//! ```
//!
//! Method: the process sets its resident size to each caller size (a heap
//! ballast, touched), then runs rounds. In each round every case runs one
//! batch, in an order rotated from round to round, so that a slow spell of
//! the machine hits every case alike; a batch yields a mean time per
//! operation, and the figures are medians over rounds. Reference modes run
//! as a child process built from `reference.c` with the same caller size
//! (its third argument), and time their own loop, so process start-up is
//! not counted for them, just as it is not for the crate.
//!
//! Everything that mounts happens in a private mount namespace entered by
//! this process's only benchmarking thread (spawned commands inherit it),
//! on a private tmpfs over `/tmp`; loop devices are released each cycle. At
//! the end the harness checks that the host's mount table, the bound loop
//! devices and this process's children are as they were.
//!
//! Writes `results.md` (tables), `results.tsv` (every batch) and
//! `userns-vs-rss.svg` (the chart) to `--out DIR` (default
//! `target/bench`). Without `--bench` (as under `cargo test`) it makes a
//! smoke run: each crate case once, no references, no files.

#[cfg(target_os = "linux")]
mod chart;
#[cfg(target_os = "linux")]
mod run;

fn main() {
    #[cfg(target_os = "linux")]
    run::main();
    #[cfg(not(target_os = "linux"))]
    println!("perf: the benchmarks need Linux");
}
