//! Unit tests of the id-map logic.

use super::proc_text::decimal_len;
use super::*;

fn m(from: u32, to: u32, range: u32) -> IdMapping {
    IdMapping::new(from, to, range)
}

fn err_of<T: fmt::Debug>(r: crate::Result<T>) -> IdMapError {
    match r {
        Err(crate::Error::InvalidIdMap(e)) => e,
        other => panic!("expected an id map error, got {other:?}"),
    }
}

fn parse_err(s: &str) -> IdMapError {
    err_of(s.parse::<IdMap>())
}

fn syntax_of(s: &str) -> (usize, String, &'static str) {
    match parse_err(s) {
        IdMapError::Syntax {
            position,
            token,
            reason,
        } => (position, token, reason),
        other => panic!("expected a syntax error for {s:?}, got {other:?}"),
    }
}

#[test]
fn new_keeps_order() {
    let map = IdMap::new([m(1000, 0, 1), m(0, 1, 1000)]).unwrap();
    assert_eq!(map.mappings(), &[m(1000, 0, 1), m(0, 1, 1000)]);
    assert_eq!(map.to_string(), "1000:0:1,0:1:1000");
}

#[test]
fn single_matches_new() {
    assert_eq!(
        IdMap::single(1, 2, 3).unwrap(),
        IdMap::new([m(1, 2, 3)]).unwrap()
    );
}

#[test]
fn empty() {
    assert_eq!(err_of(IdMap::new([])), IdMapError::Empty);
    assert_eq!(parse_err(""), IdMapError::Empty);
    assert_eq!(parse_err(" \n\t "), IdMapError::Empty);
    assert_eq!(err_of(IdMap::parse_split("  ")), IdMapError::Empty);
}

#[test]
fn too_many_extents() {
    let ok = IdMap::new((0..340).map(|i| m(i, i + 1000, 1))).unwrap();
    assert_eq!(ok.mappings().len(), IdMap::MAX_EXTENTS);
    assert_eq!(
        err_of(IdMap::new((0..341).map(|i| m(i, i + 1000, 1)))),
        IdMapError::TooManyExtents { count: 341 }
    );
    let text: Vec<String> = (0..341).map(|i| format!("{i}:{i}")).collect();
    assert_eq!(
        parse_err(&text.join(",")),
        IdMapError::TooManyExtents { count: 341 }
    );
}

#[test]
fn zero_range() {
    assert_eq!(
        err_of(IdMap::new([m(0, 0, 1), m(5, 5, 0)])),
        IdMapError::ZeroRange {
            index: 1,
            extent: m(5, 5, 0)
        }
    );
    assert!(matches!(
        parse_err("0:0:0"),
        IdMapError::ZeroRange { index: 0, .. }
    ));
}

#[test]
fn overflow_and_invalid_id() {
    assert_eq!(
        err_of(IdMap::single(u32::MAX, 0, 2)),
        IdMapError::Overflow {
            index: 0,
            extent: m(u32::MAX, 0, 2),
            column: Column::From
        }
    );
    assert_eq!(
        err_of(IdMap::new([m(0, 0, 1), m(2, 2, u32::MAX)])),
        IdMapError::Overflow {
            index: 1,
            extent: m(2, 2, u32::MAX),
            column: Column::From
        }
    );
    assert_eq!(
        err_of(IdMap::single(0, 1, u32::MAX)),
        IdMapError::InvalidId {
            index: 0,
            extent: m(0, 1, u32::MAX),
            column: Column::To
        }
    );
    assert_eq!(
        err_of(IdMap::single(u32::MAX, 0, 1)),
        IdMapError::InvalidId {
            index: 0,
            extent: m(u32::MAX, 0, 1),
            column: Column::From
        }
    );
    assert_eq!(
        err_of(IdMap::single(7, u32::MAX - 1, 2)),
        IdMapError::InvalidId {
            index: 0,
            extent: m(7, u32::MAX - 1, 2),
            column: Column::To
        }
    );
}

