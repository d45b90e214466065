//! [`Overlay`]: an overlay filesystem stacked from directories or mounts.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{raw, DetachedMount, Error, FsContext, MountAttr, Result};

/// The most lower layers overlayfs stacks (`OVL_MAX_STACK`).
const MAX_LOWERS: usize = 500;

#[derive(Clone)]
enum Layer<'a> {
    Path(PathBuf),
    /// Whatever the caller passed: a `BorrowedFd`, a reference to an fd
    /// holder, or a holder itself, kept (shared, for `Clone`) until `mount`.
    Fd(Arc<dyn AsFd + Send + Sync + 'a>),
}

impl std::fmt::Debug for Layer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layer::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Layer::Fd(fd) => f.debug_tuple("Fd").field(&fd.as_fd()).finish(),
        }
    }
}

/// An overlay filesystem: read-only lower layers, optionally under a
/// writable upper layer with its work directory, built through `fsopen`.
///
/// Layers are given top first, as in `lowerdir=top:…:bottom`: a name in an
/// earlier layer hides the same name in later ones. Each layer is passed to
/// the kernel on its own (`lowerdir+`, Linux 6.8+), so paths need no
/// escaping of `:` or `,`. A layer can be a path or an fd: a directory, or a
/// [`DetachedMount`] that was never attached anywhere (Linux 6.15+ accepts
/// such `O_PATH` fds). Id-mapped layers work either way: files show through
/// the overlay as the layer's mount shows them.
///
/// Without an upper layer the overlay is read-only, and needs at least two
/// lower layers.
///
/// **Id-mapping.** A merged overlay cannot be id-mapped: `MOUNT_ATTR_IDMAP`
/// on it is `EINVAL` (overlayfs does not set `FS_ALLOW_IDMAP`), whether
/// asked in [`mount`](Self::mount)'s `attr`, with
/// [`DetachedMount::set_attr`] or through
/// [`DetachedMount::try_clone`]. Id-map the layers instead, first: clone
/// each one id-mapped, detached
/// ([`DetachedMount::clone_tree_idmapped`], or
/// [`try_clone`](DetachedMount::try_clone) of a mounted image), and pass it
/// with [`lower_fd`](Self::lower_fd); see the example there.
///
/// # Examples
///
/// ```
/// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
/// # let dir = mountfd_testing::scratch_dir("overlay");
/// # let [base, app, upper, work, target] = ["base", "app", "upper", "work", "target"].map(|n| dir.join(n));
/// # for d in [&base, &app, &upper, &work, &target] { std::fs::create_dir_all(d).unwrap(); }
/// # std::fs::write(base.join("os-release"), b"base").unwrap();
/// # std::fs::write(app.join("app.conf"), b"app").unwrap();
/// use mountfd::{MountAttr, Overlay};
///
/// Overlay::new()
///     .lower(&app)
///     .lower(&base)
///     .upper(&upper, &work)
///     .mount(&MountAttr::new().nodev())?
///     .attach(&target)?;
/// assert_eq!(std::fs::read(target.join("os-release")).unwrap(), b"base");
/// std::fs::write(target.join("new"), b"x").unwrap();
/// assert!(upper.join("new").exists(), "writes land in the upper layer");
/// # Ok::<(), mountfd::Error>(())
/// ```
///
/// See <https://docs.kernel.org/filesystems/overlayfs.html>.
#[derive(Debug, Clone, Default)]
#[doc(alias = "overlayfs")]
pub struct Overlay<'a> {
    lowers: Vec<Layer<'a>>,
    upper: Option<(Layer<'a>, Layer<'a>)>,
    options: Vec<(String, Option<String>)>,
}

impl<'a> Overlay<'a> {
    /// An overlay with no layers yet.
    #[must_use]
    pub fn new() -> Self {
        Overlay::default()
    }

    /// Adds a lower layer below those added so far.
    #[must_use]
    pub fn lower(mut self, dir: impl AsRef<Path>) -> Self {
        self.lowers.push(Layer::Path(dir.as_ref().to_owned()));
        self
    }

