//! [`mount_image`]: a filesystem image (a file or a block device) mounted as
//! a detached mount, without `mount(8)`.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::r#loop::open_backing;
use crate::{DetachedMount, Error, FsContext, LoopDevice, LoopOptions, MountAttr, Result};

/// Filesystems that can only be mounted read-only. Their images get a
/// read-only loop device and backing fd whatever `attr` says, so an image on
/// read-only media, or a read-only file, mounts too.
const READ_ONLY_FILESYSTEMS: &[&str] = &["squashfs", "erofs", "iso9660", "cramfs", "romfs"];

/// Mounts the filesystem image `image` (a regular file or a block device) of
/// type `fstype`, as a detached mount with `attr` applied.
///
/// - A **regular file** is given a loop device with autoclear set. The
///   loop device is closed before this returns, so it lives exactly as long
///   as the filesystem: when the last mount of it is unmounted, the device
///   is unbound and free again. For `erofs`, which can mount a file
///   directly (Linux 6.12+, for files on a filesystem with a page cache of
///   its own, so not tmpfs), the file is tried first and no loop device is
///   used when that works.
/// - A **block device** is mounted directly.
/// - **Read-only** in `attr` makes the loop device read-only
///   (`LO_FLAGS_READ_ONLY`, with the backing file opened read-only), the
///   superblock read-only (the `ro` flag) and the mount read-only.
///   Filesystems that are read-only by nature (squashfs, erofs, iso9660,
///   cramfs, romfs) always get a read-only device and superblock.
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
/// Bad input is reported before any loop device is attached:
/// [`Error::InvalidInput`] for an unknown `fstype` (one the kernel lists
/// nowhere in `/proc/filesystems`), an image that is a directory or neither
/// a file nor a block device; [`Error::Os`] with `ENOENT` for a missing
/// image. A filesystem that refuses the image gives [`Error::Os`] with the
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
/// # let made = std::process::Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image).status();
/// # if !made.is_ok_and(|s| s.success()) { return Ok(()); }
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
/// a regular file it rules out erofs's direct file mount.
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
/// # let made = std::process::Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&fs_image).status();
/// # if !made.is_ok_and(|s| s.success()) { return Ok(()); }
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
    opts.validate()?;
    let read_only = attr.is_readonly() || opts.read_only || READ_ONLY_FILESYSTEMS.contains(&fstype);
    // fsopen first: an unknown type fails here, before anything is attached.
    let mut fs = open_context(fstype)?;
    let (file, meta) = open_backing(image, read_only)?;
    let kind = meta.file_type();
    let whole = opts.offset == 0 && opts.size_limit == 0;

    if kind.is_block_device() && whole {
        drop(file);
        return mount_source(fs, utf8(image)?, read_only, attr);
    }
    if kind.is_file() && whole && fstype == "erofs" {
        if let Some(source) = image.to_str() {
            // Linux 6.12+ with CONFIG_EROFS_FS_BACKED_BY_FILE mounts the file
            // itself; without it, erofs reports ENOTBLK for a non-block
            // source (`erofs_fc_get_tree` in fs/erofs/super.c).
            match mount_source(fs, source, read_only, attr) {
                Err(e) if e.errno() == Some(libc::ENOTBLK) => fs = open_context(fstype)?,
                r => return r,
            }
        }
    }

    let loop_opts = LoopOptions {
        read_only,
        autoclear: true,
        ..*opts
    };
    let dev = LoopDevice::attach_file(&file, &meta, Some(image), &loop_opts)?;
    drop(file);
    let source = utf8(dev.path())?;
    let mnt = mount_source(fs, source, read_only, attr);
    // The superblock holds the device open now (or the mount failed); with
    // autoclear, closing our fd leaves the device's lifetime to the
    // filesystem alone.
    drop(dev);
    mnt
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

fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::invalid(
            "image",
            format!(
                "{} is not UTF-8, which fsconfig's source needs",
                path.display()
            ),
        )
    })
}
