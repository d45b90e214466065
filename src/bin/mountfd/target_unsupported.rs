//! Off Linux there is no fd-based mount API: every command fails, as the
//! library's own calls do.

use std::path::Path;

use mountfd::DetachedMount;

/// What kind of thing a path is.
#[allow(dead_code)] // what a mount would be matched against, on Linux
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dir,
    File,
}

/// A mount target: never opened here.
pub struct Target<'a>(std::marker::PhantomData<&'a Path>);

fn unsupported() -> String {
    "mounting is not supported on this platform: mountfd needs Linux".to_owned()
}

impl<'a> Target<'a> {
    pub fn open(_target: &'a Path, _at: &crate::Where) -> Result<Self, String> {
        Err(unsupported())
    }

    pub fn shown(&self) -> &Path {
        Path::new("")
    }

    pub fn attach(&self, _mnt: DetachedMount, _kind: Kind) -> Result<bool, String> {
        Err(unsupported())
    }
}

pub fn mount_kind(_mnt: &DetachedMount) -> Result<Kind, String> {
    Err(unsupported())
}

/// Nothing is refused for want of root here: every call is unsupported.
pub fn is_root() -> bool {
    true
}

pub fn describe_device(_mnt: &DetachedMount) -> String {
    unsupported()
}
