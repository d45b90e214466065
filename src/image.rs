//! [`mount_image`]: a filesystem image (a file or a block device) mounted as
//! a detached mount, without `mount(8)`.

use std::os::fd::AsFd;
use std::path::Path;

use crate::loop_device::{backing_size, find_reusable, open_resolved, resolve_backing};

use crate::path::{fd_path, Kind};
use crate::{DetachedMount, Error, FsContext, LoopDevice, LoopOptions, MountAttr, Op, Result};

/// Filesystems that can only be mounted read-only. Their images get a
/// read-only loop device and backing fd whatever `attr` says, so an image on
/// read-only media, or a read-only file, mounts too.
const READ_ONLY_FILESYSTEMS: &[&str] = &["squashfs", "erofs", "iso9660", "cramfs", "romfs"];

/// Mounts the filesystem image `image` (a regular file or a block device) of
/// type `fstype`, as a detached mount with `attr` applied.
///
/// `image` is looked up once, to an `O_PATH` fd, and its kind checked on
/// that fd before anything is opened; from then on that fd is used, so a
/// path swapped meanwhile changes nothing.
///
/// - A **regular file** is given a loop device with autoclear set. The
///   loop device is closed before this returns, so it lives exactly as long
///   as the filesystem: when the last mount of it is unmounted, the device
///   is unbound and free again. For `erofs`, which can mount a file
///   directly (Linux 6.12+, for files on a filesystem with a page cache of
///   its own, so not tmpfs), the file is tried first and no loop device is
///   used when that works.
/// - A **block device** is mounted directly.
/// - An image **already bound** to a loop device is mounted from that
///   device, as `mount -o loop` does, when the device covers the same range
///   (the same offset and end): the kernel then returns the filesystem
///   already mounted from it, so two mounts of one image share one
///   superblock instead of writing the same blocks from two (which corrupts
///   ext4, whose journal each would replay). The look for such a device and
///   the binding of a new one hold `flock` on `/dev/loop-control` (as
///   systemd does), so concurrent callers, in threads or processes, end on
///   one device. A reused device keeps the settings it was bound with
///   (autoclear among them: one bound without it by someone else outlives
///   the mounts). [`LoopDevice::attach`] does not reuse; it binds a new
///   device every time, as `losetup` does.
/// - **Read-only** in `attr` makes the loop device read-only
///   (`LO_FLAGS_READ_ONLY`, with the backing file opened read-only), the
///   superblock read-only (the `ro` flag) and the mount read-only.
///   Filesystems that are read-only by nature (squashfs, erofs, iso9660,
///   cramfs, romfs) always get a read-only device and superblock.
///
/// The kernel looks the `source` of a filesystem up by itself, by name. For
/// a loop device that name is `/dev/loopN`, which is what the mount table
/// shows; for a block device or an erofs file mounted directly it is the
/// magic link `/proc/thread-self/fd/N` of the fd checked above, so that the
/// kernel opens exactly that file, and the mount table shows that link as
/// the mount's source. Both need `/proc` mounted.
///
/// The result composes with id maps like any detached mount: give `attr` an
/// [`idmap`](MountAttr::idmap), call [`DetachedMount::set_attr`] on it, or
/// clone it with [`DetachedMount::clone_tree_idmapped`] once attached (the
/// filesystem must support id-mapped mounts, as ext4, xfs, btrfs, squashfs
/// and erofs do on Linux 6.18).
///
/// Same as [`mount_image_with`] and [`LoopOptions::default`].
///
/// # Errors
///
/// Bad input is reported before any loop device is attached, and before the
/// image is opened: [`Error::InvalidInput`] for an unknown `fstype` (one the
/// kernel lists nowhere in `/proc/filesystems`), a type that takes no device
/// (`nodev` there: tmpfs, proc, overlay, ...), an image that is neither a
/// regular file nor a block device (a directory, a FIFO, a character
/// device, a socket); [`Error::Os`] with `ENOENT` for a missing image.
///
/// [`Error::LoopInUse`], naming the device, when the image is already bound
/// to a loop device over a different but overlapping range (`EBUSY`), or to
/// a read-only one over the same range while read-write is asked
/// (`EROFS`). [`Error::Os`] with `EBUSY`, naming the device, when a
/// filesystem is already mounted from that device read-write and read-only
/// is asked, or the other way round: the kernel cannot change a shared
/// superblock's read-only state ("Can't mount, would change RO state").
///
/// A filesystem that refuses the image gives [`Error::Os`] with the
/// kernel's message ([`Error::kernel_message`]), and the loop device is
/// released again.
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("mount-image");
/// # let target = dir.join("target");
/// # std::fs::create_dir_all(&target).unwrap();
/// # let image = dir.join("root.ext4");
/// # std::fs::write(&image, vec![0u8; 8 << 20]).unwrap();
/// # if !mountfd_testing::image_util::have("mkfs.ext4") { return Ok(()); }
/// # let made = std::process::Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image).status();
/// # assert!(made.is_ok_and(|s| s.success()), "mkfs.ext4 failed");
/// use mountfd::{mount_image, MountAttr};
///
/// let mnt = mount_image(&image, "ext4", &MountAttr::new().readonly().nodev())?;
/// mnt.attach(&target)?;
/// assert!(target.join("lost+found").is_dir());
/// let err = std::fs::write(target.join("new"), b"x").unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EROFS));
/// # Ok::<(), mountfd::Error>(())
/// ```
#[doc(alias = "mount")]
#[doc(alias = "losetup")]
pub fn mount_image(
    image: impl AsRef<Path>,
    fstype: &str,
    attr: &MountAttr<'_>,
) -> Result<DetachedMount> {
    mount_image_with(image, fstype, attr, &LoopOptions::new())
}

