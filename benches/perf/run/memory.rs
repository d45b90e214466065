//! The caller size (a resident ballast), the leak check and the memory check.

use super::*;

/// A touched heap ballast that brings the process to a resident size.
pub(super) struct Ballast(pub(super) Vec<u8>);

pub(super) fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Ballast {
    /// Resizes the ballast so that VmRSS is about `mib` MiB.
    pub(super) fn set(&mut self, mib: usize) -> u64 {
        self.0 = Vec::new();
        let base = status_kib("VmRSS:") as usize * 1024;
        let want = (mib << 20).saturating_sub(base);
        // vec![1; n] writes every byte, so every page is resident.
        self.0 = std::hint::black_box(vec![1u8; want]);
        status_kib("VmRSS:") >> 10
    }
}

/// What the run must leave as it found it.
#[derive(PartialEq, Debug)]
pub(super) struct World {
    pub(super) host_mounts: String,
    /// The loop devices that exist, and those of them that are bound.
    pub(super) loops: BTreeSet<u32>,
    pub(super) bound_loops: BTreeSet<u32>,
}

pub(super) fn world() -> World {
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
pub(super) fn memory_check(ctx: &Ctx, iters: usize, res: &mut Results) -> bool {
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