#[test]
fn largest_valid_extents() {
    // The identity map of the initial user namespace.
    let full = IdMap::single(0, 0, u32::MAX).unwrap();
    assert_eq!(full.map_id(u32::MAX - 1), Some(u32::MAX - 1));
    assert_eq!(full.map_id(u32::MAX), None);
    assert_eq!(full.to_proc_map(), "0 0 4294967295\n");
    let top = IdMap::single(u32::MAX - 1, u32::MAX - 1, 1).unwrap();
    assert_eq!(top.map_id(u32::MAX - 1), Some(u32::MAX - 1));
    assert_eq!(top.unmap_id(u32::MAX), None);
}

#[test]
fn overlap() {
    assert_eq!(
        err_of(IdMap::new([m(0, 100, 10), m(20, 200, 5), m(9, 300, 1)])),
        IdMapError::Overlap {
            column: Column::From,
            first: 0,
            first_extent: m(0, 100, 10),
            second: 2,
            second_extent: m(9, 300, 1),
        }
    );
    assert_eq!(
        err_of(IdMap::new([m(0, 100, 10), m(20, 105, 5)])),
        IdMapError::Overlap {
            column: Column::To,
            first: 0,
            first_extent: m(0, 100, 10),
            second: 1,
            second_extent: m(20, 105, 5),
        }
    );
    // Identical starts.
    assert!(matches!(
        err_of(IdMap::new([m(5, 0, 1), m(5, 1, 1)])),
        IdMapError::Overlap {
            column: Column::From,
            first: 0,
            second: 1,
            ..
        }
    ));
    // A long extent swallowing one that is not its sorted neighbour.
    assert!(matches!(
        err_of(IdMap::new([m(50, 0, 1), m(0, 10, 1000), m(10, 5000, 1)])),
        IdMapError::Overlap {
            column: Column::From,
            ..
        }
    ));
    // Adjacent extents touch but do not overlap.
    IdMap::new([m(0, 10, 10), m(10, 0, 10)]).unwrap();
}

#[test]
fn map_and_unmap() {
    let map: IdMap = "1000:0:1, 0:1:1000, 2000:5000:10".parse().unwrap();
    assert_eq!(map.map_id(1000), Some(0));
    assert_eq!(map.map_id(0), Some(1));
    assert_eq!(map.map_id(999), Some(1000));
    assert_eq!(map.map_id(1001), None);
    assert_eq!(map.map_id(2009), Some(5009));
    assert_eq!(map.map_id(2010), None);
    assert_eq!(map.map_id(u32::MAX), None);
    assert_eq!(map.unmap_id(0), Some(1000));
    assert_eq!(map.unmap_id(1000), Some(999));
    assert_eq!(map.unmap_id(1001), None);
    assert_eq!(map.unmap_id(5000), Some(2000));
}

#[test]
fn proc_text() {
    let map: IdMap = "0:100000:65536 4294967294:0:1".parse().unwrap();
    let text = "0 100000 65536\n4294967294 0 1\n";
    assert_eq!(map.to_proc_map(), text);
    assert_eq!(map.proc_map_len(), text.len());
    let mut buf = [0xffu8; 64];
    assert_eq!(map.write_proc_map(&mut buf), Some(text.len()));
    assert_eq!(&buf[..text.len()], text.as_bytes());
    assert_eq!(map.write_proc_map(&mut buf[..text.len() - 1]), None);
    assert_eq!(map.write_proc_map(&mut []), None);
    assert_eq!(
        IdMap::MAX_PROC_MAP_LEN,
        340 * "4294967294 4294967294 4294967295\n".len()
    );
}

#[test]
fn parse_forms() {
    let want = IdMap::new([m(0, 100_000, 65_536), m(70000, 2000, 1)]).unwrap();
    for text in [
        "0:100000:65536,70000:2000:1",
        "0:100000:65536,70000:2000",
        "  0:100000:65536 , 70000:2000\n",
        "0:100000:65536\n70000:2000:1\n",
        "\t0:100000:65536\t70000:2000",
        "b:0:100000:65536,b:70000:2000",
        "0:100000:65536 ,b:70000:2000:01",
    ] {
        assert_eq!(text.parse::<IdMap>().unwrap(), want, "{text:?}");
    }
    assert_eq!(
        "4294967294:4294967294".parse::<IdMap>().unwrap(),
        IdMap::single(u32::MAX - 1, u32::MAX - 1, 1).unwrap()
    );
}

