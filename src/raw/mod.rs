//! The raw kernel interface: the only module allowed to use `unsafe`.
//!
//! The ABI items (`mount_attr`, the `MOUNT_ATTR_*`, `OPEN_TREE_*` and
//! `MOVE_MOUNT_*` constants and the system call numbers) are public so that
//! callers who need a flag this crate does not wrap can still build the
//! struct themselves. Their values come from `linux-raw-sys`.
//!
//! Two calls are public too, for the same callers: [`open_tree_attr`] and
//! [`mount_setattr`], which take the struct as bytes. The others stay private and are reached through the safe types at the
//! crate root. Each takes plain values (fds, C strings, flags, a kernel
//! struct built by its caller) and returns the errno as rustix does: which
//! call failed on what path, retries and fallbacks are decided by the module
//! of the concept it serves. Nothing here uses the rest of the crate.
#![allow(unsafe_code)]

pub(crate) mod abi;
pub use abi::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;
#[cfg(target_os = "linux")]
pub use linux::{mount_setattr, open_tree_attr};

#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
pub(crate) use unsupported::*;
#[cfg(not(target_os = "linux"))]
pub use unsupported::{mount_setattr, open_tree_attr};
