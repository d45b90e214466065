//! The raw kernel interface: the only module allowed to use `unsafe`.
//!
//! The ABI items (`mount_attr`, the `MOUNT_ATTR_*`, `OPEN_TREE_*` and
//! `MOVE_MOUNT_*` constants and the system call numbers) are public so that
//! callers who need a flag this crate does not wrap can still build the
//! struct themselves; the calls stay private and are reached through the safe
//! types at the crate root. Everything here is defined locally because `libc`
//! lacks part of it on some targets; the tests check each item against
//! `linux-raw-sys`.
#![allow(unsafe_code)]

pub mod abi;
pub use abi::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
pub(crate) use unsupported::*;
