//! [`IdMapping`], one extent of a map, and the names of its columns and kinds of id.

use std::fmt;

/// One extent of an id map: `range` consecutive ids starting at on-disk id `from` are seen as
/// the ids starting at `to` through the mount.
///
/// `from` is column 1 of a `/proc/PID/uid_map` line, the id stored on disk; `to` is column 2,
/// the id seen through the mount (see the [column order](crate::IdMap#column-order)). An extent on its
/// own is not validated; [`IdMap::new`](crate::IdMap::new) checks it.
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
    pub(super) const fn start(&self, column: Column) -> u32 {
        match column {
            Column::From => self.from,
            Column::To => self.to,
        }
    }

    /// Maps `id`, taken in column `src`, to the other column if this extent covers it.
    pub(super) fn translate(&self, id: u32, src: Column) -> Option<u32> {
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

/// A column of an id map, named in [`IdMapError`](crate::IdMapError)s.
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
