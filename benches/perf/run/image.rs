//! The image group: `mount_image` against `mount -o loop`.

use std::process::Command;

use mountfd::{mount_image, MountAttr};

use super::{spawn_ok, unmount};
use super::{Case, Kind::*};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            group: "image",
            name: "mount_image + attach + umount",
            kind: Crate,
            batch: |_| 30,
            run: Some(|c, n| {
                let image = c.image.as_ref().unwrap();
                for _ in 0..n {
                    mount_image(image, "squashfs", &MountAttr::new().readonly())
                        .unwrap()
                        .attach(&c.dst)
                        .unwrap();
                    unmount(&c.dst);
                }
            }),
            chart: false,
        },
        Case {
            group: "image",
            name: "spawned mount -o loop,ro + umount",
            kind: Spawned,
            batch: |_| 6,
            run: Some(|c, n| {
                let image = c.image.as_ref().unwrap();
                for _ in 0..n {
                    spawn_ok(
                        Command::new("mount")
                            .args(["-t", "squashfs", "-o", "loop,ro"])
                            .arg(image)
                            .arg(&c.dst),
                    );
                    spawn_ok(Command::new("umount").arg(&c.dst));
                }
            }),
            chart: false,
        },
    ]
}
