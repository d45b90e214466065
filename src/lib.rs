//! Safe, typed access to the Linux file-descriptor mount API.
//!
//! `mountfd` turns a directory or file into an id-mapped, optionally
//! read-only bind mount—including on a source that is itself already
//! id-mapped—with a few safe calls and no helper binary:
//!
//! - [`IdMap`] parses and validates id maps (`0:100000:65536`) and writes
//!   them in the kernel's `from to range` column order;
//! - [`UserNs`] creates a user namespace carrying those maps, from any
//!   process, threaded or not, without spawning or forking;
//! - [`DetachedMount`] clones a tree with `open_tree_attr` (id map,
//!   read-only and other [`MountAttr`]s applied atomically) and attaches it
//!   with `move_mount`;
//! - [`FsContext`] creates new filesystems through `fsopen`/`fsmount`,
//!   reporting the kernel's own messages on failure;
//! - [`mount_image`] mounts a squashfs, erofs or ext4 image file, through an
//!   autoclear [`LoopDevice`] that lives exactly as long as the mount (erofs
//!   takes the file directly where the kernel can), reusing the device
//!   already bound to the image, as `mount -o loop` does, so that one image
//!   never has two superblocks;
//! - [`Overlay`] stacks lower layers (id-mapped ones too) under an optional
//!   upper layer;
//! - [`UserNsCache`] shares one namespace between equal maps, for callers
//!   that create many mounts.
//! - [`Mount`] holds an attached mount to change ([`Mount::set_attr`],
//!   [`Mount::pick`]) or remove ([`Mount::unmount`], a [`MountGuard`]);
//!   [`mounts`], [`mounts_under`] and [`MountInfo::of`] describe mounts
//!   through `listmount`/`statmount`; [`unmount`], [`unmount_tree`] and
//!   [`is_mountpoint`] replace `umount`, `umount -R` and `mountpoint`.
//!
//! Every fd is an [`OwnedFd`](std::os::fd::OwnedFd) underneath, close-on-exec,
//! and closed (unmounting anything unattached) on drop. Errors name the
//! operation, the path and the errno ([`Error`]); bad input is rejected
//! before any system call. On platforms other than Linux everything compiles
//! and each operation returns [`Error::Unsupported`].
//!
//! # Example: an id-mapped, read-only bind mount
//!
//! ```
//! # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
//! # let dir = mountfd_testing::scratch_dir("crate-example");
//! # let (data, view) = (dir.join("data"), dir.join("view"));
//! # std::fs::create_dir_all(&data).unwrap(); std::fs::create_dir_all(&view).unwrap();
//! use std::os::unix::fs::MetadataExt;
//! use mountfd::{DetachedMount, IdMap, MountAttr, UserNs};
//!
//! // Column 1 is the id on disk, column 2 the id seen through the mount.
//! let map: IdMap = "0:100000:65536".parse()?;
//! let ns = UserNs::from_idmap(&map)?;
//!
//! let attr = MountAttr::new().idmap(&ns).readonly().nosuid().nodev();
//! DetachedMount::clone_tree_with(&data, true, &attr)?.attach(&view)?;
//!
//! // `data` belongs to root on disk; through the mount it belongs to 100000.
//! assert_eq!(std::fs::metadata(&data).unwrap().uid(), 0);
//! assert_eq!(std::fs::metadata(&view).unwrap().uid(), 100000);
//! # Ok::<(), mountfd::Error>(())
//! ```
//!
//! # Kernel requirements
//!
//! | feature | Linux |
//! |---|---|
//! | detached mounts, `fsopen`/`fsmount` | 5.2 |
//! | `mount_setattr`, id-mapped mounts | 5.12 (tmpfs 6.3) |
//! | `open_tree_attr`: atomic clone + attributes, re-mapping an id-mapped source | 6.15 |
//! | `LOOP_CONFIGURE` (else `LOOP_SET_FD` + `LOOP_SET_STATUS64`) | 5.8 |
//! | erofs on a regular file without a loop device | 6.12 |
//! | overlay layers appended with `lowerdir+` | 6.8 |
//! | `STATX_ATTR_MOUNT_ROOT` (else mount ids compared with the parent's) | 5.8 |
//! | `listmount`/`statmount`, unique mount ids (else `/proc/thread-self/mountinfo`) | 6.8 |
//! | id maps in [`MountInfo`] (`STATMOUNT_MNT_UIDMAP`) | 6.15 |
//! | [`DetachedMount::attach_in`] (`openat2` with `RESOLVE_IN_ROOT`) | 5.6 |
//! | assembly: `attach_in` with a detached tree as the root (else [`Error::KernelTooOld`]) | 6.15 |
//! | [`DetachedMount::replace`] (`MOVE_MOUNT_BENEATH`, else [`Error::KernelTooOld`]) | 6.5 |
//!
//! Without `open_tree_attr`, [`DetachedMount::clone_tree_with`] falls back to
//! `open_tree` + `mount_setattr`, which cannot re-map an id-mapped source.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod handle;

mod attr;
mod cache;
mod detached_mount;
mod error;
mod fs_context;
mod idmap;
mod image;
mod loop_device;
mod mount;
mod mountinfo;
mod overlay;
#[cfg(target_os = "linux")]
mod path;
#[cfg(not(target_os = "linux"))]
#[path = "path_unsupported.rs"]
mod path;
pub mod raw;
mod resolved;
mod userns;

pub use attr::{Atime, MountAttr, Propagation};
pub use cache::{SharedUserNs, UserNsCache};
pub use detached_mount::DetachedMount;
pub use error::{Errno, Error, Op, Result};
pub use fs_context::FsContext;
pub use idmap::{Column, IdKind, IdMap, IdMapError, IdMapping};
pub use image::{mount_image, mount_image_with};
pub use loop_device::{LoopDevice, LoopOptions, LoopStatus};
pub use mount::{is_mountpoint, unmount, unmount_tree, Mount, MountGuard, UnmountFlags};
pub use mountinfo::{mounts, mounts_under, MountFlags, MountInfo, MountPropagation};
pub use overlay::Overlay;
pub use userns::UserNs;
