//! Property tests for `IdMap`: validation against a brute-force model, the `/proc` text, the
//! text form's round trip, id lookups, and parsers that never panic.

use mountfd::{Column, Error, IdMap, IdMapError, IdMapping};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::HashMap;
use std::fmt::Write as _;

/// One past the largest valid id: an extent may end (exclusive) here and no further.
const ID_END: u64 = u32::MAX as u64;

fn id_map_error(e: Error) -> IdMapError {
    match e {
        Error::InvalidIdMap(e) => e,
        other => panic!("expected an id map error, got {other:?}"),
    }
}

/// A gap before an extent: mostly adjacent or nearly so, sometimes far apart.
fn gap() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0..4u32, 1 => 0..5_000_000u32]
}

/// A range: mostly tiny, sometimes large.
fn range() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 1..4u32, 1 => 1..5_000_000u32]
}

/// How many extents: mostly few, sometimes around the kernel's limit of 340.
fn extent_count(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 1..=8usize.min(max),
        2 => 1..=64usize.min(max),
        1 => 300.min(max)..=max,
    ]
}

/// Lays out extents of `ranges` (taken in `order`) one after another with `gaps` between them,
/// from `base` on, and returns where each extent starts, indexed like `ranges`. `base` is
/// lowered as needed to keep the last id at or below 4294967294.
fn lay_out(ranges: &[u32], order: &[usize], gaps: &[u32], base: u32) -> Vec<u32> {
    let total: u64 = order
        .iter()
        .zip(gaps)
        .map(|(&k, &g)| u64::from(g) + u64::from(ranges[k]))
        .sum();
    assert!(total <= ID_END, "strategy bounds are too loose");
    let mut cursor = u64::from(base).min(ID_END - total);
    let mut starts = vec![0; ranges.len()];
    for (&k, &g) in order.iter().zip(gaps) {
        cursor += u64::from(g);
        starts[k] = u32::try_from(cursor).unwrap();
        cursor += u64::from(ranges[k]);
    }
    starts
}

/// Extents that are valid by construction apart from their count, which may exceed the limit
/// when `max` does: no overlap in either column, no id past 4294967294.
fn non_overlapping(max: usize) -> impl Strategy<Value = Vec<IdMapping>> {
    extent_count(max).prop_flat_map(|n| {
        let identity: Vec<usize> = (0..n).collect();
        let base = prop_oneof![Just(0u32), any::<u32>(), Just(u32::MAX)];
        (
            vec(range(), n),
            vec(gap(), n),
            vec(gap(), n),
            Just(identity.clone()).prop_shuffle(),
            Just(identity).prop_shuffle(),
            base.clone(),
            base,
        )
            .prop_map(
                |(ranges, from_gaps, to_gaps, to_order, out_order, from_base, to_base)| {
                    let in_order: Vec<usize> = (0..ranges.len()).collect();
                    let from = lay_out(&ranges, &in_order, &from_gaps, from_base);
                    let to = lay_out(&ranges, &to_order, &to_gaps, to_base);
                    out_order
                        .iter()
                        .map(|&k| IdMapping::new(from[k], to[k], ranges[k]))
                        .collect()
                },
            )
    })
}

/// Valid maps, built from extents valid by construction.
fn valid_map() -> impl Strategy<Value = IdMap> {
    non_overlapping(IdMap::MAX_EXTENTS).prop_map(|m| IdMap::new(m).expect("valid by construction"))
}

/// An id start for arbitrary extents: small (so overlaps are likely) or near the top.
fn any_start() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0..40u32, 1 => (u32::MAX - 40)..=u32::MAX, 1 => any::<u32>()]
}

/// A range for arbitrary extents, including 0 and ranges that overflow.
fn any_range() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0..12u32,
        1 => (u32::MAX - 3)..=u32::MAX,
        1 => any::<u32>(),
    ]
}

fn any_extents() -> impl Strategy<Value = Vec<IdMapping>> {
    vec(
        (any_start(), any_start(), any_range()).prop_map(|(f, t, r)| IdMapping::new(f, t, r)),
        0..7,
    )
}

/// What the model expects of `IdMap::new`.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Ok,
    Empty,
    TooMany,
    ZeroRange(usize),
    Overflow(usize, Column),
    InvalidId(usize, Column),
    Overlap(Column),
}

fn start(m: &IdMapping, column: Column) -> u32 {
    match column {
        Column::From => m.from,
        Column::To => m.to,
    }
}

