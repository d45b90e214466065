//! Id maps: which on-disk ids are seen as which ids through an id-mapped mount.
//!
//! An [`IdMap`] is the list of extents the kernel accepts in `/proc/PID/uid_map` and
//! `/proc/PID/gid_map` (see [`user_namespaces(7)`]). A user namespace carrying that map is what
//! an id-mapped mount is given; through the mount, an id stored on disk is shown (and written) as
//! the id the map pairs it with. [`IdMap`] explains the column order and the text form.
//!
//! [`user_namespaces(7)`]: https://man7.org/linux/man-pages/man7/user_namespaces.7.html

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The largest id the kernel accepts in a map: `4294967295` (`(uid_t)-1`) is never valid.
const MAX_ID: u32 = u32::MAX - 1;

/// The longest line of `/proc` map text: three 10-digit ids, two spaces and a newline.
const MAX_LINE_LEN: usize = 3 * 10 + 3;

/// One extent of an id map: `range` consecutive ids starting at on-disk id `from` are seen as
/// the ids starting at `to` through the mount.
///
/// `from` is column 1 of a `/proc/PID/uid_map` line, the id stored on disk; `to` is column 2,
/// the id seen through the mount (see the [column order](IdMap#column-order)). An extent on its
/// own is not validated; [`IdMap::new`] checks it.
///
/// Its [`Display`](fmt::Display) form is `from:to:range`.
///
/// # Examples
///
/// ```
/// use mountfd::IdMapping;
///
/// // On-disk ids 0..65536 show as 100000..165536 through the mount.
/// let m = IdMapping { from: 0, to: 100_000, range: 65_536 };
/// assert_eq!(m.to_string(), "0:100000:65536");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdMapping {
    /// The first id of the extent as stored on disk (column 1).
    pub from: u32,
    /// The id that `from` is seen as through the mount (column 2).
    pub to: u32,
    /// How many consecutive ids the extent covers (column 3); at least 1.
    pub range: u32,
}

impl IdMapping {
    /// Creates an extent mapping on-disk ids `from..from + range` to `to..to + range`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMapping;
    ///
    /// let m = IdMapping::new(1000, 0, 1);
    /// assert_eq!((m.from, m.to, m.range), (1000, 0, 1));
    /// ```
    #[must_use]
    pub const fn new(from: u32, to: u32, range: u32) -> Self {
        Self { from, to, range }
    }

    /// Returns the id this extent's `column` starts at.
    const fn start(&self, column: Column) -> u32 {
        match column {
            Column::From => self.from,
            Column::To => self.to,
        }
    }

    /// Maps `id`, taken in column `src`, to the other column if this extent covers it.
    fn translate(&self, id: u32, src: Column) -> Option<u32> {
        let (base, other) = match src {
            Column::From => (self.from, self.to),
            Column::To => (self.to, self.from),
        };
        let offset = id.checked_sub(base)?;
        if offset < self.range {
            // Validated extents end at or below MAX_ID in both columns, so this cannot
            // overflow; `checked_add` keeps a stray unvalidated extent from panicking.
            other.checked_add(offset)
        } else {
            None
        }
    }
}

impl fmt::Display for IdMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.from, self.to, self.range)
    }
}

/// A column of an id map, named in [`IdMapError`]s.
///
/// # Examples
///
/// ```
/// use mountfd::Column;
///
/// assert_eq!(Column::From.to_string(), "from (on-disk id)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// Column 1, [`IdMapping::from`]: the id stored on disk.
    From,
    /// Column 2, [`IdMapping::to`]: the id seen through the mount.
    To,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Column::From => "from (on-disk id)",
            Column::To => "to (id seen through the mount)",
        })
    }
}

/// Which kind of id a prefixed extent (`u:` or `g:`) applies to.
///
/// # Examples
///
/// ```
/// use mountfd::IdKind;
///
/// assert_eq!(IdKind::Gid.prefix(), 'g');
/// assert_eq!(IdKind::Uid.to_string(), "uid");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// User ids (`/proc/PID/uid_map`), prefix `u:`.
    Uid,
    /// Group ids (`/proc/PID/gid_map`), prefix `g:`.
    Gid,
}

impl IdKind {
    /// Returns the letter that prefixes an extent of this kind in the text form.
    #[must_use]
    pub const fn prefix(self) -> char {
        match self {
            IdKind::Uid => 'u',
            IdKind::Gid => 'g',
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        })
    }
}

