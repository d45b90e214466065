//! The trait set every fd handle shares.

/// `AsFd`, `AsRawFd` and `From<_> for OwnedFd` for a handle whose field `0`
/// is its `OwnedFd`.
macro_rules! fd_handle {
    ($t:ident) => {
        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.as_fd()
            }
        }

        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }

        impl From<$t> for OwnedFd {
            fn from(h: $t) -> OwnedFd {
                h.0
            }
        }
    };
}
