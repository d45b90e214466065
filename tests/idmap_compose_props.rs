//! Properties of `IdMap::compose` and `IdMap::inverse` (issue 12): the
//! composition maps every id as the two maps in turn do, the inverse undoes a
//! map, and results stay within the kernel's 340 extents or are refused.

use mountfd::{Error, IdMap, IdMapError, IdMapping};
use proptest::collection::vec;
use proptest::prelude::*;

/// Up to `max` extents laid out in a small id space (below 4,000 in both
/// columns), so that two random maps share ids often: each extent is a
/// (gap, range) step along the `from` column, and its `to` start comes from
/// a shuffled layout of the same ranges.
fn small_map(max: usize) -> impl Strategy<Value = IdMap> {
    vec((0u32..40, 1u32..60, 0u32..40), 1..=max)
        .prop_flat_map(|steps| {
            let n = steps.len();
            (Just(steps), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
        .prop_map(|(steps, order)| {
            let mut from = Vec::with_capacity(steps.len());
            let mut at = 0;
            for &(gap, range, _) in &steps {
                at += gap;
                from.push(at);
                at += range;
            }
            // The `to` column: the same ranges in another order, with gaps.
            let mut to = vec![0; steps.len()];
            let mut at = 0;
            for &i in &order {
                at += steps[i].2;
                to[i] = at;
                at += steps[i].1;
            }
            let extents = steps
                .iter()
                .enumerate()
                .map(|(i, &(_, range, _))| IdMapping::new(from[i], to[i], range));
            IdMap::new(extents).expect("a valid layout")
        })
}

/// Every id where some extent of either map starts or ends, and beside it.
fn probes(a: &IdMap, b: &IdMap) -> Vec<u32> {
    let mut ids = vec![0, 1, 3999, 4000, 8000];
    for m in a.mappings().iter().chain(b.mappings()) {
        for edge in [m.from, m.to, m.from + m.range, m.to + m.range] {
            ids.extend([edge.saturating_sub(1), edge, edge + 1]);
        }
    }
    ids
}

proptest! {
    #[test]
    fn compose_maps_every_id_as_the_two_maps_in_turn(a in small_map(12), b in small_map(12)) {
        let through = |x: u32| a.map_id(x).and_then(|y| b.map_id(y));
        match a.compose(&b) {
            Ok(c) => {
                prop_assert!(c.mappings().len() <= IdMap::MAX_EXTENTS);
                for x in probes(&a, &b) {
                    prop_assert_eq!(c.map_id(x), through(x), "id {}", x);
                }
                // Sorted by on-disk id, no two neighbours that could be one.
                for w in c.mappings().windows(2) {
                    prop_assert!(w[0].from < w[1].from);
                    prop_assert!(
                        !(w[0].from + w[0].range == w[1].from && w[0].to + w[0].range == w[1].to),
                        "{:?} and {:?} should have been joined", w[0], w[1]
                    );
                }
            }
            Err(Error::InvalidIdMap(IdMapError::Empty)) => {
                // Nothing makes it through: no id of `a`'s range maps in `b`.
                for m in a.mappings() {
                    for x in m.from..m.from + m.range {
                        prop_assert_eq!(through(x), None, "id {} makes it through", x);
                    }
                }
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn compose_of_many_extents_is_within_340_or_refused(a in small_map(300), b in small_map(300)) {
        match a.compose(&b) {
            Ok(c) => prop_assert!(c.mappings().len() <= IdMap::MAX_EXTENTS),
            Err(Error::InvalidIdMap(IdMapError::TooManyExtents { count })) => {
                prop_assert!(count > IdMap::MAX_EXTENTS)
            }
            Err(Error::InvalidIdMap(IdMapError::Empty)) => {}
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn inverse_undoes_a_map(a in small_map(40)) {
        let inv = a.inverse();
        prop_assert_eq!(inv.inverse(), a.clone());
        for x in probes(&a, &inv) {
            prop_assert_eq!(inv.map_id(x), a.unmap_id(x));
            if let Some(y) = a.map_id(x) {
                prop_assert_eq!(inv.map_id(y), Some(x));
            }
        }
    }

    #[test]
    fn a_map_composed_with_its_inverse_is_the_identity_on_its_ids(a in small_map(40)) {
        let id = a.compose(&a.inverse()).unwrap();
        for m in id.mappings() {
            prop_assert_eq!(m.from, m.to);
        }
        for x in probes(&a, &a) {
            prop_assert_eq!(id.map_id(x), a.map_id(x).map(|_| x));
        }
    }
}