/// Why an id map, or its text, was rejected.
///
/// Returned inside [`Error::InvalidIdMap`](crate::Error::InvalidIdMap). Validation follows the
/// rules the kernel applies when the map is written to `/proc/PID/uid_map` (see
/// [`user_namespaces(7)`]), so a map that passes is never refused for its shape. An `index`
/// counts extents from 0 in the order the caller gave them (for [`IdMap::parse_split`], the
/// order in the text).
///
/// # Examples
///
/// ```
/// use mountfd::{Error, IdMap, IdMapError, IdMapping};
///
/// let err = IdMap::new([IdMapping::new(0, 1000, 0)]).unwrap_err();
/// assert!(matches!(err, Error::InvalidIdMap(IdMapError::ZeroRange { index: 0, .. })));
/// ```
///
/// [`user_namespaces(7)`]: https://man7.org/linux/man-pages/man7/user_namespaces.7.html
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdMapError {
    /// The map has no extent.
    #[error("the id map has no extents")]
    Empty,
    /// The map has more extents than the kernel accepts ([`IdMap::MAX_EXTENTS`]).
    #[error("the id map has {count} extents, the kernel accepts at most 340")]
    TooManyExtents {
        /// How many extents were given.
        count: usize,
    },
    /// An extent covers no id.
    #[error("extent {index} ({extent}) has range 0, it must cover at least 1 id")]
    ZeroRange {
        /// The position of the extent.
        index: usize,
        /// The extent.
        extent: IdMapping,
    },
    /// An extent runs past the end of the 32-bit id space.
    #[error("extent {index} ({extent}) runs past id 4294967295 in the {column} column")]
    Overflow {
        /// The position of the extent.
        index: usize,
        /// The extent.
        extent: IdMapping,
        /// The column whose start plus range does not fit in 32 bits.
        column: Column,
    },
    /// An extent includes id 4294967295 (`(uid_t)-1`), which is never a valid id.
    #[error(
        "extent {index} ({extent}) includes id 4294967295 in the {column} column, \
         which is never a valid id"
    )]
    InvalidId {
        /// The position of the extent.
        index: usize,
        /// The extent.
        extent: IdMapping,
        /// The column whose last id is 4294967295.
        column: Column,
    },
    /// Two extents share an id in the same column.
    #[error(
        "extents {first} ({first_extent}) and {second} ({second_extent}) overlap in the \
         {column} column"
    )]
    Overlap {
        /// The column in which they overlap.
        column: Column,
        /// The position of the earlier extent.
        first: usize,
        /// The earlier extent.
        first_extent: IdMapping,
        /// The position of the later extent.
        second: usize,
        /// The later extent.
        second_extent: IdMapping,
    },
    /// The text form could not be parsed.
    #[error("syntax error at byte {position} in {token:?}: {reason}")]
    Syntax {
        /// The byte offset in the input where the problem starts.
        position: usize,
        /// The extent (or separator) of the input that holds the problem.
        token: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An extent for uids only or gids only was given where one map serves both.
    #[error(
        "extent {index} at byte {position} applies to {kind}s only, but one map serves both \
         uids and gids; drop the '{prefix}:' prefix or use IdMap::parse_split",
        prefix = kind.prefix()
    )]
    PrefixNeedsSplit {
        /// The position of the extent.
        index: usize,
        /// The byte offset of the extent in the input.
        position: usize,
        /// The kind of id the prefix named.
        kind: IdKind,
    },
    /// After splitting prefixed extents, no extent is left for one kind of id.
    #[error(
        "no extent applies to {kind}s; add an unprefixed, 'b:' or '{prefix}:' extent",
        prefix = kind.prefix()
    )]
    MissingSide {
        /// The kind of id left without an extent.
        kind: IdKind,
    },
}