#[test]
fn display_round_trips() {
    let map = IdMap::new([m(7, 8, 9), m(0, 0, 1)]).unwrap();
    assert_eq!(map.to_string(), "7:8:9,0:0:1");
    assert_eq!(map.to_string().parse::<IdMap>().unwrap(), map);
}

#[test]
fn syntax_errors() {
    let cases: &[(&str, usize, &str)] = &[
        ("0:1,,2:3", 4, ","),
        (",0:1", 0, ","),
        (" 0:1 , ", 5, ","),
        ("0:1:2:3", 5, "0:1:2:3"),
        ("0", 0, "0"),
        ("0:", 2, "0:"),
        (":5", 0, ":5"),
        ("0::1", 2, "0::1"),
        ("0:1 x:2:3", 4, "x:2:3"),
        ("0:1:z", 4, "0:1:z"),
        ("0:+1", 2, "0:+1"),
        ("0:-1", 2, "0:-1"),
        ("4294967296:0", 0, "4294967296:0"),
        ("0:99999999999999999999", 2, "0:99999999999999999999"),
        ("u:", 2, "u:"),
        ("b", 0, "b"),
        ("b:1", 0, "b:1"),
        ("b:1:2:3:4", 7, "b:1:2:3:4"),
        ("0:1;2:3", 2, "0:1;2:3"),
        ("0 1000 1", 0, "0"),
        ("0:1\u{a0}", 2, "0:1\u{a0}"),
        ("0:1 é:2", 4, "é:2"),
    ];
    for &(text, position, token) in cases {
        let (p, t, reason) = syntax_of(text);
        assert_eq!((p, t.as_str()), (position, token), "{text:?}: {reason}");
    }
    assert_eq!(
        syntax_of("4294967296:0").2,
        "number does not fit in 32 bits"
    );
    assert_eq!(
        syntax_of("x:0:1").2,
        "unknown prefix, expected 'u:', 'g:' or 'b:'"
    );
}

#[test]
fn single_map_rejects_u_and_g() {
    assert_eq!(
        parse_err("0:0:10, g:10:10"),
        IdMapError::PrefixNeedsSplit {
            index: 1,
            position: 8,
            kind: IdKind::Gid
        }
    );
    assert_eq!(
        parse_err("u:0:0"),
        IdMapError::PrefixNeedsSplit {
            index: 0,
            position: 0,
            kind: IdKind::Uid
        }
    );
}

#[test]
fn split() {
    let (u, g) = IdMap::parse_split("u:0:1000 g:0:2000, b:1:1:9 10:5000:5").unwrap();
    assert_eq!(u.to_string(), "0:1000:1,1:1:9,10:5000:5");
    assert_eq!(g.to_string(), "0:2000:1,1:1:9,10:5000:5");
    let (u, g) = IdMap::parse_split("0:100000:65536").unwrap();
    assert_eq!(u, g);
    assert_eq!(u, "0:100000:65536".parse().unwrap());
}

#[test]
fn split_missing_side() {
    assert_eq!(
        err_of(IdMap::parse_split("u:0:1000")),
        IdMapError::MissingSide { kind: IdKind::Gid }
    );
    assert_eq!(
        err_of(IdMap::parse_split("g:0:1000 g:1:1")),
        IdMapError::MissingSide { kind: IdKind::Uid }
    );
}