/// [`mount_image`] with loop-device options: an image at an offset inside a
/// larger file, a size limit, direct I/O or a block size.
///
/// `opts.autoclear` is ignored (the device always lives exactly as long as
/// the filesystem), and `opts.read_only` adds to read-only in `attr`. An
/// offset or size limit on a block device puts a loop device over it; on
/// a regular file it rules out erofs's direct file mount. A device reused
/// for the same range keeps the direct I/O and block size it was bound
/// with.
///
/// # Errors
///
/// As [`mount_image`]; also [`Error::InvalidInput`] for an offset at or past
/// the end of the image or a bad block size, before any loop device is
/// attached.
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("mount-image-with");
/// # let target = dir.join("target");
/// # std::fs::create_dir_all(&target).unwrap();
/// # let fs_image = dir.join("fs.ext4");
/// # std::fs::write(&fs_image, vec![0u8; 8 << 20]).unwrap();
/// # if !mountfd_testing::image_util::have("mkfs.ext4") { return Ok(()); }
/// # let made = std::process::Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&fs_image).status();
/// # assert!(made.is_ok_and(|s| s.success()), "mkfs.ext4 failed");
/// # let mut bundle = vec![0xffu8; 1 << 20];
/// # bundle.extend(std::fs::read(&fs_image).unwrap());
/// # let image = dir.join("bundle.bin");
/// # std::fs::write(&image, bundle).unwrap();
/// use mountfd::{mount_image_with, LoopOptions, MountAttr};
///
/// // The filesystem starts 1 MiB into the file.
/// let opts = LoopOptions { offset: 1 << 20, ..LoopOptions::new() };
/// mount_image_with(&image, "ext4", &MountAttr::new().readonly(), &opts)?.attach(&target)?;
/// assert!(target.join("lost+found").is_dir());
/// # Ok::<(), mountfd::Error>(())
/// ```
pub fn mount_image_with(
    image: impl AsRef<Path>,
    fstype: &str,
    attr: &MountAttr<'_>,
    opts: &LoopOptions,
) -> Result<DetachedMount> {
    let image = image.as_ref();
    // A failure names the image, unless it names a loop device already.
    mount_image_path(image, fstype, attr, opts).map_err(|e| e.at(image))
}

