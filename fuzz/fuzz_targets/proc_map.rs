//! The `/proc/PID/uid_map` writer: `IdMap::to_proc_map`, `write_proc_map`,
//! `proc_map_len`, and the lookups `map_id`/`unmap_id`.
//!
//! For any extents `IdMap::new` accepts, every line of the text reads back
//! as `from to range` (column 1 the on-disk id, column 2 the id seen through
//! the mount) equal to `mappings()`, in order; the allocation-free writer
//! produces the same bytes and refuses a buffer one byte short; and the
//! lookups agree with a linear scan of the extents in both directions.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mountfd::{Error, IdMap, IdMapping};

#[derive(Arbitrary, Debug)]
struct Extent {
    from: u32,
    to: u32,
    range: u32,
    /// Keep the range small, so that valid multi-extent maps are common.
    small: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    extents: Vec<Extent>,
    probes: Vec<u32>,
}

fn scan(extents: &[IdMapping], id: u32, forward: bool) -> Option<u32> {
    extents.iter().find_map(|m| {
        let (src, dst) = if forward {
            (m.from, m.to)
        } else {
            (m.to, m.from)
        };
        let off = id.checked_sub(src)?;
        (off < m.range).then(|| dst + off)
    })
}

fuzz_target!(|input: Input| {
    let extents: Vec<IdMapping> = input
        .extents
        .iter()
        .map(|e| IdMapping::new(e.from, e.to, if e.small { e.range % 4096 } else { e.range }))
        .collect();
    let map = match IdMap::new(extents.iter().copied()) {
        Ok(map) => map,
        Err(e) => {
            assert!(matches!(e, Error::InvalidIdMap(_)), "{e:?}");
            return;
        }
    };
    assert_eq!(map.mappings(), &extents[..], "extents keep their order");

    // Column order: each line is `from to range`, one per extent, in order.
    let text = map.to_proc_map();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), extents.len());
    for (line, m) in lines.iter().zip(&extents) {
        let cols: Vec<u32> = line
            .split(' ')
            .map(|c| c.parse().expect("a decimal id"))
            .collect();
        assert_eq!(cols, [m.from, m.to, m.range], "line {line:?}");
    }

    // The allocation-free writer: same bytes, exact length, refuses one byte short.
    let len = map.proc_map_len();
    assert_eq!(len, text.len());
    assert!(len <= IdMap::MAX_PROC_MAP_LEN);
    let mut buf = vec![0u8; IdMap::MAX_PROC_MAP_LEN];
    assert_eq!(map.write_proc_map(&mut buf), Some(len));
    assert_eq!(&buf[..len], text.as_bytes());
    assert_eq!(map.write_proc_map(&mut buf[..len]), Some(len));
    assert_eq!(map.write_proc_map(&mut buf[..len - 1]), None);

    // Lookups agree with a linear scan, and invert each other.
    let edges = extents.iter().flat_map(|m| {
        [
            m.from,
            m.to,
            m.from.wrapping_sub(1),
            m.from + (m.range - 1),
            m.from + (m.range - 1) + 1,
        ]
    });
    for id in input.probes.iter().copied().chain(edges) {
        let seen = map.map_id(id);
        assert_eq!(seen, scan(&extents, id, true), "map_id({id})");
        if let Some(seen) = seen {
            assert_eq!(map.unmap_id(seen), Some(id), "unmap_id(map_id({id}))");
        }
        assert_eq!(
            map.unmap_id(id),
            scan(&extents, id, false),
            "unmap_id({id})"
        );
    }
});