/// Brute-force overlap check: materialises every id when the extents are small, else compares
/// every pair of intervals.
fn overlaps(extents: &[IdMapping], column: Column) -> bool {
    let total: u64 = extents.iter().map(|m| u64::from(m.range)).sum();
    if total <= 10_000 {
        let mut owner = HashMap::new();
        for (i, m) in extents.iter().enumerate() {
            for k in 0..m.range {
                if owner.insert(start(m, column) + k, i).is_some() {
                    return true;
                }
            }
        }
        false
    } else {
        let span = |m: &IdMapping| {
            let s = u64::from(start(m, column));
            (s, s + u64::from(m.range))
        };
        extents.iter().enumerate().any(|(i, a)| {
            extents[i + 1..].iter().any(|b| {
                let ((a0, a1), (b0, b1)) = (span(a), span(b));
                a0 < b1 && b0 < a1
            })
        })
    }
}

fn model(extents: &[IdMapping]) -> Verdict {
    if extents.is_empty() {
        return Verdict::Empty;
    }
    if extents.len() > IdMap::MAX_EXTENTS {
        return Verdict::TooMany;
    }
    for (i, m) in extents.iter().enumerate() {
        if m.range == 0 {
            return Verdict::ZeroRange(i);
        }
        for column in [Column::From, Column::To] {
            let last = u64::from(start(m, column)) + u64::from(m.range) - 1;
            if last > u64::from(u32::MAX) {
                return Verdict::Overflow(i, column);
            }
            if last == u64::from(u32::MAX) {
                return Verdict::InvalidId(i, column);
            }
        }
    }
    for column in [Column::From, Column::To] {
        if overlaps(extents, column) {
            return Verdict::Overlap(column);
        }
    }
    Verdict::Ok
}

fn check_new(extents: &[IdMapping]) -> Result<(), TestCaseError> {
    let want = model(extents);
    match IdMap::new(extents.iter().copied()) {
        Ok(map) => {
            prop_assert_eq!(want, Verdict::Ok);
            prop_assert_eq!(map.mappings(), extents);
        }
        Err(e) => {
            let got = match id_map_error(e) {
                IdMapError::Empty => Verdict::Empty,
                IdMapError::TooManyExtents { count } => {
                    prop_assert_eq!(count, extents.len());
                    Verdict::TooMany
                }
                IdMapError::ZeroRange { index, extent } => {
                    prop_assert_eq!(extent, extents[index]);
                    Verdict::ZeroRange(index)
                }
                IdMapError::Overflow {
                    index,
                    extent,
                    column,
                } => {
                    prop_assert_eq!(extent, extents[index]);
                    Verdict::Overflow(index, column)
                }
                IdMapError::InvalidId {
                    index,
                    extent,
                    column,
                } => {
                    prop_assert_eq!(extent, extents[index]);
                    Verdict::InvalidId(index, column)
                }
                IdMapError::Overlap {
                    column,
                    first,
                    first_extent,
                    second,
                    second_extent,
                } => {
                    prop_assert!(first < second);
                    prop_assert_eq!(first_extent, extents[first]);
                    prop_assert_eq!(second_extent, extents[second]);
                    prop_assert!(overlaps(&[first_extent, second_extent], column));
                    Verdict::Overlap(column)
                }
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            };
            prop_assert_eq!(got, want);
        }
    }
    Ok(())
}

/// Brute-force lookup: the first extent covering `id` in column `src`, mapped across.
fn model_lookup(extents: &[IdMapping], id: u32, src: Column) -> Option<u32> {
    extents.iter().find_map(|m| {
        let (base, other) = match src {
            Column::From => (m.from, m.to),
            Column::To => (m.to, m.from),
        };
        let offset = u64::from(id).checked_sub(u64::from(base))?;
        (offset < u64::from(m.range)).then(|| u32::try_from(u64::from(other) + offset).unwrap())
    })
}

/// Ids worth probing for a map: each extent's edges in both columns, just inside and outside.
fn probe_ids(extents: &[IdMapping]) -> Vec<u32> {
    let mut ids = vec![0, 1, u32::MAX - 1, u32::MAX];
    for m in extents {
        for s in [m.from, m.to] {
            let end = s.wrapping_add(m.range);
            ids.extend([
                s.wrapping_sub(1),
                s,
                s.wrapping_add(1),
                end.wrapping_sub(2),
                end.wrapping_sub(1),
                end,
            ]);
        }
    }
    ids
}

