//! `umount`, `list` and `is-mountpoint`: finding and removing mounts
//! without umount(8), findmnt(8) or mountpoint(1).

use std::path::Path;

use mountfd::{IdMap, MountFlags, MountInfo, UnmountFlags};

/// `mountpoint -q`'s exit status for "not a mount point".
pub const NOT_A_MOUNTPOINT: u8 = 32;

pub fn umount(target: &Path, recursive: bool, lazy: bool) -> Result<(), String> {
    let flags = if lazy {
        UnmountFlags::DETACH
    } else {
        UnmountFlags::empty()
    };
    if recursive {
        mountfd::unmount_tree(target, flags).map(drop)
    } else {
        mountfd::unmount(target, flags)
    }
    .map_err(|e| e.to_string())
}

/// The per-mount options as mountinfo words.
fn options(m: &MountInfo) -> String {
    let f = m.flags;
    let mut o = vec![if f.contains(MountFlags::RDONLY) {
        "ro"
    } else {
        "rw"
    }];
    for (flag, word) in [
        (MountFlags::NOSUID, "nosuid"),
        (MountFlags::NODEV, "nodev"),
        (MountFlags::NOEXEC, "noexec"),
        (MountFlags::NOATIME, "noatime"),
        (MountFlags::NODIRATIME, "nodiratime"),
        (MountFlags::NOSYMFOLLOW, "nosymfollow"),
        (MountFlags::IDMAP, "idmapped"),
    ] {
        if f.contains(flag) {
            o.push(word);
        }
    }
    if !f.intersects(MountFlags::NOATIME | MountFlags::STRICTATIME) {
        o.push("relatime");
    }
    o.join(",")
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn list(json: bool, path: Option<&Path>) -> Result<(), String> {
    let all = match path {
        Some(p) => mountfd::mounts_under(p),
        None => mountfd::mounts(),
    }
    .map_err(|e| e.to_string())?;
    let map = |m: &Option<IdMap>| m.as_ref().map(ToString::to_string);
    if json {
        let rows: Vec<String> = all
            .iter()
            .map(|m| {
                let opt = |v: Option<String>| v.map_or("null".into(), |s| json_str(&s));
                format!(
                    "{{\"id\": {}, \"parent\": {}, \"target\": {}, \"source\": {}, \"fstype\": {}, \"options\": {}, \"fs-options\": {}, \"uidmap\": {}, \"gidmap\": {}}}",
                    m.id,
                    m.parent_id,
                    json_str(&m.mount_point.to_string_lossy()),
                    opt(m.source.clone()),
                    json_str(&m.fs_type),
                    json_str(&options(m)),
                    json_str(&m.superblock_options),
                    opt(map(&m.uid_map)),
                    opt(map(&m.gid_map)),
                )
            })
            .collect();
        println!("{{\"filesystems\": [\n   {}\n]}}", rows.join(",\n   "));
        return Ok(());
    }
    let rows: Vec<[String; 5]> = all
        .iter()
        .map(|m| {
            [
                m.mount_point.to_string_lossy().into_owned(),
                m.source.clone().unwrap_or_default(),
                m.fs_type.clone(),
                format!("{},{}", options(m), m.superblock_options),
                map(&m.uid_map).unwrap_or_default(),
            ]
        })
        .collect();
    let head = ["TARGET", "SOURCE", "FSTYPE", "OPTIONS", "IDMAP"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(head.map(String::from)).chain(rows) {
        let line: Vec<String> = r
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join(" ").trim_end());
    }
    Ok(())
}
