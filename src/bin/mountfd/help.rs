//! The help texts: `--help` is the tool's manual.

/// The grammar of an id map, shown by `--help` for every `--idmap`.
pub const IDMAP_HELP: &str = "\
Id map FROM:TO[:RANGE], the on-disk id first, the id seen through the mount \
second; RANGE (how many consecutive ids) defaults to 1. Extents are separated \
by commas; a `u:`, `g:` or `b:` prefix makes an extent apply to uids only, \
gids only or both (the default). May repeat. Example: 0:100000:65536 or \
u:0:1000,g:0:1000. This is not the /proc/PID/uid_map form (`0 100000 65536`). \
On a source that is already id-mapped the map replaces the source's: it applies \
to the on-disk ids, not to the ids the source shows (`100000:2000:65536` on a \
`0:100000:65536` source matches nothing on disk, and every file shows as 65534).";

pub const AFTER_LONG_HELP: &str = "\
MOUNT OPTIONS (-o, comma-separated, may repeat)
    ro, rw                 read-only, or read-write even from a read-only source
    nosuid, nodev, noexec  as mount(8)
    nosymfollow            do not follow symlinks on the mount
    noatime, relatime, strictatime, nodiratime
    idmap=MAP              an id map, commas and all: -o ro,idmap=0:100000:65536,nodev
    rbind, recursive       bind submounts too, with the same attributes (bind only)
    bind, loop             accepted and ignored, for mount(8) habits
    offset=N, sizelimit=N  where the filesystem lies in an image file, in bytes

ID MAPS
    A map is FROM:TO[:RANGE]: FROM is the id stored on disk, TO the id shown
    through the mount, RANGE how many consecutive ids (default 1). Several
    extents are separated by commas; u:, g: and b: make an extent apply to uids,
    gids or both (default b:). 0:100000:65536 shows root-owned files as 100000.
    On a source that is already id-mapped the new map replaces the old one: it
    applies to the ids on disk, not to the ids the source shows.

TARGETS
    A missing target is created with the source's kind (directory or file) and
    removed again if the mount fails. No component of the target may be a
    symlink unless --follow-symlinks, and the last one is never followed.

EXIT STATUS (as mount(8))
    0   success
    1   incorrect invocation, or missing privileges (\"must be root\")
    32  the mount failed

EXAMPLES
    mountfd -o ro,idmap=0:100000:65536 /srv/data /run/view
    mountfd -t squashfs -o ro image.sqfs /mnt/image
    mountfd bind --source /srv/data --target /run/view --idmap 0:100000:65536
    mountfd overlay --lower /a:/b --upper /u --work /w --target /mnt/ov
    mountfd completions bash > /etc/bash_completion.d/mountfd";