impl IdMapError {
    /// Rewrites extent indices through `original`, which lists for each index of a sub-map the
    /// index of that extent in the caller's input.
    fn reindex(self, original: &[usize]) -> Self {
        let at = |i: usize| original.get(i).copied().unwrap_or(i);
        match self {
            IdMapError::ZeroRange { index, extent } => IdMapError::ZeroRange {
                index: at(index),
                extent,
            },
            IdMapError::Overflow {
                index,
                extent,
                column,
            } => IdMapError::Overflow {
                index: at(index),
                extent,
                column,
            },
            IdMapError::InvalidId {
                index,
                extent,
                column,
            } => IdMapError::InvalidId {
                index: at(index),
                extent,
                column,
            },
            IdMapError::Overlap {
                column,
                first,
                first_extent,
                second,
                second_extent,
            } => IdMapError::Overlap {
                column,
                first: at(first),
                first_extent,
                second: at(second),
                second_extent,
            },
            other => other,
        }
    }
}

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

    /// The longest text [`IdMap::write_proc_map`] can produce for any map: a buffer this large
    /// always suffices.
    pub const MAX_PROC_MAP_LEN: usize = Self::MAX_EXTENTS * MAX_LINE_LEN;

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

    /// Returns the map as the text written to `/proc/PID/uid_map` or `/proc/PID/gid_map`: one
    /// `from to range` line per extent, in order, each ending in a newline.
    ///
    /// The kernel wants the whole map in a single `write()`. This allocates; where that is not
    /// allowed, use [`IdMap::write_proc_map`], which produces the same bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let map: IdMap = "0:100000:1000,1000:1000".parse()?;
    /// assert_eq!(map.to_proc_map(), "0 100000 1000\n1000 1000 1\n");
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn to_proc_map(&self) -> String {
        let mut out = String::with_capacity(self.proc_map_len());
        let mut line = [0u8; MAX_LINE_LEN];
        for m in self.mappings() {
            let n = encode_line(m, &mut line);
            out.extend(line[..n].iter().map(|&b| char::from(b)));
        }
        out
    }

    /// Writes the text of [`IdMap::to_proc_map`] into `buf` without allocating, and returns how
    /// many bytes it wrote, or `None` if `buf` is too small (its contents are then unspecified).
    ///
    /// [`IdMap::proc_map_len`] gives the exact size needed and [`IdMap::MAX_PROC_MAP_LEN`] a size
    /// that fits every map.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let map = IdMap::single(0, 100_000, 65_536)?;
    /// let mut buf = [0u8; IdMap::MAX_PROC_MAP_LEN];
    /// let n = map.write_proc_map(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"0 100000 65536\n");
    /// assert_eq!(map.write_proc_map(&mut buf[..n - 1]), None);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn write_proc_map(&self, buf: &mut [u8]) -> Option<usize> {
        let mut line = [0u8; MAX_LINE_LEN];
        let mut pos = 0;
        for m in self.mappings() {
            let n = encode_line(m, &mut line);
            let end = pos + n;
            buf.get_mut(pos..end)?.copy_from_slice(&line[..n]);
            pos = end;
        }
        Some(pos)
    }

    /// Returns the length in bytes of the text of [`IdMap::to_proc_map`].
    ///
    /// The kernel refuses a map written in `PAGE_SIZE` bytes or more with `EINVAL`; this tells
    /// ahead of time.
    ///
    /// # Examples
    ///
    /// ```
    /// use mountfd::IdMap;
    ///
    /// let map = IdMap::single(0, 100_000, 65_536)?;
    /// assert_eq!(map.proc_map_len(), "0 100000 65536\n".len());
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn proc_map_len(&self) -> usize {
        self.mappings()
            .iter()
            .map(|m| decimal_len(m.from) + decimal_len(m.to) + decimal_len(m.range) + 3)
            .sum()
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

/// Checks `extents` against the kernel's rules, reporting indices into `extents`.
fn validate(extents: &[IdMapping]) -> Result<(), IdMapError> {
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

/// Formats `m` as a `/proc` map line into `out` and returns its length.
fn encode_line(m: &IdMapping, out: &mut [u8; MAX_LINE_LEN]) -> usize {
    let mut n = encode_u32(m.from, out, 0);
    out[n] = b' ';
    n = encode_u32(m.to, out, n + 1);
    out[n] = b' ';
    n = encode_u32(m.range, out, n + 1);
    out[n] = b'\n';
    n + 1
}

/// Writes `v` in decimal into `out` at `at`, returning the offset just past it.
fn encode_u32(mut v: u32, out: &mut [u8; MAX_LINE_LEN], at: usize) -> usize {
    let end = at + decimal_len(v);
    let mut i = end;
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast is lossless.
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    end
}

/// Returns how many decimal digits `v` has.
fn decimal_len(v: u32) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The prefix of one extent in the text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prefix {
    /// No prefix: the extent applies to both maps.
    None,
    /// `b:`: the extent applies to both maps.
    Both,
    /// `u:` or `g:`: the extent applies to one kind of id only.
    Only(IdKind),
}

/// Whitespace that may separate extents or surround the text.
const fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace()
}

/// Builds a syntax error.
fn syntax(position: usize, token: &str, reason: &'static str) -> IdMapError {
    IdMapError::Syntax {
        position,
        token: token.to_owned(),
        reason,
    }
}

/// Splits `s` into extents and calls `f(index, byte position, prefix, extent)` for each in
/// order, stopping at the first error from the text or from `f`.
fn for_each_extent(
    s: &str,
    mut f: impl FnMut(usize, usize, Prefix, IdMapping) -> Result<(), IdMapError>,
) -> Result<(), IdMapError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut count = 0;
    // Where the last comma was, while no extent has followed it yet.
    let mut pending_comma: Option<usize> = None;
    loop {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            if let Some(at) = pending_comma {
                return Err(syntax(
                    at,
                    ",",
                    "trailing comma, expected an extent after it",
                ));
            }
            break;
        }
        if bytes[i] == b',' {
            if pending_comma.is_some() {
                return Err(syntax(i, ",", "empty extent between two commas"));
            }
            if count == 0 {
                return Err(syntax(i, ",", "comma before the first extent"));
            }
            pending_comma = Some(i);
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b',' {
            i += 1;
        }
        // `start` and `i` sit next to ASCII bytes or at the ends, so they are char boundaries.
        let (prefix, extent) = parse_extent(&s[start..i], start)?;
        f(count, start, prefix, extent)?;
        count += 1;
        pending_comma = None;
    }
    if count == 0 {
        return Err(IdMapError::Empty);
    }
    Ok(())
}

