//! The loop device group: attach and detach, by path and by fd.

use std::process::Command;

use mountfd::{LoopDevice, LoopOptions};

use super::spawn_ok;
use super::{Case, Kind::*};

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
