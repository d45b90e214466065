//! `FsContext`: arbitrary filesystem type names, option keys and values.
//!
//! Every call returns a context, `Ok`, or a typed error: `InvalidInput` for
//! the strings the crate refuses before any system call (an empty or
//! NUL/`/`/white-space fstype, an empty or NUL key, a NUL in a value), and
//! otherwise `Error::Os` with a real errno and, when the kernel logged one,
//! a non-empty message. Nothing panics.
//!
//! Only `tmpfs` and `ramfs` contexts are ever created (`FSCONFIG_CMD_CREATE`
//! + `fsmount`), and the detached mounts are dropped unattached, inside a
//! private mount namespace: fuzzing never mounts anything on the host.
#![no_main]

use std::os::fd::AsFd;
use std::sync::Once;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mountfd::{Error, FsContext, MountAttr};

#[derive(Arbitrary, Debug)]
enum FsType {
    /// A type the kernel knows, where options reach a real parser.
    Known(u8),
    /// Anything at all.
    Raw(String),
}

const KNOWN: [&str; 6] = ["tmpfs", "ramfs", "proc", "sysfs", "devpts", "overlay"];

#[derive(Arbitrary, Debug)]
enum Call {
    Flag(String),
    Str(String, String),
    Path(String, String),
    Fd(String),
    /// A well-formed key with an arbitrary value, for the option parsers.
    KnownKey(u8, String),
}

const KEYS: [&str; 8] = [
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "huge",
    "source",
    "ro",
];

#[derive(Arbitrary, Debug)]
struct Input {
    fstype: FsType,
    calls: Vec<Call>,
    create: bool,
}

fn bad_fstype(s: &str) -> bool {
    s.is_empty()
        || s.bytes()
            .any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace())
}

fn bad_key(s: &str) -> bool {
    s.is_empty() || s.contains('\0')
}

/// A result is `Ok`, or an error of the expected shape.
fn check<T>(r: &Result<T, Error>, refused_up_front: bool, what: &str) {
    match r {
        Ok(_) => assert!(!refused_up_front, "{what}: accepted input it must refuse"),
        Err(e @ Error::InvalidInput { .. }) => {
            assert!(
                refused_up_front,
                "{what}: refused before the kernel saw it: {e}"
            );
            assert_eq!(e.errno(), None);
        }
        Err(e @ Error::Os { errno, .. }) => {
            assert!(!refused_up_front, "{what}: reached the kernel: {e}");
            assert!(errno.raw_os_error() > 0, "{what}: errno {errno}");
            assert!(
                e.kernel_message().is_none_or(|m| !m.is_empty()),
                "{what}: {e:?}"
            );
            assert!(!e.to_string().is_empty());
        }
        Err(e) => panic!("{what}: unexpected error kind {e:?}"),
    }
}

fuzz_target!(|input: Input| {
    static PRIVATE: Once = Once::new();
    PRIVATE.call_once(|| {
        // Skips (and says so) when not root; then nothing can be mounted anyway.
        let _ = mountfd_testing::enter_private_mount_ns();
    });

    let fstype = match &input.fstype {
        FsType::Known(n) => KNOWN[usize::from(*n) % KNOWN.len()].to_owned(),
        FsType::Raw(s) => s.clone(),
    };
    let ctx = FsContext::new(&fstype);
    check(&ctx, bad_fstype(&fstype), "FsContext::new");
    let Ok(ctx) = ctx else { return };
    assert_eq!(ctx.fstype(), fstype);

    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    for call in input.calls.iter().take(16) {
        match call {
            Call::Flag(k) => check(&ctx.set_flag(k), bad_key(k), "set_flag"),
            Call::Str(k, v) => check(
                &ctx.set_string(k, v),
                bad_key(k) || v.contains('\0'),
                "set_string",
            ),
            Call::Path(k, p) => check(
                &ctx.set_path(k, p),
                bad_key(k) || p.contains('\0'),
                "set_path",
            ),
            Call::Fd(k) => check(&ctx.set_fd(k, null.as_fd()), bad_key(k), "set_fd"),
            Call::KnownKey(n, v) => {
                let k = KEYS[usize::from(*n) % KEYS.len()];
                check(
                    &ctx.set_string(k, v),
                    v.contains('\0'),
                    "set_string(known key)",
                )
            }
        }
    }

    if input.create && matches!(fstype.as_str(), "tmpfs" | "ramfs") {
        let mnt = ctx.mount(&MountAttr::new().nodev().nosuid());
        check(&mnt, false, "mount");
        drop(mnt);
    }
});
