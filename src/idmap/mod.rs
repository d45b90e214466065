//! Id maps: which on-disk ids are seen as which ids through an id-mapped mount.
//!
//! An [`IdMap`] is the list of extents the kernel accepts in `/proc/PID/uid_map` and
//! `/proc/PID/gid_map` (see [`user_namespaces(7)`]). A user namespace carrying that map is what
//! an id-mapped mount is given; through the mount, an id stored on disk is shown (and written) as
//! the id the map pairs it with. [`IdMap`] explains the column order and the text form.
//!
//! [`user_namespaces(7)`]: https://man7.org/linux/man-pages/man7/user_namespaces.7.html
//!
//! The module is split by concept: [`IdMapping`] and the names of its columns
//! (`mapping`), the kernel's rules (`validate`), the errors (`error`), the text form
//! (`parse`), the `/proc` text (`proc_text`), and composing and inverting maps (`compose`).

mod compose;
mod error;
mod mapping;
mod parse;
mod proc_text;
mod validate;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

pub use error::IdMapError;
pub use mapping::{Column, IdKind, IdMapping};

use parse::{for_each_extent, split_text, Prefix};
use validate::validate;

/// A validated id map: 1 to [`IdMap::MAX_EXTENTS`] extents that the kernel accepts as a
/// `uid_map` or `gid_map` of a user namespace.
///
/// A user namespace carrying the map (see [`user_namespaces(7)`]) is what an id-mapped mount is
/// given. Extents keep the order they were given in; two maps with the same extents in another
/// order compare unequal.
///
/// Build one with [`IdMap::new`], [`IdMap::single`], by parsing its text form with
/// [`str::parse`], or with [`IdMap::parse_split`]. Its [`Display`](fmt::Display) form is the
/// canonical text, `from:to:range` extents joined by commas, which parses back to an equal map.
///
/// # Column order
///
/// Every extent is `from to range`, in that order, both in the text written to `/proc` and in
/// [`IdMapping`]:
///
/// - column 1, [`IdMapping::from`], is the id **stored on disk**;
/// - column 2, [`IdMapping::to`], is the id **seen through the mount**;
/// - column 3, [`IdMapping::range`], is how many consecutive ids the extent covers.
///
/// So `0 100000 65536` makes a file owned by uid 0 on disk show as uid 100000 through the mount.
/// The kernel cannot tell an inverted map from a correct one: writing `100000 0 65536` for that
/// mount raises no error, but no on-disk id of the tree is mapped any more, and every file shows
/// as the overflow id 65534 (`nobody`).
///
/// # Text form
///
/// An `IdMap` parses and prints a compact form: extents `from:to[:range]` (the range defaults
/// to 1), separated by commas and/or ASCII whitespace, for example `0:100000:1000,1000:1000`. An
/// extent may carry a prefix saying which ids it is for: `u:` (uids only), `g:` (gids only) or
/// `b:` (both). A single map applies to both, so [`str::parse`] accepts `b:` and unprefixed
/// extents only; [`IdMap::parse_split`] sorts prefixed extents into a uid map and a gid map.
///
/// # Examples
///
/// ```
/// use mountfd::IdMap;
///
/// // On-disk ids 0..1000 show as 100000..101000, on-disk 1000 stays 1000.
/// let map: IdMap = "0:100000:1000, 1000:1000".parse()?;
/// assert_eq!(map.to_string(), "0:100000:1000,1000:1000:1");
/// assert_eq!(map.map_id(10), Some(100_010));
/// assert_eq!(map.map_id(1000), Some(1000));
/// assert_eq!(map.map_id(1001), None);
/// assert_eq!(map.to_proc_map(), "0 100000 1000\n1000 1000 1\n");
/// # Ok::<(), mountfd::Error>(())
/// ```
///
/// [`user_namespaces(7)`]: https://man7.org/linux/man-pages/man7/user_namespaces.7.html
#[derive(Clone)]
pub struct IdMap {
    /// The extents, in the caller's order.
    extents: Box<[IdMapping]>,
    /// The same extents sorted by `from`, for lookups.
    by_from: Box<[IdMapping]>,
    /// The same extents sorted by `to`, for reverse lookups.
    by_to: Box<[IdMapping]>,
}

