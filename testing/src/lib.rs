//! Test support for `mountfd`: never published, never part of its API.
//!
//! Every test, doc test, example that needs it, bench and fuzz target of the
//! workspace takes it as a dev-dependency. It holds what a test needs and a
//! user never should:
//!
//! - isolation: a private mount namespace with a scratch tmpfs
//!   ([`enter_private_mount_ns`], [`in_private_ns`]), the skip-or-fail rule
//!   for privileged tests ([`privileged`], [`REQUIRE_ENV`]) and the one lock
//!   that keeps tests counting process-wide resources apart
//!   ([`exclusive`], [`shared`]);
//! - clean-up and leak checks: loop devices a test made
//!   ([`remove_new_loop_devices`]) and the [`leaks::Snapshot`] of fds,
//!   children, mounts and loop devices;
//! - fault injection ([`fault`]): seccomp filters that make one call fail on
//!   one thread. These can break the process, so they are `unsafe fn`;
//! - raw calls with hand-made arguments ([`raw`]), re-running one test in a
//!   child process ([`reexec`]) and building filesystem images
//!   ([`image_util`]).
//!
//! The doc examples of `mountfd` start with a hidden
//! `if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }`: they
//! skip when not root, and fail when `MOUNTFD_REQUIRE_PRIVILEGED=1`.
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "linux")]
pub mod fault;
mod helpers;
#[cfg(target_os = "linux")]
pub mod image_util;
pub mod leaks;
mod lock;
mod loops;
mod ns;
#[cfg(target_os = "linux")]
pub mod raw;
pub mod reexec;

pub use helpers::*;
pub use lock::{exclusive, shared, Exclusive, Shared};
pub use loops::{
    bound_loop_devices, loop_device_numbers, remove_loop_device, remove_new_loop_devices,
};
pub use ns::*;