fn mount_image_path(
    image: &Path,
    fstype: &str,
    attr: &MountAttr<'_>,
    opts: &LoopOptions,
) -> Result<DetachedMount> {
    opts.validate()?;
    let read_only = attr.is_readonly() || opts.read_only || READ_ONLY_FILESYSTEMS.contains(&fstype);
    let listed = needs_device(fstype)?;
    // fsopen first: an unknown type fails here, before anything is attached,
    // and a type that is a module not loaded yet is loaded (and listed) now.
    let mut fs = open_context(fstype)?;
    if listed.is_none() {
        needs_device(fstype)?;
    }
    // The image is looked up once; its kind is checked on that O_PATH fd,
    // and that fd is what is used from here on.
    let r = resolve_backing(image)?;
    let whole = opts.offset == 0 && opts.size_limit == 0;

    // fsconfig's source is a string the kernel looks up itself; the magic
    // link of our fd makes it find exactly the inode checked above.
    if r.kind == Kind::BlockDevice && whole {
        return mount_source(fs, &fd_path(r.fd.as_fd()), read_only, attr);
    }
    if r.kind == Kind::File && whole && fstype == "erofs" {
        // Linux 6.12+ with CONFIG_EROFS_FS_BACKED_BY_FILE mounts the file
        // itself; without it, erofs reports ENOTBLK for a non-block
        // source (`erofs_fc_get_tree` in fs/erofs/super.c).
        match mount_source(fs, &fd_path(r.fd.as_fd()), read_only, attr) {
            Err(e) if e.errno() == Some(libc::ENOTBLK) => fs = open_context(fstype)?,
            r => return r,
        }
    }

    let loop_opts = LoopOptions {
        read_only,
        autoclear: true,
        ..*opts
    };
    let file = open_resolved(&r, read_only, image)?;
    let size = backing_size(&file, r.kind, r.size, Some(image))?;
    loop_opts.check_fits(size, Some(image))?;
    // Look for a device already bound to this file and bind a new one only
    // if there is none, with the lock that systemd also takes held from the
    // look to the binding: two callers mounting one image at once end on
    // one device, and so on one superblock.
    let ctl = crate::loop_device::open_control()?;
    crate::loop_device::lock_control(ctl.as_fd())?;
    let (dev, reused) = match find_reusable(&r, size, &loop_opts, image)? {
        Some(dev) => (dev, true),
        None => (
            LoopDevice::attach_file(
                Some(ctl.as_fd()),
                &file,
                r.kind,
                r.size,
                Some(image),
                &loop_opts,
            )?,
            false,
        ),
    };
    // Unlocked: the device is bound, and a caller that looks now finds it.
    drop(ctl);
    drop(file);
    let source = dev.path().to_string_lossy().into_owned();
    let mnt = mount_source(fs, &source, read_only, attr).map_err(|e| match e.errno() {
        // get_tree_bdev found a superblock on the reused device, mounted
        // read-write where read-only was asked or the other way round, and
        // will not change that (fs/super.c; the kernel's message says
        // "Can't mount, would change RO state"): name the device.
        Some(libc::EBUSY) if reused => e.at(dev.path()),
        _ => e,
    });
    // The superblock holds the device open now (or the mount failed); with
    // autoclear, closing our fd leaves the device's lifetime to the
    // filesystem alone.
    drop(dev);
    mnt
}

/// Whether `/proc/filesystems` lists `fstype` as a filesystem on a device
/// (`Some(true)`), or not at all (`None`). One marked `nodev` (tmpfs,
/// proc, overlay, ...) would ignore the image, and the mount would merely
/// show a loop device as its source: refused as bad input.
fn needs_device(fstype: &str) -> Result<Option<bool>> {
    let list = Path::new("/proc/filesystems");
    let text =
        std::fs::read_to_string(list).map_err(|e| Error::from_io(Op::Read, Some(list), &e))?;
    // Each line is "nodev\tNAME" or "\tNAME".
    for line in text.lines() {
        let Some((flags, name)) = line.split_once('\t') else {
            continue;
        };
        if name == fstype {
            if flags == "nodev" {
                return Err(Error::invalid(
                    "fstype",
                    format!(
                        "{fstype} takes no device (\"nodev\" in /proc/filesystems), \
                         so it cannot mount an image; use FsContext for it"
                    ),
                ));
            }
            return Ok(Some(true));
        }
    }
    Ok(None)
}

fn open_context(fstype: &str) -> Result<FsContext> {
    FsContext::new(fstype).map_err(|e| match e.errno() {
        Some(libc::ENODEV) => Error::invalid(
            "fstype",
            format!("the kernel knows no filesystem type {fstype:?} (see /proc/filesystems)"),
        ),
        _ => e,
    })
}

fn mount_source(
    fs: FsContext,
    source: &str,
    read_only: bool,
    attr: &MountAttr<'_>,
) -> Result<DetachedMount> {
    fs.set_string("source", source)?;
    if read_only {
        fs.set_flag("ro")?;
    }
    fs.mount(attr)
}
