//! The files the cases run on: a squashfs image and the reference C program.

use super::*;

pub(super) fn make_squashfs(dir: &Path) -> Option<PathBuf> {
    let content = dir.join("image-content");
    std::fs::create_dir_all(content.join("etc")).unwrap();
    std::fs::write(content.join("etc/os-release"), b"ID=bench\n").unwrap();
    std::fs::write(content.join("data"), vec![7u8; 64 << 10]).unwrap();
    let image = dir.join("small.squashfs");
    let ok = Command::new("mksquashfs")
        .arg(&content)
        .arg(&image)
        .args(["-noappend", "-quiet", "-no-progress"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("perf: mksquashfs is missing or failed: skipping the image cases");
    }
    ok.then_some(image)
}

/// Reads `reference.c`, found beside the repository as laid out for
/// development and CI, or through `MOUNTFD_REFERENCE_C`. Read before the
/// private namespace hides the caller's `/tmp`.
pub(super) fn reference_source() -> Option<(PathBuf, Vec<u8>)> {
    let src = std::env::var_os("MOUNTFD_REFERENCE_C")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/reference.c")
        });
    match std::fs::read(&src) {
        Ok(text) => Some((src, text)),
        Err(e) => {
            eprintln!(
                "perf: {}: {e} (set MOUNTFD_REFERENCE_C): skipping the reference modes",
                src.display()
            );
            None
        }
    }
}

/// Builds the reference with `cc` in the private `/tmp`, gone with the
/// namespace.
pub(super) fn build_reference(dir: &Path, (path, text): &(PathBuf, Vec<u8>)) -> Option<PathBuf> {
    let (src, out) = (dir.join("reference.c"), dir.join("reference"));
    std::fs::write(&src, text).unwrap();
    let ok = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "perf: cc failed on {}: skipping the reference modes",
            path.display()
        );
    }
    ok.then_some(out)
}
