//! The atomic replace group (issue 12): a fresh tmpfs swapped in for what
//! is mounted on a target, against `reference.c`'s `replace` (the bare
//! `MOVE_MOUNT_BENEATH` + lazy unmount of the old top) and `replace-naive`
//! (unmount, then mount: the window a reader sees).

use mountfd::{FsContext, MountAttr};

use super::{Case, Kind::*};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            group: "replace",
            name: "FsContext tmpfs + DetachedMount::replace",
            kind: Crate,
            batch: |_| 200,
            run: Some(|c, n| {
                let target = c.dir.join("replace-target");
                if !mountfd::is_mountpoint(&target).unwrap_or(false) {
                    std::fs::create_dir_all(&target).unwrap();
                    fresh().attach(&target).unwrap();
                }
                for _ in 0..n {
                    // The old tree comes back detached; dropping it
                    // unmounts it, as the reference's lazy unmount does.
                    drop(fresh().replace(&target).unwrap());
                }
            }),
            chart: false,
        },
        Case {
            group: "replace",
            name: "replace",
            kind: Reference("replace"),
            batch: |_| 200,
            run: None,
            chart: false,
        },
        Case {
            group: "replace",
            name: "replace-naive",
            kind: Reference("replace-naive"),
            batch: |_| 200,
            run: None,
            chart: false,
        },
    ]
}

/// A new, empty tmpfs, detached.
fn fresh() -> mountfd::DetachedMount {
    FsContext::new("tmpfs")
        .unwrap()
        .mount(&MountAttr::new())
        .unwrap()
}
