//! `Overlay` paths the other tests never take (issue 11): the 500-layer
//! limit at 500 and 501, `lowers(&str)`, `upper_fd`, `option` and its
//! effect, and the single-`lowerdir` fallback for kernels that refuse
//! `lowerdir+` (before Linux 6.8). Each test runs in a private mount
//! namespace with its own tmpfs.
#![cfg(target_os = "linux")]

use mountfd_testing::{self as common, fault};

use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use common::{in_private_ns, mkdir};
use mountfd::{Error, MountAttr, Overlay};

/// The options of the mount at `target` in this thread's mount table.
fn mount_options(target: &Path) -> String {
    let target = target.to_str().unwrap();
    common::my_mounts()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(target))
        .unwrap_or_else(|| panic!("{target} is not mounted"))
        .to_owned()
}

fn umount(target: &Path) {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()).unwrap();
}

#[test]
fn five_hundred_layers_mount_and_five_hundred_and_one_are_refused_before_any_call() {
    in_private_ns(|dir| {
        // 501 layers that do not exist: refused as input, so no call was
        // made (a call would have been ENOENT on the first layer).
        let missing: Vec<PathBuf> = (0..501).map(|i| dir.join(format!("none{i}"))).collect();
        let err = missing
            .iter()
            .fold(Overlay::new(), |ov, l| ov.lower(l))
            .mount(&MountAttr::new())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    what: "overlay",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("501 lower layers"), "{err}");
        // 500 of them pass the check and reach the kernel.
        let err = missing[..500]
            .iter()
            .fold(Overlay::new(), |ov, l| ov.lower(l))
            .mount(&MountAttr::new())
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
        assert_eq!(err.path(), Some(missing[0].as_path()), "{err}");

        // 500 real layers (overlayfs's OVL_MAX_STACK) mount: the top one
        // hides a name in all the others, the bottom one's own file shows.
        let layers: Vec<PathBuf> = (0..500)
            .map(|i| {
                let l = mkdir(dir, &format!("layer{i}"));
                fs::write(l.join("name"), i.to_string()).unwrap();
                l
            })
            .collect();
        fs::write(layers[499].join("bottom"), b"b").unwrap();
        let target = mkdir(dir, "target");
        layers
            .iter()
            .fold(Overlay::new(), |ov, l| ov.lower(l))
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        assert_eq!(fs::read_to_string(target.join("name")).unwrap(), "0");
        assert_eq!(fs::read(target.join("bottom")).unwrap(), b"b");
        umount(&target);
    });
}

#[test]
fn lowers_adds_each_layer_of_a_lowerdir_string_top_first() {
    in_private_ns(|dir| {
        let (top, odd, bottom) = (
            mkdir(dir, "top"),
            mkdir(dir, "odd:name"),
            mkdir(dir, "bottom"),
        );
        fs::write(top.join("a"), b"top").unwrap();
        fs::write(odd.join("a"), b"odd").unwrap();
        fs::write(odd.join("b"), b"odd").unwrap();
        fs::write(bottom.join("b"), b"bottom").unwrap();
        fs::write(bottom.join("c"), b"bottom").unwrap();
        let value = format!(
            "{}:{}",
            top.display(),
            odd.display().to_string().replace(':', r"\:")
        );
        let target = mkdir(dir, "target");
        Overlay::new()
            .lowers(&value)
            .unwrap()
            .lower(&bottom)
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        // Three layers, in this order: the escaped ':' did not split one.
        for (name, from) in [("a", "top"), ("b", "odd"), ("c", "bottom")] {
            assert_eq!(
                fs::read_to_string(target.join(name)).unwrap(),
                from,
                "{name}"
            );
        }
        umount(&target);
        // A bad string is refused before anything else.
        let err = Overlay::new().lowers("a::b").unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    what: "lowerdir",
                    ..
                }
            ),
            "{err}"
        );
    });
}