/// A piece of text from the id map grammar, or a near miss.
fn grammar_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,3}",
        1 => "42949672[0-9]{2}",
        1 => "[0-9]{11,12}",
        4 => Just(":".to_owned()),
        2 => Just(",".to_owned()),
        2 => Just(" ".to_owned()),
        1 => prop::sample::select(vec!["\n", "\t", "\r\n", "\u{a0}", " , "]).prop_map(str::to_owned),
        2 => prop::sample::select(vec!["u:", "g:", "b:", "x:", "U:", "u", "b"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["-", "+", ";", "é", "0x", "\0", "4294967295", "4294967294"])
            .prop_map(str::to_owned),
    ]
}

fn grammar_text() -> impl Strategy<Value = String> {
    vec(grammar_piece(), 0..24).prop_map(|v| v.concat())
}

/// Well-formed text: extents with a random prefix and separator, plus the extents and prefixes.
fn well_formed_text() -> impl Strategy<Value = (String, Vec<(char, IdMapping)>)> {
    let extent = (
        prop::sample::select(vec![' ', 'u', 'g', 'b']),
        any_start(),
        any_start(),
        prop_oneof![Just(None), any_range().prop_map(Some)],
    );
    let sep = prop::sample::select(vec![",", " ", ", ", "\n", " ,\t", "\t"]);
    (
        vec((extent, sep), 1..6),
        prop::sample::select(vec!["", " ", "\n "]),
    )
        .prop_map(|(parts, pad)| {
            let mut text = pad.to_owned();
            let mut extents = Vec::new();
            for (i, ((prefix, from, to, range), sep)) in parts.into_iter().enumerate() {
                if i > 0 {
                    text.push_str(sep);
                }
                if prefix != ' ' {
                    text.push(prefix);
                    text.push(':');
                }
                write!(text, "{from}:{to}").unwrap();
                if let Some(r) = range {
                    write!(text, ":{r}").unwrap();
                }
                extents.push((prefix, IdMapping::new(from, to, range.unwrap_or(1))));
            }
            text.push_str(pad);
            (text, extents)
        })
}

/// Checks what can be said of parsing any text, and that it does not panic.
fn check_parsers(s: &str) -> Result<(), TestCaseError> {
    let single = s.parse::<IdMap>().map_err(id_map_error);
    let split = IdMap::parse_split(s).map_err(id_map_error);
    for e in [single.as_ref().err(), split.as_ref().err()]
        .into_iter()
        .flatten()
    {
        prop_assert!(!e.to_string().is_empty());
        if let IdMapError::Syntax {
            position, token, ..
        } = e
        {
            prop_assert!(s.is_char_boundary(*position), "{} in {:?}", position, s);
            prop_assert!(*position <= s.len());
            prop_assert!(s.contains(token.as_str()), "{:?} not in {:?}", token, s);
        }
    }
    match &single {
        Ok(map) => {
            // A map accepted as one also splits into itself twice, and prints canonically.
            prop_assert_eq!(split.clone(), Ok((map.clone(), map.clone())));
            prop_assert_eq!(map.to_string().parse::<IdMap>().unwrap(), map.clone());
        }
        Err(e @ IdMapError::Syntax { .. }) => prop_assert_eq!(split.clone(), Err(e.clone())),
        Err(_) => {}
    }
    if let Ok((uids, gids)) = &split {
        prop_assert_eq!(&uids.to_string().parse::<IdMap>().unwrap(), uids);
        prop_assert_eq!(&gids.to_string().parse::<IdMap>().unwrap(), gids);
    }
    Ok(())
}

