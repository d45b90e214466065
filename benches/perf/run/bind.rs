//! The id-mapped bind cycle group: clone, attach, unmount.

use std::process::Command;

use mountfd::{DetachedMount, UserNs};

use super::{spawn_ok, unmount};
use super::{Case, Kind::*};

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