#[test]
fn upper_fd_takes_the_upper_and_work_directories_as_fds() {
    in_private_ns(|dir| {
        let (lower, upper, work) = (mkdir(dir, "lower"), mkdir(dir, "upper"), mkdir(dir, "work"));
        fs::write(lower.join("old"), b"lower").unwrap();
        let (u, w) = (
            fs::File::open(&upper).unwrap(),
            fs::File::open(&work).unwrap(),
        );
        let target = mkdir(dir, "target");
        Overlay::new()
            .lower(&lower)
            .upper_fd(u.as_fd(), w.as_fd())
            .mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        fs::write(target.join("new"), b"x").unwrap();
        fs::write(target.join("old"), b"changed").unwrap();
        // Writes land in the directory behind the fd; the lower is intact.
        assert_eq!(fs::read(upper.join("new")).unwrap(), b"x");
        assert_eq!(fs::read(upper.join("old")).unwrap(), b"changed");
        assert_eq!(fs::read(lower.join("old")).unwrap(), b"lower");
        umount(&target);
    });
}

#[test]
fn options_are_passed_and_take_effect() {
    in_private_ns(|dir| {
        let lower = mkdir(dir, "lower");
        fs::create_dir(lower.join("d")).unwrap();
        fs::write(lower.join("d/f"), b"").unwrap();
        let mount = |name: &str, options: &[(&str, Option<&str>)]| {
            let (upper, work) = (
                mkdir(dir, &format!("{name}-u")),
                mkdir(dir, &format!("{name}-w")),
            );
            let target = mkdir(dir, name);
            options
                .iter()
                .fold(
                    Overlay::new().lower(&lower).upper(&upper, &work),
                    |ov, (k, v)| ov.option(k, *v),
                )
                .mount(&MountAttr::new())
                .unwrap()
                .attach(&target)
                .unwrap();
            (target, upper)
        };
        // This kernel's default (CONFIG_OVERLAY_FS_REDIRECT_DIR unset):
        // renaming a lower directory is EXDEV, and nothing uses user xattrs.
        let (plain, _) = mount("plain", &[]);
        let err = fs::rename(plain.join("d"), plain.join("moved")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{err}");
        let opts = mount_options(&plain);
        assert!(
            !opts.contains("userxattr") && !opts.contains("redirect_dir=on"),
            "{opts}"
        );
        umount(&plain);

        // A string option: `redirect_dir=on` lets the rename through,
        // recorded in an xattr on the upper directory.
        let (ov, upper) = mount("redirect", &[("redirect_dir", Some("on"))]);
        fs::rename(ov.join("d"), ov.join("moved")).unwrap();
        assert!(ov.join("moved/f").exists());
        let redirect = xattr(&upper.join("moved"), "trusted.overlay.redirect");
        assert_eq!(redirect.as_deref(), Some(&b"d"[..]), "{redirect:?}");
        assert!(mount_options(&ov).contains("redirect_dir=on"));
        umount(&ov);

        // A flag: `userxattr` keeps overlayfs's own attributes under
        // `user.overlay.` (a directory made opaque by replacing it), where
        // they are `trusted.overlay.` by default. (The two options do not
        // go together: overlayfs refuses `userxattr` with redirects.)
        for (name, options, attr) in [
            ("trusted", &[][..], "trusted.overlay.opaque"),
            ("user", &[("userxattr", None)][..], "user.overlay.opaque"),
        ] {
            let (ov, upper) = mount(name, options);
            fs::remove_dir_all(ov.join("d")).unwrap();
            fs::create_dir(ov.join("d")).unwrap();
            assert_eq!(
                xattr(&upper.join("d"), attr).as_deref(),
                Some(&b"y"[..]),
                "{name}"
            );
            let other = if name == "user" {
                "trusted.overlay.opaque"
            } else {
                "user.overlay.opaque"
            };
            assert_eq!(xattr(&upper.join("d"), other), None, "{name}");
            assert_eq!(mount_options(&ov).contains("userxattr"), name == "user");
            umount(&ov);
        }

        // An option the kernel does not know: its EINVAL and message.
        let err = Overlay::new()
            .lower(&lower)
            .lower(&lower)
            .option("no_such_option", None)
            .mount(&MountAttr::new())
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
        assert_eq!(err.key(), Some("no_such_option"), "{err}");
    });
}

/// `getxattr(path, name)`, `None` if the file has no such attribute.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::getxattr(path, name, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("getxattr {path:?} {name}: {e}"),
    }
}

