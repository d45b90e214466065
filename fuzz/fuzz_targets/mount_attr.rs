//! The `MountAttr` builder and the `struct mount_attr` it produces.
//!
//! Any sequence of builder calls yields what the kernel's
//! `build_mount_kattr()` accepts: no unknown flag; a flag is never both set
//! and cleared (the access-time mask aside, which must be cleared whole when
//! an access-time mode is set, the mode being one value); a propagation that
//! is 0 or exactly one `MS_*` type; `MOUNT_ATTR_IDMAP` set if and only if
//! `userns_fd` holds the namespace fd. And the result is exactly what a
//! "last call wins" model of the same calls predicts.
#![no_main]

use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mountfd::raw::{self as abi, mount_attr};
use mountfd::{Atime, MountAttr, Propagation, UserNs};

#[derive(Arbitrary, Clone, Copy, Debug)]
enum Op {
    Readonly,
    ReadWrite,
    Nosuid,
    Nodev,
    Noexec,
    Nosymfollow,
    Nodiratime,
    Atime(u8),
    Idmap,
    ClearIdmap,
    Propagation(u8),
}

fn atime(n: u8) -> Atime {
    [Atime::Relative, Atime::None, Atime::Strict][usize::from(n % 3)]
}

fn propagation(n: u8) -> Propagation {
    [
        Propagation::Private,
        Propagation::Slave,
        Propagation::Shared,
        Propagation::Unbindable,
    ][usize::from(n % 4)]
}

/// Our own user namespace: a real namespace fd, opened once.
fn userns() -> &'static UserNs {
    static NS: OnceLock<UserNs> = OnceLock::new();
    NS.get_or_init(|| UserNs::open("/proc/self/ns/user").expect("open /proc/self/ns/user"))
}

/// What each call leaves behind, tracked flag by flag.
#[derive(Default)]
struct Model {
    set: u64,
    clr: u64,
    atime: Option<u64>,
    propagation: u64,
    idmap: Option<bool>,
}

impl Model {
    fn flag(&mut self, flag: u64, on: bool) {
        if on {
            self.set |= flag;
            self.clr &= !flag;
        } else {
            self.clr |= flag;
            self.set &= !flag;
        }
    }

    fn expect(&self, ns_fd: u64) -> mount_attr {
        let mut raw = mount_attr {
            attr_set: self.set,
            attr_clr: self.clr,
            propagation: self.propagation,
            userns_fd: 0,
        };
        if let Some(bits) = self.atime {
            raw.attr_set |= bits;
            raw.attr_clr |= abi::MOUNT_ATTR__ATIME;
        }
        match self.idmap {
            Some(true) => {
                raw.attr_set |= abi::MOUNT_ATTR_IDMAP;
                raw.userns_fd = ns_fd;
            }
            Some(false) => raw.attr_clr |= abi::MOUNT_ATTR_IDMAP,
            None => {}
        }
        raw
    }
}

const KNOWN: u64 = abi::MOUNT_ATTR_RDONLY
    | abi::MOUNT_ATTR_NOSUID
    | abi::MOUNT_ATTR_NODEV
    | abi::MOUNT_ATTR_NOEXEC
    | abi::MOUNT_ATTR__ATIME
    | abi::MOUNT_ATTR_NODIRATIME
    | abi::MOUNT_ATTR_IDMAP
    | abi::MOUNT_ATTR_NOSYMFOLLOW;

