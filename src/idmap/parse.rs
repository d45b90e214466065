//! The text form of an id map: `from:to[:range]` extents, separated by commas
//! and/or white space, optionally prefixed `u:`, `g:` or `b:`.

use super::{IdKind, IdMap, IdMapError, IdMapping};

/// The prefix of one extent in the text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Prefix {
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
pub(super) fn for_each_extent(
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
pub(super) fn split_text(s: &str) -> Result<(IdMap, IdMap), IdMapError> {
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
