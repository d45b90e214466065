//! `MountInfo::parse_mountinfo` on arbitrary bytes never panics, and a line
//! built from arbitrary fields, escaped as the kernel's `mangle()` escapes
//! them (fs/proc_namespace.c), parses back to exactly those bytes.
#![no_main]

use std::os::unix::ffi::OsStrExt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mountfd::MountInfo;

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Vec<u8>,
    id: u32,
    parent: u32,
    root: Vec<u8>,
    mount_point: Vec<u8>,
    fs_type: Vec<u8>,
    source: Vec<u8>,
    shared: Option<u16>,
    master: Option<u16>,
    unbindable: bool,
}

fn mangle(field: &[u8], out: &mut Vec<u8>) {
    for &b in field {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\\') {
            out.extend_from_slice(format!("\\{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

fuzz_target!(|input: Input| {
    let _ = MountInfo::parse_mountinfo(&input.raw);

    // No empty field and no NUL: neither occurs in the kernel's output.
    let clean = |v: &[u8]| -> Vec<u8> {
        let mut v: Vec<u8> = v.iter().map(|&b| if b == 0 { b'x' } else { b }).collect();
        if v.is_empty() {
            v.push(b'/');
        }
        v
    };
    let (root, mp, fs_type, source) = (
        clean(&input.root),
        clean(&input.mount_point),
        clean(&input.fs_type),
        clean(&input.source),
    );
    // A type is a kernel-chosen name; keep it UTF-8 so it compares as text.
    let fs_type: Vec<u8> = String::from_utf8_lossy(&fs_type).into_owned().into_bytes();
    let source: Vec<u8> = String::from_utf8_lossy(&source).into_owned().into_bytes();
    let mut line = format!("{} {} 0:1 ", input.id, input.parent).into_bytes();
    mangle(&root, &mut line);
    line.push(b' ');
    mangle(&mp, &mut line);
    line.extend_from_slice(b" rw,nosuid");
    if let Some(g) = input.shared {
        line.extend_from_slice(format!(" shared:{g}").as_bytes());
    }
    if let Some(g) = input.master {
        line.extend_from_slice(format!(" master:{g}").as_bytes());
    }
    if input.unbindable {
        line.extend_from_slice(b" unbindable");
    }
    line.extend_from_slice(b" - ");
    mangle(&fs_type, &mut line);
    line.push(b' ');
    mangle(&source, &mut line);
    line.extend_from_slice(b" rw\n");

    let parsed = MountInfo::parse_mountinfo(&line);
    assert_eq!(parsed.len(), 1, "{:?}", String::from_utf8_lossy(&line));
    let m = &parsed[0];
    assert_eq!(m.id, u64::from(input.id));
    assert_eq!(m.parent_id, u64::from(input.parent));
    assert_eq!(m.root.as_os_str().as_bytes(), &root[..]);
    assert_eq!(m.mount_point.as_os_str().as_bytes(), &mp[..]);
    assert_eq!(m.fs_type.as_bytes(), &fs_type[..]);
    assert_eq!(m.source.as_deref().map(str::as_bytes), Some(&source[..]));
    assert_eq!(m.propagation.shared_group, input.shared.map(u64::from));
    assert_eq!(m.propagation.master_group, input.master.map(u64::from));
    assert_eq!(m.propagation.unbindable, input.unbindable);
    assert!(m.flags.contains(mountfd::MountFlags::NOSUID));
});
