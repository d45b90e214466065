//! The user-namespace group: `UserNs::from_idmap`, the cache, and the reference C ways.

use mountfd::UserNs;

use super::{by_size, Case, Kind::*};

pub(super) fn cases() -> Vec<Case> {
    vec![
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
    ]
}