proptest! {
    /// (1) Each line of the `/proc` text is `from to range`, in that column order.
    #[test]
    fn proc_map_lines_are_from_to_range(map in valid_map()) {
        let text = map.to_proc_map();
        prop_assert!(text.ends_with('\n'));
        let lines: Vec<IdMapping> = text
            .lines()
            .map(|line| {
                let f: Vec<u32> = line.split(' ').map(|n| n.parse().unwrap()).collect();
                assert_eq!(f.len(), 3, "{line:?}");
                IdMapping { from: f[0], to: f[1], range: f[2] }
            })
            .collect();
        prop_assert_eq!(lines.as_slice(), map.mappings());

        // The allocation-free writer gives the same bytes, and refuses a short buffer.
        prop_assert_eq!(map.proc_map_len(), text.len());
        prop_assert!(text.len() <= IdMap::MAX_PROC_MAP_LEN);
        let mut buf = vec![0u8; IdMap::MAX_PROC_MAP_LEN];
        let n = map.write_proc_map(&mut buf).unwrap();
        prop_assert_eq!(&buf[..n], text.as_bytes());
        prop_assert_eq!(map.write_proc_map(&mut buf[..n - 1]), None);
    }

    /// (2) The text form round-trips.
    #[test]
    fn display_round_trips(map in valid_map()) {
        let text = map.to_string();
        prop_assert_eq!(text.parse::<IdMap>().unwrap(), map.clone());
        prop_assert_eq!(IdMap::parse_split(&text).unwrap(), (map.clone(), map));
    }

    /// (3) Lookups agree with scanning the extents, at every extent's edges and elsewhere.
    #[test]
    fn lookups_agree_with_model(map in valid_map(), extra in vec(any::<u32>(), 8)) {
        let extents = map.mappings();
        for id in probe_ids(extents).into_iter().chain(extra) {
            let seen = map.map_id(id);
            prop_assert_eq!(seen, model_lookup(extents, id, Column::From), "map_id({})", id);
            let on_disk = map.unmap_id(id);
            prop_assert_eq!(on_disk, model_lookup(extents, id, Column::To), "unmap_id({})", id);
            if let Some(seen) = seen {
                prop_assert_eq!(map.unmap_id(seen), Some(id));
            }
            if let Some(on_disk) = on_disk {
                prop_assert_eq!(map.map_id(on_disk), Some(id));
            }
        }
    }

    /// (4) No text makes the parsers panic: arbitrary strings.
    #[test]
    fn parsers_never_panic_on_any_string(s in any::<String>()) {
        check_parsers(&s)?;
    }

    /// (4) No text makes the parsers panic: strings from the grammar and its near misses.
    #[test]
    fn parsers_never_panic_on_grammar(s in grammar_text()) {
        check_parsers(&s)?;
    }

    /// Well-formed text parses to the extents it was written from.
    #[test]
    fn well_formed_text_parses((text, extents) in well_formed_text()) {
        check_parsers(&text)?;
        let has_one_sided = extents.iter().any(|(p, _)| matches!(p, 'u' | 'g'));
        let all: Vec<IdMapping> = extents.iter().map(|&(_, m)| m).collect();
        match text.parse::<IdMap>() {
            Ok(map) => {
                prop_assert!(!has_one_sided);
                prop_assert_eq!(map.mappings(), all.as_slice());
            }
            Err(e) => match id_map_error(e) {
                IdMapError::PrefixNeedsSplit { index, kind, .. } => {
                    prop_assert_eq!(extents[index].0, kind.prefix());
                    prop_assert!(extents[..index].iter().all(|(p, _)| !matches!(p, 'u' | 'g')));
                }
                e => {
                    prop_assert!(!has_one_sided);
                    prop_assert_eq!(
                        e,
                        id_map_error(IdMap::new(all.iter().copied()).unwrap_err())
                    );
                }
            },
        }
        let side = |skip: char| -> Vec<IdMapping> {
            extents.iter().filter(|(p, _)| *p != skip).map(|&(_, m)| m).collect()
        };
        let (u, g) = (side('g'), side('u'));
        if let Ok((uids, gids)) = IdMap::parse_split(&text) {
            prop_assert_eq!(uids.mappings(), u.as_slice());
            prop_assert_eq!(gids.mappings(), g.as_slice());
        } else {
            prop_assert!(
                u.is_empty() || g.is_empty() || IdMap::new(u).is_err() || IdMap::new(g).is_err()
            );
        }
    }

    /// (5) `IdMap::new` accepts exactly what the model does, with the model's error.
    #[test]
    fn new_agrees_with_model(extents in any_extents()) {
        check_new(&extents)?;
    }

    /// (5) Extents valid by construction are accepted, up to the count limit.
    #[test]
    fn new_accepts_valid_extents(extents in non_overlapping(IdMap::MAX_EXTENTS + 20)) {
        check_new(&extents)?;
        prop_assert_eq!(IdMap::new(extents.iter().copied()).is_ok(), extents.len() <= 340);
    }

    /// (5) Breaking a valid map (a range of 0, or an extent moved onto another) is caught.
    #[test]
    fn new_rejects_broken_maps(
        map in valid_map(),
        pick in any::<prop::sample::Index>(),
        onto in any::<prop::sample::Index>(),
        how in 0..3u8,
    ) {
        let mut extents = map.mappings().to_vec();
        let (i, j) = (pick.index(extents.len()), onto.index(extents.len()));
        match how {
            0 => extents[i].range = 0,
            1 => extents.push(IdMapping { to: u32::MAX - 1, range: 1, ..extents[j] }),
            _ => extents.push(IdMapping { from: u32::MAX - 1, range: 1, ..extents[j] }),
        }
        check_new(&extents)?;
        prop_assert!(IdMap::new(extents).is_err());
    }
}
