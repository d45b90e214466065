//! A parser for `/proc/PID/mountinfo` lines (`proc_pid_mountinfo(5)`),
//! the fallback where `statmount(2)` is missing.
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
//! ```
//!
//! Paths, the type, the source and the options are escaped by the kernel's
//! `mangle()`/`seq_escape` (fs/proc_namespace.c): a space, tab, newline and
//! backslash become `\ooo` octal; every other byte (non-UTF-8 too) is kept
//! as it is. Field 7 is zero or more optional `tag[:value]` fields ended by
//! a lone `-`.

/// One line, unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) id: u64,
    pub(crate) parent_id: u64,
    pub(crate) root: Vec<u8>,
    pub(crate) mount_point: Vec<u8>,
    pub(crate) mount_options: Vec<u8>,
    pub(crate) optional: Vec<Vec<u8>>,
    pub(crate) fs_type: Vec<u8>,
    pub(crate) source: Vec<u8>,
    pub(crate) super_options: Vec<u8>,
}

/// Undoes `\ooo` octal escapes; a backslash not followed by three octal
/// digits (which the kernel never writes) is kept as it is.
pub(crate) fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && field.len() >= i + 4 {
            let d = &field[i + 1..i + 4];
            if d.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

fn num(f: &[u8]) -> Option<u64> {
    std::str::from_utf8(f).ok()?.parse().ok()
}

/// Parses one line (without its newline); `None` if it is malformed.
pub(crate) fn parse_line(line: &[u8]) -> Option<Line> {
    // Fields are separated by single spaces; escaped fields contain none.
    let mut it = line.split(|&b| b == b' ');
    let id = num(it.next()?)?;
    let parent_id = num(it.next()?)?;
    let _dev = it.next()?;
    let root = unescape(it.next()?);
    let mount_point = unescape(it.next()?);
    let mount_options = unescape(it.next()?);
    let mut optional = Vec::new();
    loop {
        let f = it.next()?;
        if f == b"-" {
            break;
        }
        if f.is_empty() {
            return None;
        }
        optional.push(f.to_vec());
    }
    let fs_type = unescape(it.next()?);
    let source = unescape(it.next()?);
    let super_options = unescape(it.next()?);
    if it.next().is_some() {
        return None;
    }
    Some(Line {
        id,
        parent_id,
        root,
        mount_point,
        mount_options,
        optional,
        fs_type,
        source,
        super_options,
    })
}

/// Parses a whole file, skipping malformed lines (none in a kernel's output).
pub(crate) fn parse(text: &[u8]) -> Vec<Line> {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_example() {
        let l = parse_line(
            b"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!((l.id, l.parent_id), (36, 35));
        assert_eq!(l.root, b"/mnt1");
        assert_eq!(l.mount_point, b"/mnt2");
        assert_eq!(l.mount_options, b"rw,noatime");
        assert_eq!(l.optional, vec![b"master:1".to_vec()]);
        assert_eq!(l.fs_type, b"ext3");
        assert_eq!(l.source, b"/dev/root");
        assert_eq!(l.super_options, b"rw,errors=continue");
    }

    #[test]
    fn several_optional_fields_and_none() {
        let l = parse_line(b"1 0 0:1 / / rw shared:3 master:2 propagate_from:1 unbindable - t s o")
            .unwrap();
        assert_eq!(l.optional.len(), 4);
        let l = parse_line(b"1 0 0:1 / / rw - t s o").unwrap();
        assert!(l.optional.is_empty());
    }

    #[test]
    fn octal_escapes_and_raw_non_utf8_bytes() {
        let l = parse_line(b"5 1 0:2 / /a\\040b\\011c\\012d\\134e\xff rw - tmpfs my\\040src rw")
            .unwrap();
        assert_eq!(l.mount_point, b"/a b\tc\nd\\e\xff");
        assert_eq!(l.source, b"my src");
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            &b""[..],
            b"x 1 0:1 / / rw - t s o",
            b"1 0 0:1 / / rw t s o",
            b"1 0 0:1 / / rw - t s",
            b"1 0 0:1 / / rw - t s o extra",
        ] {
            assert_eq!(parse_line(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_backslash_without_three_octal_digits_stays() {
        assert_eq!(unescape(b"a\\0"), b"a\\0");
        assert_eq!(unescape(b"a\\9999"), b"a\\9999");
        assert_eq!(unescape(b"\\400"), b"\\400");
    }

    /// What the kernel's `mangle()` writes for a field.
    fn escape(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &c in b {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\\') {
                out.extend_from_slice(format!("\\{c:03o}").as_bytes());
            } else {
                out.push(c);
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn any_fields_round_trip(
            root in proptest::collection::vec(proptest::num::u8::ANY, 1..40),
            mp in proptest::collection::vec(proptest::num::u8::ANY, 1..40),
            src in proptest::collection::vec(proptest::num::u8::ANY, 1..20),
            opt in proptest::collection::vec("(shared|master|propagate_from):[0-9]{1,5}|unbindable", 0..4),
            id in proptest::num::u64::ANY,
            parent in proptest::num::u64::ANY,
        ) {
            // NUL never reaches a path; the kernel escapes the rest.
            let clean = |v: &[u8]| v.iter().map(|&b| if b == 0 { b'x' } else { b }).collect::<Vec<u8>>();
            let (root, mp, src) = (clean(&root), clean(&mp), clean(&src));
            let mut line = format!("{id} {parent} 0:1 ").into_bytes();
            line.extend(escape(&root));
            line.push(b' ');
            line.extend(escape(&mp));
            line.extend_from_slice(b" rw,nosuid");
            for o in &opt {
                line.push(b' ');
                line.extend_from_slice(o.as_bytes());
            }
            line.extend_from_slice(b" - tmpfs ");
            line.extend(escape(&src));
            line.extend_from_slice(b" rw,size=4k");
            let l = parse_line(&line).unwrap();
            proptest::prop_assert_eq!(l.id, id);
            proptest::prop_assert_eq!(l.parent_id, parent);
            proptest::prop_assert_eq!(l.root, root);
            proptest::prop_assert_eq!(l.mount_point, mp);
            proptest::prop_assert_eq!(l.source, src);
            proptest::prop_assert_eq!(l.optional.len(), opt.len());
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse(&bytes);
        }
    }
}