fn check_invariants(raw: &mount_attr, ns_fd: u64) {
    assert_eq!(
        (raw.attr_set | raw.attr_clr) & !KNOWN,
        0,
        "unknown flag: {raw:?}"
    );
    assert_eq!(
        raw.attr_set & raw.attr_clr & !abi::MOUNT_ATTR__ATIME,
        0,
        "a flag both set and cleared: {raw:?}"
    );
    let atime = raw.attr_set & abi::MOUNT_ATTR__ATIME;
    assert!(
        [
            abi::MOUNT_ATTR_RELATIME,
            abi::MOUNT_ATTR_NOATIME,
            abi::MOUNT_ATTR_STRICTATIME
        ]
        .contains(&atime),
        "not one access-time mode: {raw:?}"
    );
    if atime != 0 {
        assert_eq!(
            raw.attr_clr & abi::MOUNT_ATTR__ATIME,
            abi::MOUNT_ATTR__ATIME,
            "{raw:?}"
        );
    }
    assert!(
        [
            0,
            abi::MS_PRIVATE,
            abi::MS_SLAVE,
            abi::MS_SHARED,
            abi::MS_UNBINDABLE
        ]
        .contains(&raw.propagation),
        "propagation is not one type: {raw:?}"
    );
    let idmapped = raw.attr_set & abi::MOUNT_ATTR_IDMAP != 0;
    assert_eq!(
        idmapped,
        raw.userns_fd == ns_fd,
        "idmap <=> userns_fd: {raw:?}"
    );
    assert!(idmapped || raw.userns_fd == 0, "a stray userns_fd: {raw:?}");
}

fuzz_target!(|ops: Vec<Op>| {
    let ns = userns();
    let ns_fd = ns.as_raw_fd() as u64;
    let mut attr = MountAttr::new();
    let mut model = Model::default();
    for op in ops {
        attr = match op {
            Op::Readonly => attr.readonly(),
            Op::ReadWrite => attr.read_write(),
            Op::Nosuid => attr.nosuid(),
            Op::Nodev => attr.nodev(),
            Op::Noexec => attr.noexec(),
            Op::Nosymfollow => attr.nosymfollow(),
            Op::Nodiratime => attr.nodiratime(),
            Op::Atime(n) => attr.atime(atime(n)),
            Op::Idmap => attr.idmap(ns),
            Op::ClearIdmap => attr.clear_idmap(),
            Op::Propagation(n) => attr.propagation(propagation(n)),
        };
        match op {
            Op::Readonly => model.flag(abi::MOUNT_ATTR_RDONLY, true),
            Op::ReadWrite => model.flag(abi::MOUNT_ATTR_RDONLY, false),
            Op::Nosuid => model.flag(abi::MOUNT_ATTR_NOSUID, true),
            Op::Nodev => model.flag(abi::MOUNT_ATTR_NODEV, true),
            Op::Noexec => model.flag(abi::MOUNT_ATTR_NOEXEC, true),
            Op::Nosymfollow => model.flag(abi::MOUNT_ATTR_NOSYMFOLLOW, true),
            Op::Nodiratime => model.flag(abi::MOUNT_ATTR_NODIRATIME, true),
            Op::Atime(n) => {
                model.atime = Some(match atime(n) {
                    Atime::Relative => abi::MOUNT_ATTR_RELATIME,
                    Atime::None => abi::MOUNT_ATTR_NOATIME,
                    Atime::Strict => abi::MOUNT_ATTR_STRICTATIME,
                })
            }
            Op::Idmap => model.idmap = Some(true),
            Op::ClearIdmap => model.idmap = Some(false),
            Op::Propagation(n) => {
                model.propagation = match propagation(n) {
                    Propagation::Private => abi::MS_PRIVATE,
                    Propagation::Slave => abi::MS_SLAVE,
                    Propagation::Shared => abi::MS_SHARED,
                    Propagation::Unbindable => abi::MS_UNBINDABLE,
                }
            }
        }
        let raw = attr.to_raw();
        check_invariants(&raw, ns_fd);
        assert_eq!(raw, model.expect(ns_fd), "after {op:?}");
        assert_eq!(attr.is_idmapped(), model.idmap == Some(true));
        assert_eq!(
            attr.is_readonly(),
            raw.attr_set & abi::MOUNT_ATTR_RDONLY != 0
        );
        assert_eq!(attr.is_empty(), raw == mount_attr::default());
    }
});
