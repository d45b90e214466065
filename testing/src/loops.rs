//! The loop devices that exist, and removing those a test made.

use std::collections::BTreeSet;

/// The numbers of the loop devices that exist (`/sys/block/loopN`).
#[must_use]
pub fn loop_device_numbers() -> BTreeSet<u32> {
    let Ok(dir) = std::fs::read_dir("/sys/block") else {
        return BTreeSet::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("loop")?.parse().ok())
        .collect()
}

/// Every bound loop device: its number and its backing file as
/// `/sys/block/loopN/loop/backing_file` shows it (without the newline, and
/// without the " (deleted)" the kernel appends for an unlinked file).
#[must_use]
pub fn bound_loop_devices() -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = loop_device_numbers()
        .into_iter()
        .filter_map(|n| {
            let text =
                std::fs::read_to_string(format!("/sys/block/loop{n}/loop/backing_file")).ok()?;
            let text = text.trim_end_matches('\n');
            Some((
                n,
                text.strip_suffix(" (deleted)").unwrap_or(text).to_owned(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// The loop devices that existed before the first test of this binary ran.
pub(crate) fn baseline() -> &'static BTreeSet<u32> {
    static BASELINE: std::sync::OnceLock<BTreeSet<u32>> = std::sync::OnceLock::new();
    BASELINE.get_or_init(loop_device_numbers)
}

/// `ioctl(loop-control, LOOP_CTL_REMOVE, n)`: deletes the unbound loop
/// device `/dev/loopN`, so that tests leave the set of loop devices as they
/// found it. The kernel refuses (`EBUSY`) while the device is bound or open
/// (`loop_control_remove` in `drivers/block/loop.c`), so this never pulls a
/// device from under a user.
///
/// # Errors
///
/// The failed `open` of `/dev/loop-control` or the failed `ioctl`.
#[cfg(target_os = "linux")]
pub fn remove_loop_device(n: u32) -> std::io::Result<()> {
    use rustix::ioctl::{ioctl, IntegerSetter, Opcode};
    const OP: Opcode = linux_raw_sys::loop_device::LOOP_CTL_REMOVE as Opcode;
    let ctl = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")?;
    // SAFETY: LOOP_CTL_REMOVE takes the device number as an integer
    // argument; no memory is passed. `ctl` stays open during the call.
    unsafe { ioctl(&ctl, IntegerSetter::<OP>::new_usize(n as usize)) }?;
    Ok(())
}

/// Without loop devices, there is nothing to remove.
///
/// # Errors
///
/// Always `Unsupported`.
#[cfg(not(target_os = "linux"))]
pub fn remove_loop_device(_: u32) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// `LOOP_CTL_GET_FREE` creates a device node whenever every existing one is
/// bound, and the kernel keeps it after use: remove the ones made since
/// `baseline`, so the host keeps the set of loop devices it had. Autoclear
/// unbinds a test's devices (those backed by files whose path contains
/// `tag`; `""` matches every file) when its mount namespace is torn down, a
/// little after the thread is joined: wait for that, briefly. A device
/// still bound or open belongs to someone still running, who removes it.
pub fn remove_new_loop_devices(baseline: &BTreeSet<u32>, tag: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let new: Vec<u32> = loop_device_numbers()
            .difference(baseline)
            .copied()
            .collect();
        let bound = bound_loop_devices();
        let is_bound = |n: u32| bound.iter().any(|(b, _)| *b == n);
        let mine_bound = bound
            .iter()
            .any(|(n, file)| new.contains(n) && file.contains(tag));
        if !mine_bound || std::time::Instant::now() >= deadline {
            for n in new.into_iter().filter(|&n| !is_bound(n)) {
                // EBUSY: opened by a running test meanwhile; it cleans up.
                let _ = remove_loop_device(n);
            }
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