impl IdMap {
    /// The most extents a map may have; the kernel refuses more (`UID_GID_MAP_MAX_EXTENTS`).
    pub const MAX_EXTENTS: usize = 340;

    /// Creates an id map from its extents, checking them as the kernel will.
    ///
    /// The extents keep the order given.
    ///
    /// # Errors
    ///
    /// Returns [`Error::InvalidIdMap`](crate::Error::InvalidIdMap) if the map would be refused
    /// by the kernel, checked in this order:
    ///
    /// - [`IdMapError::Empty`]: no extent;
    /// - [`IdMapError::TooManyExtents`]: more than [`IdMap::MAX_EXTENTS`];
    /// - for each extent in order, [`IdMapError::ZeroRange`] if its range is 0, then in the
    ///   `from` column and then the `to` column [`IdMapError::Overflow`] if the ids do not fit
    ///   in 32 bits, or [`IdMapError::InvalidId`] if they include 4294967295;
    /// - [`IdMapError::Overlap`]: two extents share an id in the `from` column, then the same
    ///   for the `to` column.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::{IdMap, IdMapping};
    ///
    /// let map = IdMap::new([IdMapping::new(0, 100_000, 65_536), IdMapping::new(65_536, 0, 1)])?;
    /// assert_eq!(map.mappings().len(), 2);
    ///
    /// // Both extents would hold on-disk id 10.
    /// assert!(IdMap::new([IdMapping::new(0, 0, 100), IdMapping::new(10, 500, 1)]).is_err());
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn new(m: impl IntoIterator<Item = IdMapping>) -> crate::Result<IdMap> {
        Ok(Self::from_vec(m.into_iter().collect())?)
    }

    /// Creates an id map with one extent: on-disk ids `from..from + range` are seen as
    /// `to..to + range`.
    ///
    /// # Errors
    ///
    /// Returns [`Error::InvalidIdMap`](crate::Error::InvalidIdMap) as [`IdMap::new`] does: a
    /// range of 0, or ids past 4294967294.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let map = IdMap::single(0, 100_000, 65_536)?;
    /// assert_eq!(map.to_string(), "0:100000:65536");
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn single(from: u32, to: u32, range: u32) -> crate::Result<IdMap> {
        Self::new([IdMapping::new(from, to, range)])
    }

    /// Parses text whose extents may be prefixed `u:` (uids only), `g:` (gids only) or `b:`
    /// (both), and returns the uid map and the gid map.
    ///
    /// Unprefixed extents apply to both maps. Each map keeps the extents in the order of the
    /// text. The syntax is otherwise that of [`str::parse`] (see the
    /// [text form](IdMap#text-form)).
    ///
    /// # Errors
    ///
    /// Returns [`Error::InvalidIdMap`](crate::Error::InvalidIdMap) with:
    ///
    /// - [`IdMapError::Syntax`] for text that is not a list of extents;
    /// - [`IdMapError::Empty`] for text with no extent at all;
    /// - [`IdMapError::MissingSide`] if every extent is `u:` or every extent is `g:`, leaving
    ///   the other map empty;
    /// - any error of [`IdMap::new`] for the uid map, then for the gid map; indices in it count
    ///   the extents of the whole text.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let (uids, gids) = IdMap::parse_split("0:100000:1000 u:1000:1000 g:1000:3000")?;
    /// assert_eq!(uids.to_string(), "0:100000:1000,1000:1000:1");
    /// assert_eq!(gids.to_string(), "0:100000:1000,1000:3000:1");
    ///
    /// assert!(IdMap::parse_split("u:0:1000").is_err()); // no gid extent
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn parse_split(s: &str) -> crate::Result<(IdMap, IdMap)> {
        Ok(split_text(s)?)
    }

