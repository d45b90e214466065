//! The id-map text parser: `IdMap::from_str` and `IdMap::parse_split`.
//!
//! Any text either parses into a map the kernel would accept (1..=340
//! extents, no zero range, no overflow, no id 4294967295, no overlap in
//! either column) whose canonical `Display` form parses back to the same
//! map, or is refused with `Error::InvalidIdMap` carrying a reason that
//! formats without panicking. Nothing panics, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mountfd::{Error, IdMap, IdMapError, IdMapping};

/// The kernel's rules, restated independently of `mountfd::idmap`.
fn kernel_accepts(extents: &[IdMapping]) -> bool {
    if extents.is_empty() || extents.len() > IdMap::MAX_EXTENTS {
        return false;
    }
    let last = |start: u32, range: u32| start.checked_add(range - 1);
    for m in extents {
        if m.range == 0 {
            return false;
        }
        for start in [m.from, m.to] {
            match last(start, m.range) {
                Some(end) if end != u32::MAX => {}
                _ => return false,
            }
        }
    }
    for (i, a) in extents.iter().enumerate() {
        for b in &extents[i + 1..] {
            let overlaps = |x: u32, y: u32| x <= y + (b.range - 1) && y <= x + (a.range - 1);
            if overlaps(a.from, b.from) || overlaps(a.to, b.to) {
                return false;
            }
        }
    }
    true
}

fn check_map(map: &IdMap) {
    let extents = map.mappings();
    assert!(
        kernel_accepts(extents),
        "accepted a map the kernel refuses: {map:?}"
    );
    let text = map.to_string();
    let back: IdMap = text.parse().expect("the Display form parses back");
    assert_eq!(&back, map, "Display round trip of {text:?}");
    assert_eq!(map.proc_map_len(), map.to_proc_map().len());
}

fn check_err(input: &str, err: &Error) {
    let Error::InvalidIdMap(inner) = err else {
        panic!("text input gave a non-id-map error: {err:?}");
    };
    assert_eq!(err.errno(), None, "no system call is made for bad text");
    assert!(!err.to_string().is_empty());
    if let IdMapError::Syntax { position, .. } = inner {
        assert!(
            *position <= input.len(),
            "syntax position past the end: {inner:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };

    let single = input.parse::<IdMap>();
    match &single {
        Ok(map) => check_map(map),
        Err(e) => check_err(input, e),
    }

    match IdMap::parse_split(input) {
        Ok((uids, gids)) => {
            check_map(&uids);
            check_map(&gids);
            // Text without `u:`/`g:` extents describes one map for both.
            if let Ok(map) = &single {
                assert_eq!(
                    (&uids, &gids),
                    (map, map),
                    "parse_split disagrees with parse"
                );
            }
        }
        Err(e) => {
            check_err(input, &e);
            assert!(
                single.is_err(),
                "parse accepted {input:?} but parse_split refused: {e}"
            );
        }
    }
});