#[test]
fn split_reports_text_indices() {
    // The gid side is extents 1 and 3 of the text.
    assert_eq!(
        err_of(IdMap::parse_split("u:0:0:5 g:0:0:5 u:5:5:5 g:4:9:1")),
        IdMapError::Overlap {
            column: Column::From,
            first: 1,
            first_extent: m(0, 0, 5),
            second: 3,
            second_extent: m(4, 9, 1),
        }
    );
    assert!(matches!(
        err_of(IdMap::parse_split("g:0:0:1 u:0:0:1 u:3:0:0")),
        IdMapError::ZeroRange { index: 2, .. }
    ));
    // Both sides of a `u:`/`g:` pair may reuse the same ids.
    IdMap::parse_split("u:0:0:5 g:0:0:5").unwrap();
    // Syntax errors come before side checks.
    assert!(matches!(
        err_of(IdMap::parse_split("u:0:0 q:1:1")),
        IdMapError::Syntax { position: 6, .. }
    ));
}

#[test]
fn messages() {
    let e = crate::Error::from(IdMapError::Overlap {
        column: Column::To,
        first: 0,
        first_extent: m(0, 100, 10),
        second: 1,
        second_extent: m(20, 105, 5),
    });
    assert_eq!(
        e.to_string(),
        "invalid id map: extents 0 (0:100:10) and 1 (20:105:5) overlap in the to \
         (id seen through the mount) column"
    );
    assert_eq!(
        parse_err("0:1:2:3").to_string(),
        "syntax error at byte 5 in \"0:1:2:3\": too many ':' fields, expected from:to or \
         from:to:range"
    );
    assert_eq!(
        parse_err("g:0:1").to_string(),
        "extent 0 at byte 0 applies to gids only, but one map serves both uids and gids; \
         drop the 'g:' prefix or use IdMap::parse_split"
    );
    assert_eq!(
        IdMapError::MissingSide { kind: IdKind::Uid }.to_string(),
        "no extent applies to uids; add an unprefixed, 'b:' or 'u:' extent"
    );
    assert_eq!(
        IdMapError::TooManyExtents { count: 400 }.to_string(),
        "the id map has 400 extents, the kernel accepts at most 340"
    );
}

#[test]
fn debug_and_hash_see_extents_only() {
    use std::collections::HashSet;
    let a = IdMap::single(1, 2, 3).unwrap();
    assert_eq!(
        format!("{a:?}"),
        "IdMap([IdMapping { from: 1, to: 2, range: 3 }])"
    );
    let set: HashSet<IdMap> = [a.clone(), a].into_iter().collect();
    assert_eq!(set.len(), 1);
}

#[test]
fn decimal_lengths() {
    for (v, n) in [(0, 1), (9, 1), (10, 2), (99, 2), (100, 3), (u32::MAX, 10)] {
        assert_eq!(decimal_len(v), n);
    }
}

/// The cache finds a namespace by the maps' hash first: equal maps must
/// hash alike, and different maps (as a rule) differently.
#[test]
fn equal_maps_hash_alike_and_different_maps_differently() {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let h = |map: &IdMap| {
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(map)
    };
    let a: IdMap = "0:100000:65536".parse().unwrap();
    let same: IdMap = "0:100000:65536".parse().unwrap();
    assert_eq!(h(&a), h(&same));
    // DefaultHasher with its default keys is deterministic: these differ.
    for other in [
        "0:100000:65535",
        "0:200000:65536",
        "1:100000:65536",
        "0:100000:65536 70000:70000:1",
    ] {
        let b: IdMap = other.parse().unwrap();
        assert_ne!(h(&a), h(&b), "{other}");
    }
}

#[test]
fn a_lone_number_says_the_second_id_is_missing() {
    let lone = parse_err("5").to_string();
    assert!(lone.contains("missing ':' and the second id"), "{lone}");
    assert!(!lone.contains("prefix without an extent"), "{lone}");
}

#[test]
fn compose_takes_only_the_extents_that_overlap_not_one_that_merely_touches() {
    // `self` shows ids 100..110; `then` has an extent for exactly those and
    // one starting at 110, right after them, which must play no part.
    let map = |s: &str| s.parse::<IdMap>().unwrap();
    let a = map("0:100:10");
    let then = map("100:1000:10,110:5000:10");
    assert_eq!(a.compose(&then).unwrap(), map("0:1000:10"));
    // And one ending right where they start.
    let before = map("90:7000:10,100:1000:10");
    assert_eq!(a.compose(&before).unwrap(), map("0:1000:10"));
}
