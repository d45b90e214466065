//! [`IdMapError`](crate::IdMapError): why an id map, or its text, was rejected.

use super::{Column, IdKind, IdMapping};

/// Why an id map, or its text, was rejected.
///
/// Returned inside [`Error::InvalidIdMap`](crate::Error::InvalidIdMap). Validation follows the
/// rules the kernel applies when the map is written to `/proc/PID/uid_map` (see
/// [`user_namespaces(7)`]), so a map that passes is never refused for its shape. An `index`
/// counts extents from 0 in the order the caller gave them (for [`IdMap::parse_split`](crate::IdMap::parse_split), the
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
    /// The map has more extents than the kernel accepts ([`IdMap::MAX_EXTENTS`](crate::IdMap::MAX_EXTENTS)).
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
    pub(super) fn reindex(self, original: &[usize]) -> Self {
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
