//! The text written to `/proc/PID/uid_map` and `/proc/PID/gid_map`: one
//! `from to range` line per extent, formatted without allocating.

use super::{IdMap, IdMapping};

/// The longest line of `/proc` map text: three 10-digit ids, two spaces and a newline.
const MAX_LINE_LEN: usize = 3 * 10 + 3;

impl IdMap {
    /// The longest text [`IdMap::write_proc_map`] can produce for any map: a buffer this large
    /// always suffices.
    pub const MAX_PROC_MAP_LEN: usize = Self::MAX_EXTENTS * MAX_LINE_LEN;

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
pub(super) fn decimal_len(v: u32) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}
