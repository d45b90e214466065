//! The loop device group: attach and detach, by path and by fd.

use std::process::Command;

use mountfd::{LoopDevice, LoopOptions};

use super::spawn_ok;
use super::{Case, Kind::*};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            group: "loop",
            name: "LoopDevice::attach + detach",
            kind: Crate,
            batch: |_| 50,
            run: Some(|c, n| {
                for _ in 0..n {
                    LoopDevice::attach(&c.backing, &LoopOptions::new())
                        .unwrap()
                        .detach()
                        .unwrap();
                }
            }),
            chart: false,
        },
        Case {
            group: "loop",
            name: "LoopDevice::attach + detach (fresh process)",
            kind: Fresh("LoopDevice::attach + detach"),
            batch: |_| 50,
            run: None,
            chart: false,
        },
        Case {
            group: "loop",
            name: "LoopDevice::attach_fd + detach",
            kind: Crate,
            batch: |_| 50,
            run: Some(|c, n| {
                use std::os::fd::AsFd;
                for _ in 0..n {
                    LoopDevice::attach_fd(c.backing_file.as_fd(), &LoopOptions::new())
                        .unwrap()
                        .detach()
                        .unwrap();
                }
            }),
            chart: false,
        },
        Case {
            group: "loop",
            name: "bare path attach + detach",
            kind: Crate,
            batch: |_| 50,
            run: Some(|c, n| {
                let path = std::ffi::CString::new(c.backing.as_os_str().as_encoded_bytes())
                    .expect("no NUL");
                for _ in 0..n {
                    bare_path_cycle(&path);
                }
            }),
            chart: false,
        },
        Case {
            group: "loop",
            name: "loop-cycle",
            kind: Reference("loop-cycle"),
            batch: |_| 50,
            run: None,
            chart: false,
        },
        Case {
            group: "loop",
            name: "spawned losetup --find + losetup -d",
            kind: Spawned,
            batch: |_| 6,
            run: Some(|c, n| {
                for _ in 0..n {
                    let dev = spawn_ok(
                        Command::new("losetup")
                            .args(["--find", "--show"])
                            .arg(&c.backing),
                    );
                    spawn_ok(Command::new("losetup").arg("-d").arg(dev.trim()));
                }
            }),
            chart: false,
        },
    ]
}

/// The system calls `LoopDevice::attach(path)` + `detach` make (strace), done
/// bare with libc: the floor for attaching by path safely. The path is
/// looked up once to an `O_PATH` fd and checked with `fstat`; the file is
/// opened through `/proc/thread-self/fd/N` and checked again; then the
/// `loop-cycle` calls, plus the `LOOP_GET_STATUS64` read-back.
fn bare_path_cycle(path: &std::ffi::CStr) {
    use linux_raw_sys::loop_device as k;
    // SAFETY: plain system calls on fds this function opens and closes, with
    // pointers to live local buffers of the sizes the kernel expects.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let opath = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
        assert!(opath >= 0 && libc::fstat(opath, &mut st) == 0);
        let link = std::ffi::CString::new(format!("/proc/thread-self/fd/{opath}")).unwrap();
        let file = libc::open(
            link.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(file >= 0 && libc::fstat(file, &mut st) == 0);
        let ctl = libc::open(
            c"/dev/loop-control".as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC,
        );
        let n = libc::ioctl(ctl, k::LOOP_CTL_GET_FREE as _);
        assert!(n >= 0);
        let dev_path = std::ffi::CString::new(format!("/dev/loop{n}")).unwrap();
        let dev = libc::open(dev_path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        assert!(dev >= 0);
        let mut cfg: k::loop_config = std::mem::zeroed();
        cfg.fd = file as u32;
        cfg.info.lo_flags = k::LO_FLAGS_AUTOCLEAR as u32;
        assert_eq!(libc::ioctl(dev, k::LOOP_CONFIGURE as _, &cfg), 0);
        let mut info: k::loop_info64 = std::mem::zeroed();
        assert_eq!(libc::ioctl(dev, k::LOOP_GET_STATUS64 as _, &mut info), 0);
        libc::close(ctl);
        libc::close(file);
        libc::close(opath);
        assert_eq!(libc::ioctl(dev, k::LOOP_CLR_FD as _, 0), 0);
        libc::close(dev);
    }
}
