//! Composing maps and inverting them: one map equal to two applied in turn,
//! and the map that undoes another.
//!
//! A container runtime gives a container a base map (its ids on the host) and
//! a service inside it a map of its own; writing the two as separate id maps
//! for one mount gives overlapping or wrong extents. The composition is the
//! single map the kernel should get instead.

use super::{IdMap, IdMapError, IdMapping};

impl IdMap {
    /// Returns the single map equal to mapping through `self`, then through
    /// `then`: on-disk id `x` is seen as `then.map_id(self.map_id(x)?)`.
    ///
    /// An id that `self` maps to an id `then` does not map is left out (the
    /// kernel would show it as the overflow id either way). The extents of
    /// the result are sorted by their on-disk (`from`) ids, with neighbours
    /// that continue each other in both columns joined into one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdMap`](crate::Error::InvalidIdMap) with
    /// [`IdMapError::Empty`] if no id makes it through both maps, or
    /// [`IdMapError::TooManyExtents`] if the result needs more than
    /// [`IdMap::MAX_EXTENTS`] extents.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// // The container's base map, then a service's map inside it.
    /// let base: IdMap = "0:100000:65536".parse()?;
    /// let service: IdMap = "100000:200000:1000,101000:101000:64536".parse()?;
    /// let both = base.compose(&service)?;
    /// assert_eq!(both.to_string(), "0:200000:1000,1000:101000:64536");
    /// for id in [0, 999, 1000, 65535] {
    ///     assert_eq!(both.map_id(id), base.map_id(id).and_then(|y| service.map_id(y)));
    /// }
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn compose(&self, then: &IdMap) -> crate::Result<IdMap> {
        let mut pieces = Vec::new();
        for a in self.mappings() {
            // The ids `a` shows, [a.to, a.to + a.range), wide so they cannot wrap.
            let (lo, hi) = (u64::from(a.to), u64::from(a.to) + u64::from(a.range));
            // `then`'s extents by their `from` ids: only those starting before
            // `hi` and ending after `lo` overlap.
            let sorted = &then.by_from;
            let first = sorted.partition_point(|b| u64::from(b.from) + u64::from(b.range) <= lo);
            for b in sorted[first..]
                .iter()
                .take_while(|b| u64::from(b.from) < hi)
            {
                let start = lo.max(u64::from(b.from));
                let end = hi.min(u64::from(b.from) + u64::from(b.range));
                // Both offsets and the range are below 2^32: `a` and `b` are
                // validated extents and `start..end` lies inside both.
                pieces.push(IdMapping::new(
                    a.from + (start - lo) as u32,
                    b.to + (start - u64::from(b.from)) as u32,
                    (end - start) as u32,
                ));
            }
        }
        pieces.sort_unstable_by_key(|m| m.from);
        let mut joined: Vec<IdMapping> = Vec::with_capacity(pieces.len());
        for m in pieces {
            match joined.last_mut() {
                Some(prev)
                    if u64::from(prev.from) + u64::from(prev.range) == u64::from(m.from)
                        && u64::from(prev.to) + u64::from(prev.range) == u64::from(m.to) =>
                {
                    prev.range += m.range;
                }
                _ => joined.push(m),
            }
        }
        if joined.is_empty() {
            return Err(IdMapError::Empty.into());
        }
        Ok(IdMap::from_vec(joined)?)
    }

    /// Returns the map that undoes this one: each extent with its columns
    /// swapped, in the same order. What a mount with this map shows as `to`
    /// is stored on disk as `from`; `map.inverse().map_id(seen)` is
    /// [`map.unmap_id(seen)`](IdMap::unmap_id).
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let map: IdMap = "0:100000:65536,70000:0:1".parse()?;
    /// assert_eq!(map.inverse().to_string(), "100000:0:65536,0:70000:1");
    /// assert_eq!(map.inverse().inverse(), map);
    /// assert_eq!(map.inverse().map_id(100_005), map.unmap_id(100_005));
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn inverse(&self) -> IdMap {
        let swapped = self
            .mappings()
            .iter()
            .map(|m| IdMapping::new(m.to, m.from, m.range))
            .collect();
        // The kernel's rules treat both columns alike, so a valid map's
        // inverse is valid.
        IdMap::from_vec(swapped).expect("the inverse of a valid map is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(s: &str) -> IdMap {
        s.parse().unwrap()
    }

    #[test]
    fn composing_with_a_map_that_shares_no_id_is_empty() {
        let err = map("0:1000:10").compose(&map("0:5000:10")).unwrap_err();
        assert!(matches!(err, crate::Error::InvalidIdMap(IdMapError::Empty)));
    }

    #[test]
    fn pieces_are_joined_when_they_continue_each_other() {
        // Two extents of `a` that land on one extent of `b` come out as one.
        let a = map("0:1000:10,10:1010:10");
        let b = map("1000:0:100");
        assert_eq!(a.compose(&b).unwrap().to_string(), "0:0:20");
    }

    #[test]
    fn an_extent_split_by_the_second_map_gives_one_piece_per_part() {
        let a = map("0:1000:100");
        let b = map("1050:7:10,1000:5000:20");
        // Sorted by on-disk id: 0..20 -> 5000.., 50..60 -> 7..
        assert_eq!(a.compose(&b).unwrap().to_string(), "0:5000:20,50:7:10");
    }

    #[test]
    fn more_than_340_extents_is_an_error() {
        // Each extent of `a` straddles two extents of `b` whose `to` ids are
        // far apart, and the extents of `a` start 10 ids apart on disk: 339
        // extents become 678 pieces, none of which continues another.
        let a = IdMap::new((0..339).map(|i| IdMapping::new(10 * i, 2 * i + 1, 2))).unwrap();
        let b = IdMap::new((0..340).map(|i| IdMapping::new(2 * i, 10_000 + 5 * i, 2))).unwrap();
        let err = a.compose(&b).unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::InvalidIdMap(IdMapError::TooManyExtents { count: 678 })
            ),
            "{err:?}"
        );
        // Through a map that keeps each extent whole, the same `a` fits.
        let wide = IdMap::single(0, 50_000, 1000).unwrap();
        assert_eq!(a.compose(&wide).unwrap().mappings().len(), 339);
    }

    #[test]
    fn inverse_swaps_columns_and_keeps_order() {
        let m = map("5:6:7,100:0:1");
        assert_eq!(
            m.inverse().mappings(),
            &[IdMapping::new(6, 5, 7), IdMapping::new(0, 100, 1)]
        );
    }
}