    /// Returns the extents, in the order they were given.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::{IdMap, IdMapping};
    ///
    /// let map: IdMap = "5:6:7".parse()?;
    /// assert_eq!(map.mappings(), &[IdMapping::new(5, 6, 7)]);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn mappings(&self) -> &[IdMapping] {
        &self.extents
    }

    /// Returns the id that on-disk id `on_disk` is seen as through a mount with this map, or
    /// `None` if no extent covers it (the kernel then shows the overflow id, usually 65534).
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let map = IdMap::single(0, 100_000, 65_536)?;
    /// assert_eq!(map.map_id(0), Some(100_000));
    /// assert_eq!(map.map_id(65_535), Some(165_535));
    /// assert_eq!(map.map_id(65_536), None);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn map_id(&self, on_disk: u32) -> Option<u32> {
        lookup(&self.by_from, on_disk, Column::From)
    }

    /// Returns the on-disk id that is seen as `seen` through a mount with this map, or `None`
    /// if no extent maps to it. This is the inverse of [`IdMap::map_id`]: a file created
    /// through the mount by a process with fsuid `seen` is stored with this id.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let map = IdMap::single(0, 100_000, 65_536)?;
    /// assert_eq!(map.unmap_id(100_000), Some(0));
    /// assert_eq!(map.unmap_id(0), None);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn unmap_id(&self, seen: u32) -> Option<u32> {
        lookup(&self.by_to, seen, Column::To)
    }

    /// Validates `extents` and builds the map, with the lookup copies.
    fn from_vec(extents: Vec<IdMapping>) -> Result<IdMap, IdMapError> {
        validate(&extents)?;
        let mut by_from = extents.clone().into_boxed_slice();
        by_from.sort_unstable_by_key(|m| m.from);
        let mut by_to = extents.clone().into_boxed_slice();
        by_to.sort_unstable_by_key(|m| m.to);
        Ok(IdMap {
            extents: extents.into_boxed_slice(),
            by_from,
            by_to,
        })
    }
}

// Equality, hashing and debug output look at the extents only: the sorted copies follow from
// them.
impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        self.extents == other.extents
    }
}

impl Eq for IdMap {}

impl Hash for IdMap {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.extents.hash(state);
    }
}

impl fmt::Debug for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdMap").field(&self.extents).finish()
    }
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.mappings().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(m, f)?;
        }
        Ok(())
    }
}

impl FromStr for IdMap {
    type Err = crate::Error;

    /// Parses the text form: `from:to[:range]` extents separated by commas and/or ASCII
    /// whitespace, each optionally prefixed `b:`; see the [text form](IdMap#text-form).
    ///
    /// # Errors
    ///
    /// Returns [`Error::InvalidIdMap`](crate::Error::InvalidIdMap) with
    /// [`IdMapError::Syntax`] for malformed text, [`IdMapError::PrefixNeedsSplit`] for a `u:` or
    /// `g:` extent (use [`IdMap::parse_split`] for those), or any error of [`IdMap::new`].
    fn from_str(s: &str) -> crate::Result<IdMap> {
        let mut extents = Vec::new();
        for_each_extent(s, |index, position, prefix, m| match prefix {
            Prefix::None | Prefix::Both => {
                extents.push(m);
                Ok(())
            }
            Prefix::Only(kind) => Err(IdMapError::PrefixNeedsSplit {
                index,
                position,
                kind,
            }),
        })?;
        Ok(IdMap::from_vec(extents)?)
    }
}

/// Finds the extent of `sorted` (sorted by column `src`) covering `id` and maps it across.
fn lookup(sorted: &[IdMapping], id: u32, src: Column) -> Option<u32> {
    let after = sorted.partition_point(|m| m.start(src) <= id);
    sorted.get(after.checked_sub(1)?)?.translate(id, src)
}

#[cfg(test)]
mod tests;
