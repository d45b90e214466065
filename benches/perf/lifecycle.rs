//! The lifecycle group (issue 13), standalone until the lead hooks it into
//! the round-robin harness: `cargo bench --bench perf -- --lifecycle-only`.
//!
//! In a private mount namespace of this process, with `MOUNTS` (default
//! 10,000) unrelated tmpfs mounts beside them, it times, side by side:
//!
//! - `mounts_under` of a mount with 9 submounts (statx + listmount +
//!   statmount each) against reading and parsing `/proc/self/mountinfo`
//!   for the same answer (`MountInfo::parse_mountinfo`, then the subtree by
//!   parent links), and the same pair at 10, 100, 1,000 and 10,000 mounts
//!   (the chart's series, printed as TSV);
//! - `is_mountpoint` on a bind mount against spawning `mountpoint -q`;
//! - `unmount_tree` of 1,000 nested mounts against spawning `umount -R`.
//!
//! The reference floors are `reference.c`'s `list-subtree`,
//! `list-mountinfo` and `is-mountpoint` modes, which the harness runs.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mountfd::{
    is_mountpoint, mounts_under, unmount_tree, DetachedMount, FsContext, MountAttr, MountInfo,
    UnmountFlags,
};

fn tmpfs_on(p: &Path) {
    fs::create_dir_all(p).unwrap();
    FsContext::new("tmpfs")
        .unwrap()
        .mount(&MountAttr::new())
        .unwrap()
        .attach(p)
        .unwrap();
}

/// Mean µs per call of `f` over `n` calls.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// The subtree of the mount at `top` from mountinfo text, as a caller
/// without listmount does it.
fn subtree_from_mountinfo(top: &Path) -> usize {
    let all = MountInfo::parse_mountinfo(&fs::read("/proc/self/mountinfo").unwrap());
    let root = all.iter().rev().find(|m| m.mount_point == top).unwrap().id;
    let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
    for m in &all {
        children.entry(m.parent_id).or_default().push(m.id);
    }
    let mut seen = HashSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if seen.insert(id) {
            todo.extend(children.get(&id).into_iter().flatten());
        }
    }
    seen.len()
}

/// Runs the group and prints its tables.
pub fn standalone() {
    let total: usize = std::env::var("MOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // A private mount namespace for this (only) thread, a private /tmp.
    assert!(mountfd_testing::enter_private_mount_ns());
    let base = PathBuf::from(format!(
        "/tmp/mountfd-bench-lifecycle-{}",
        std::process::id()
    ));
    fs::create_dir_all(&base).unwrap();
    tmpfs_on(&base);

    let tree = base.join("tree");
    tmpfs_on(&tree);
    for i in 0..9 {
        tmpfs_on(&tree.join(format!("s{i}")));
    }
    fs::create_dir_all(base.join("src")).unwrap();
    let bind = base.join("bind");
    fs::create_dir_all(&bind).unwrap();
    DetachedMount::clone_tree(base.join("src"), false)
        .unwrap()
        .attach(&bind)
        .unwrap();

    println!("# lifecycle: mounts_under vs mountinfo by number of unrelated mounts");
    println!("mounts\tmounts_under_us\tmountinfo_us\tratio");
    let unrelated = base.join("u");
    fs::create_dir_all(&unrelated).unwrap();
    let mut made = 0;
    for step in [10usize, 100, 1_000, 10_000]
        .into_iter()
        .filter(|&s| s <= total.max(10))
    {
        while made < step {
            tmpfs_on(&unrelated.join(made.to_string()));
            made += 1;
        }
        let reps = (200_000 / (step + 100)).clamp(5, 2_000);
        let a = time(reps, || assert_eq!(mounts_under(&tree).unwrap().len(), 10));
        let b = time(reps.min(200), || {
            assert_eq!(subtree_from_mountinfo(&tree), 10)
        });
        println!("{step}\t{a:.1}\t{b:.1}\t{:.1}", b / a);
    }

    let a = time(100_000, || assert!(is_mountpoint(&bind).unwrap()));
    let b = time(50, || {
        assert!(Command::new("mountpoint")
            .arg("-q")
            .arg(&bind)
            .status()
            .unwrap()
            .success());
    });
    println!("\n# is_mountpoint (bind mount, {made} unrelated mounts)");
    println!(
        "is_mountpoint\t{a:.2} µs\nmountpoint -q\t{b:.1} µs\tratio\t{:.0}",
        b / a
    );

    let nested = |root: &Path| {
        let mut p = root.to_path_buf();
        tmpfs_on(&p);
        for _ in 1..1_000 {
            p.push("n");
            tmpfs_on(&p);
        }
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let root = base.join(format!("nest{round}"));
        nested(&root);
        let t = Instant::now();
        assert_eq!(unmount_tree(&root, UnmountFlags::empty()).unwrap(), 1_000);
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        nested(&root);
        let t = Instant::now();
        assert!(Command::new("umount")
            .arg("-R")
            .arg(&root)
            .status()
            .unwrap()
            .success());
        theirs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    println!("\n# unmount_tree of 1,000 nested mounts ({made} unrelated mounts), median of 3");
    println!(
        "unmount_tree\t{:.1} ms\numount -R\t{:.1} ms\tratio\t{:.1}",
        ours[1],
        theirs[1],
        theirs[1] / ours[1]
    );
}