/// `FSCONFIG_SET_STRING` from `<linux/mount.h>`.
const FSCONFIG_SET_STRING: u32 = 1;

/// Runs `f` on a thread where every `FSCONFIG_SET_STRING` on fd `fd`
/// fails with `EINVAL`.
fn where_strings_on_fd_fail<R: Send>(fd: i32, f: impl FnOnce() -> R + Send) -> R {
    fault::on_own_thread(|| {
        let conds = [
            fault::Arg::Eq {
                index: 0,
                value: fd as u32,
            },
            fault::Arg::Eq {
                index: 1,
                value: FSCONFIG_SET_STRING,
            },
        ];
        // SAFETY: only fsconfig strings on one fd fail, which the library
        // reports as errors; nothing else on this thread calls fsconfig.
        unsafe { fault::fail_syscall_if(libc::SYS_fsconfig, &conds, libc::EINVAL) }.unwrap();
        f()
    })
}

#[test]
fn a_kernel_refusing_lowerdir_plus_gets_one_escaped_lowerdir_string() {
    let _alone = common::exclusive();
    in_private_ns(|dir| {
        let (top, odd, bottom) = (
            mkdir(dir, "top"),
            mkdir(dir, r"odd:name\x"),
            mkdir(dir, "bottom"),
        );
        fs::write(top.join("a"), b"top").unwrap();
        fs::write(odd.join("b"), b"odd").unwrap();
        fs::write(bottom.join("b"), b"bottom").unwrap();
        fs::write(bottom.join("c"), b"bottom").unwrap();
        let target = mkdir(dir, "target");
        // Without the fault: one `lowerdir+` per layer, as mountinfo shows.
        let ov = Overlay::new().lower(&top).lower(&odd).lower(&bottom);
        ov.mount(&MountAttr::new())
            .unwrap()
            .attach(&target)
            .unwrap();
        let opts = mount_options(&target);
        assert!(opts.contains(",lowerdir+="), "{opts}");
        umount(&target);

        // The fd the overlay's first context will get: the lowest free one
        // (no other test runs: `exclusive`). Every string set on that
        // context fails with EINVAL, as `lowerdir+` does on Linux 6.5-6.7
        // ("Unknown parameter"); seccomp cannot read the key, but the
        // overlay sets nothing but `lowerdir+` strings there before it
        // falls back, and the fallback's context is another fd.
        let first = fs::File::open("/dev/null").unwrap().as_raw_fd();
        let mnt = where_strings_on_fd_fail(first, || ov.mount(&MountAttr::new())).unwrap();
        mnt.attach(&target).unwrap();
        // One `lowerdir` with ':' and '\' escaped: the odd layer is one
        // layer, in its place.
        let opts = mount_options(&target);
        assert!(
            opts.contains(",lowerdir=") && !opts.contains("lowerdir+"),
            "{opts}"
        );
        for (name, from) in [("a", "top"), ("b", "odd"), ("c", "bottom")] {
            assert_eq!(
                fs::read_to_string(target.join(name)).unwrap(),
                from,
                "{name}"
            );
        }
        umount(&target);

        // An fd layer cannot go into a string: the kernel's EINVAL is
        // returned as it is, without a fallback.
        let d = fs::File::open(&bottom).unwrap();
        let first = fs::File::open("/dev/null").unwrap().as_raw_fd();
        let err = where_strings_on_fd_fail(first, || {
            Overlay::new()
                .lower(&top)
                .lower_fd(d.as_fd())
                .mount(&MountAttr::new())
        })
        .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
        assert_eq!(err.path(), Some(top.as_path()), "{err}");
    });
}