/// Parses one extent token, `[u:|g:|b:]from:to[:range]`, found at byte `position`.
fn parse_extent(token: &str, position: usize) -> Result<(Prefix, IdMapping), IdMapError> {
    let mut fields = token.split(':');
    // `split` yields at least one field, even for an empty token.
    let first = fields.next().unwrap_or_default();
    let (prefix, numbers_at) = match first {
        "u" => (Prefix::Only(IdKind::Uid), 2),
        "g" => (Prefix::Only(IdKind::Gid), 2),
        "b" => (Prefix::Both, 2),
        _ if !first.is_empty() && first.bytes().all(|b| b.is_ascii_alphabetic()) => {
            return Err(syntax(
                position,
                token,
                "unknown prefix, expected 'u:', 'g:' or 'b:'",
            ));
        }
        _ => {
            // No prefix: the first field is already `from`.
            fields = token.split(':');
            (Prefix::None, 0)
        }
    };
    let mut ids = [0u32, 0, 1];
    let mut n = 0;
    let mut offset = numbers_at;
    for field in fields {
        if n == ids.len() {
            return Err(syntax(
                position + offset - 1,
                token,
                "too many ':' fields, expected from:to or from:to:range",
            ));
        }
        ids[n] = parse_u32(field).map_err(|reason| syntax(position + offset, token, reason))?;
        n += 1;
        offset += field.len() + 1;
    }
    if n < 2 {
        let reason = if n == 0 {
            "prefix without an extent, expected from:to or from:to:range after it"
        } else {
            "missing ':' and the second id, expected from:to or from:to:range"
        };
        return Err(syntax(position, token, reason));
    }
    Ok((prefix, IdMapping::new(ids[0], ids[1], ids[2])))
}

/// Parses a plain decimal `u32`: ASCII digits only, no sign.
fn parse_u32(field: &str) -> Result<u32, &'static str> {
    if field.is_empty() {
        return Err("missing number");
    }
    let mut v: u32 = 0;
    for b in field.bytes() {
        if !b.is_ascii_digit() {
            return Err("not a decimal number");
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(b - b'0')))
            .ok_or("number does not fit in 32 bits")?;
    }
    Ok(v)
}

/// Parses prefixed text into a uid map and a gid map; see [`IdMap::parse_split`].
fn split_text(s: &str) -> Result<(IdMap, IdMap), IdMapError> {
    // For each side: the extents and the index of each in the text.
    let mut uid: (Vec<IdMapping>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut gid: (Vec<IdMapping>, Vec<usize>) = (Vec::new(), Vec::new());
    for_each_extent(s, |index, _, prefix, m| {
        // Whether the extent goes to the uid map and to the gid map.
        let wants = match prefix {
            Prefix::None | Prefix::Both => [true, true],
            Prefix::Only(IdKind::Uid) => [true, false],
            Prefix::Only(IdKind::Gid) => [false, true],
        };
        for (side, wanted) in [&mut uid, &mut gid].into_iter().zip(wants) {
            if wanted {
                side.0.push(m);
                side.1.push(index);
            }
        }
        Ok(())
    })?;
    let build = |(extents, indices): (Vec<IdMapping>, Vec<usize>), kind| {
        if extents.is_empty() {
            return Err(IdMapError::MissingSide { kind });
        }
        IdMap::from_vec(extents).map_err(|e| e.reindex(&indices))
    };
    let uid_map = build(uid, IdKind::Uid)?;
    let gid_map = build(gid, IdKind::Gid)?;
    Ok((uid_map, gid_map))
}

#[cfg(test)]
mod tests {
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
}