    /// Adds each layer of a `lowerdir` value in the kernel's syntax, top
    /// first, below those added so far (see [`parse_lowerdir`](Self::parse_lowerdir)).
    ///
    /// # Errors
    ///
    /// As [`parse_lowerdir`](Self::parse_lowerdir).
    pub fn lowers(mut self, lowerdir: &str) -> Result<Self> {
        for layer in Overlay::parse_lowerdir(lowerdir)? {
            self.lowers.push(Layer::Path(layer));
        }
        Ok(self)
    }

    /// Splits a `lowerdir` value in overlayfs's own syntax into its layers:
    /// `:` separates layers and `\` makes the next character literal, so
    /// `a:b\:c` is the two layers `a` and `b:c` (`ovl_parse_param_split_lowerdirs`
    /// in `fs/overlayfs/params.c` reads it the same way).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty layer or a trailing lone `\`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use mountfd::Overlay;
    ///
    /// let layers = Overlay::parse_lowerdir(r"/app:/odd\:name:/base")?;
    /// assert_eq!(layers, [PathBuf::from("/app"), PathBuf::from("/odd:name"), PathBuf::from("/base")]);
    /// assert!(Overlay::parse_lowerdir("/app::/base").is_err());
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    pub fn parse_lowerdir(value: &str) -> Result<Vec<PathBuf>> {
        let mut layers = Vec::new();
        let mut cur = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(next) => cur.push(next),
                    None => {
                        return Err(Error::invalid(
                            "lowerdir",
                            format!("{value:?} ends in a lone '\\'"),
                        ))
                    }
                },
                ':' => layers.push(PathBuf::from(std::mem::take(&mut cur))),
                c => cur.push(c),
            }
        }
        layers.push(PathBuf::from(cur));
        if let Some(empty) = layers.iter().position(|l| l.as_os_str().is_empty()) {
            return Err(Error::invalid(
                "lowerdir",
                format!("{value:?}: layer {} is empty", empty + 1),
            ));
        }
        Ok(layers)
    }

    /// Adds a lower layer given as an fd, below those added so far: an open
    /// directory, or a [`DetachedMount`] (such as an id-mapped clone that is
    /// attached nowhere).
    ///
    /// `dir` is anything that has an fd: a `BorrowedFd`, a reference to a
    /// handle, or the handle itself, which the overlay then holds until it
    /// is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # if !mountfd_testing::enter_private_mount_ns() { return Ok(()); }
    /// # let dir = mountfd_testing::scratch_dir("overlay-lower-fd");
    /// # let [app, base, target] = ["app", "base", "target"].map(|n| dir.join(n));
    /// # for d in [&app, &base, &target] { std::fs::create_dir_all(d).unwrap(); }
    /// # std::fs::write(base.join("file"), b"").unwrap();
    /// use std::os::fd::AsFd;
    /// use std::os::unix::fs::MetadataExt;
    /// use mountfd::{DetachedMount, IdMap, MountAttr, Overlay, UserNs};
    ///
    /// let ns = UserNs::from_idmap(&"0:100000:65536".parse::<IdMap>()?)?;
    /// let layer = DetachedMount::clone_tree_idmapped(&base, false, &ns)?;
    /// Overlay::new()
    ///     .lower(&app)
    ///     .lower_fd(layer.as_fd())
    ///     .mount(&MountAttr::new())?
    ///     .attach(&target)?;
    /// assert_eq!(std::fs::metadata(target.join("file")).unwrap().uid(), 100000);
    /// # Ok::<(), mountfd::Error>(())
    /// ```
    #[must_use]
    pub fn lower_fd(mut self, dir: impl AsFd + Send + Sync + 'a) -> Self {
        self.lowers.push(Layer::Fd(Arc::new(dir)));
        self
    }

    /// Sets the writable upper layer and its work directory, which must be
    /// an empty directory on the same filesystem as `upper`.
    ///
    /// An upper and a work directory belong to one mounted overlay at a
    /// time: overlayfs mounts a second one on them with a warning that
    /// using both is undefined behaviour (and refuses it with `index=on`).
    /// So a tree that will [`replace`](crate::DetachedMount::replace) one
    /// with an overlay gets directories of its own, as the old tree stays
    /// mounted until it is swapped out and while a process still uses it.
    #[must_use]
    pub fn upper(mut self, upper: impl AsRef<Path>, work: impl AsRef<Path>) -> Self {
        self.upper = Some((
            Layer::Path(upper.as_ref().to_owned()),
            Layer::Path(work.as_ref().to_owned()),
        ));
        self
    }

    /// Sets the upper layer and work directory as fds (directories, or
    /// detached mounts of them), given as in [`lower_fd`](Self::lower_fd).
    #[must_use]
    pub fn upper_fd(
        mut self,
        upper: impl AsFd + Send + Sync + 'a,
        work: impl AsFd + Send + Sync + 'a,
    ) -> Self {
        self.upper = Some((Layer::Fd(Arc::new(upper)), Layer::Fd(Arc::new(work))));
        self
    }

    /// Sets another overlay option: `option("redirect_dir", Some("on"))`,
    /// or a flag such as `option("userxattr", None)`.
    #[must_use]
    pub fn option(mut self, key: &str, value: Option<&str>) -> Self {
        self.options
            .push((key.to_owned(), value.map(ToOwned::to_owned)));
        self
    }

    /// `fsopen("overlay")`, each layer with `fsconfig`, then `fsmount`—the
    /// overlay as a detached mount with `attr` applied.
    ///
    /// Linux 6.5 to 6.7 refuse `lowerdir+`; there path layers are passed in
    /// one `lowerdir` string instead (with `:` and `\` escaped). Fd layers
    /// need a recent kernel (detached mounts, whose fds are `O_PATH`, are
    /// taken since Linux 6.15). Before 6.5 overlayfs parses its options only
    /// when the filesystem is created, and refuses `lowerdir+` there with
    /// `EINVAL`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] without any lower layer (or with just one
    /// and no upper layer, which overlayfs refuses), with more than 500, for
    /// an option name the kernel cannot take, or for a layer path that is
    /// not UTF-8 and not a directory (such a path is passed as an `O_PATH`
    /// fd, so a FIFO or device there is refused, never opened); [`Error::Os`] with the
    /// kernel's message when overlayfs refuses a layer (`ENOENT`, a work
    /// directory on another filesystem, …), or `EINVAL` for
    /// an `attr` with an id map (see [`Overlay`]: map the layers instead).
    #[doc(alias = "lowerdir")]
    pub fn mount(&self, attr: &MountAttr<'_>) -> Result<DetachedMount> {
        if self.lowers.is_empty() {
            return Err(Error::invalid(
                "overlay",
                "it needs at least one lower layer",
            ));
        }
        if self.lowers.len() == 1 && self.upper.is_none() {
            // ovl_get_lowerstack: "at least 2 lowerdir are needed while
            // upperdir nonexistent".
            return Err(Error::invalid(
                "overlay",
                "without an upper layer it needs at least two lower layers",
            ));
        }
        if self.lowers.len() > MAX_LOWERS {
            return Err(Error::invalid(
                "overlay",
                format!(
                    "{} lower layers; overlayfs stacks at most {MAX_LOWERS}",
                    self.lowers.len()
                ),
            ));
        }
        let fs = FsContext::new("overlay")?;
        match self.add_lowers(&fs) {
            Ok(()) => self.finish(fs, attr),
            // "overlay: Unknown parameter 'lowerdir+'" before Linux 6.8.
            Err(e) if e.errno() == Some(libc::EINVAL) && self.all_paths() => {
                let fs = FsContext::new("overlay")?;
                fs.set_string("lowerdir", &self.joined_lowers()?)?;
                self.finish(fs, attr)
            }
            Err(e) => Err(e),
        }
    }

    fn add_lowers(&self, fs: &FsContext) -> Result<()> {
        for layer in &self.lowers {
            set_layer(fs, "lowerdir+", layer)?;
        }
        Ok(())
    }

    fn finish(&self, fs: FsContext, attr: &MountAttr<'_>) -> Result<DetachedMount> {
        if let Some((upper, work)) = &self.upper {
            set_layer(&fs, "upperdir", upper)?;
            set_layer(&fs, "workdir", work)?;
        }
        for (key, value) in &self.options {
            match value {
                Some(v) => fs.set_string(key, v)?,
                None => fs.set_flag(key)?,
            }
        }
        fs.mount(attr)
    }

    fn all_paths(&self) -> bool {
        self.lowers.iter().all(|l| matches!(l, Layer::Path(_)))
    }

    /// The lower layers as one `lowerdir` value, top first, with the
    /// separator `:` and the escape `\` escaped as overlayfs expects
    /// (`ovl_parse_param_split_lowerdirs` in fs/overlayfs/params.c).
    fn joined_lowers(&self) -> Result<String> {
        let mut out = String::new();
        for (i, layer) in self.lowers.iter().enumerate() {
            let Layer::Path(p) = layer else {
                unreachable!("checked by all_paths")
            };
            if i > 0 {
                out.push(':');
            }
            for c in utf8(p)?.chars() {
                if c == ':' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        Ok(out)
    }
}

fn set_layer(fs: &FsContext, key: &str, layer: &Layer<'_>) -> Result<()> {
    match layer {
        Layer::Fd(fd) => fs.set_fd(key, fd.as_fd()),
        Layer::Path(p) => set_path_layer(fs, key, p).map_err(|e| e.at(p)),
    }
}

/// [`set_layer`] of a path: a failure names the layer's path (the option
/// key has a field of its own in the error).
fn set_path_layer(fs: &FsContext, key: &str, p: &Path) -> Result<()> {
    match p.to_str() {
        // The kernel looks the path up itself (following symlinks, as a
        // `lowerdir=` option does); nothing is opened here.
        Some(s) => fs.set_string(key, s),
        // fsconfig strings are text here; a path that is not UTF-8 goes
        // in as a directory fd instead, resolved as the kernel would
        // resolve the string. It is only ever an `O_PATH` fd: a FIFO or
        // device named as a layer is refused, never opened.
        None => {
            let dir = layer_dir(p)?;
            match fs.set_fd(key, dir.fd.as_fd()) {
                // A kernel that takes only open files as fd layers
                // (`O_PATH` ones, such as detached mounts, since 6.15):
                // the directory, and nothing else, is opened read-only.
                Err(e) if e.errno() == Some(libc::EBADF) => {
                    let open = crate::path::reopen(&dir, false, p)?;
                    fs.set_fd(key, open.as_fd())
                }
                r => r,
            }
        }
    }
}

/// `p` resolved (symlinks followed, as the kernel resolves a layer string)
/// to an `O_PATH` fd, which must be a directory.
fn layer_dir(p: &Path) -> Result<crate::path::Resolved> {
    let r = crate::path::resolve(raw::cwd(), p, crate::path::Follow::All)?;
    if r.kind != crate::path::Kind::Dir {
        return Err(Error::invalid(
            "overlay layer",
            format!("{} is {}, not a directory", p.display(), r.kind.describe()),
        ));
    }
    Ok(r)
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::invalid("overlay layer", format!("{} is not UTF-8", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_lowerdir_rejects_empty_layers_and_a_lone_escape() {
        for bad in ["", ":", "a:", ":a", "a::b", r"a\"] {
            let err = Overlay::parse_lowerdir(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidInput {
                        what: "lowerdir",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
        assert_eq!(
            Overlay::parse_lowerdir(r"a\\b").unwrap(),
            [PathBuf::from(r"a\b")]
        );
    }

    proptest! {
        /// What `joined_lowers` writes for the kernel, `parse_lowerdir`
        /// reads back as the same layers, whatever `:` and `\` they hold.
        #[test]
        fn joined_lowers_round_trips_through_parse_lowerdir(
            layers in proptest::collection::vec("[a-z:\\\\/ ]{1,12}", 1..6)
        ) {
            let ov = layers.iter().fold(Overlay::new(), |ov, l| ov.lower(l));
            let joined = ov.joined_lowers().unwrap();
            let parsed = Overlay::parse_lowerdir(&joined).unwrap();
            let expected: Vec<PathBuf> = layers.iter().map(PathBuf::from).collect();
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn parse_lowerdir_never_panics(s in "\\PC*") {
            let _ = Overlay::parse_lowerdir(&s);
        }
    }
}
