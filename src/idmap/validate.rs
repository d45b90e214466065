//! The rules the kernel applies to a map written to `/proc/PID/uid_map`
//! (`kernel/user_namespace.c`, `map_write`).

use super::{Column, IdMap, IdMapError, IdMapping};

/// The largest id the kernel accepts in a map: `4294967295` (`(uid_t)-1`) is never valid.
const MAX_ID: u32 = u32::MAX - 1;

/// Checks `extents` against the kernel's rules, reporting indices into `extents`.
pub(super) fn validate(extents: &[IdMapping]) -> Result<(), IdMapError> {
    if extents.is_empty() {
        return Err(IdMapError::Empty);
    }
    if extents.len() > IdMap::MAX_EXTENTS {
        return Err(IdMapError::TooManyExtents {
            count: extents.len(),
        });
    }
    for (index, &extent) in extents.iter().enumerate() {
        if extent.range == 0 {
            return Err(IdMapError::ZeroRange { index, extent });
        }
        for column in [Column::From, Column::To] {
            // One past the last id; computed wide so it cannot wrap.
            let end = u64::from(extent.start(column)) + u64::from(extent.range);
            if end > u64::from(u32::MAX) + 1 {
                return Err(IdMapError::Overflow {
                    index,
                    extent,
                    column,
                });
            }
            if end > u64::from(MAX_ID) + 1 {
                return Err(IdMapError::InvalidId {
                    index,
                    extent,
                    column,
                });
            }
        }
    }
    for column in [Column::From, Column::To] {
        if let Some((first, second)) = find_overlap(extents, column) {
            return Err(IdMapError::Overlap {
                column,
                first,
                first_extent: extents[first],
                second,
                second_extent: extents[second],
            });
        }
    }
    Ok(())
}

/// Returns the indices (lower first) of two extents sharing an id in `column`, if any.
///
/// Sorting by start and comparing neighbours suffices: if extents `i < j` in that order
/// overlap, `j` starts inside `i`, and so does `i + 1`, which starts between them.
fn find_overlap(extents: &[IdMapping], column: Column) -> Option<(usize, usize)> {
    let mut order: Vec<usize> = (0..extents.len()).collect();
    order.sort_unstable_by_key(|&i| (extents[i].start(column), i));
    order.windows(2).find_map(|pair| {
        let (a, b) = (&extents[pair[0]], &extents[pair[1]]);
        let a_end = u64::from(a.start(column)) + u64::from(a.range);
        (u64::from(b.start(column)) < a_end).then(|| (pair[0].min(pair[1]), pair[0].max(pair[1])))
    })
}
