//! The files a Python or JavaScript build needs besides the component's own: the WIT
//! contract and the language's SDK, embedded in the `sluice` binary so `sluice build` works anywhere, written
//! once per content into the build cache.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use super::guest::GuestLanguage;

/// `wit/`, as this host speaks it.
pub const WIT: &[(&str, &str)] = &[
    ("ingress.wit", include_str!("../../../wit/ingress.wit")),
    ("actor.wit", include_str!("../../../wit/actor.wit")),
];

/// `guest-sdk/python/`: the package `sluice`.
pub const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "sluice/__init__.py",
        include_str!("../../../guest-sdk/python/sluice/__init__.py"),
    ),
    (
        "sluice/_bindings.py",
        include_str!("../../../guest-sdk/python/sluice/_bindings.py"),
    ),
    (
        "sluice/_capabilities.py",
        include_str!("../../../guest-sdk/python/sluice/_capabilities.py"),
    ),
    (
        "sluice/_errors.py",
        include_str!("../../../guest-sdk/python/sluice/_errors.py"),
    ),
    (
        "sluice/_export.py",
        include_str!("../../../guest-sdk/python/sluice/_export.py"),
    ),
    (
        "sluice/_record.py",
        include_str!("../../../guest-sdk/python/sluice/_record.py"),
    ),
    (
        "sluice/_request.py",
        include_str!("../../../guest-sdk/python/sluice/_request.py"),
    ),
    (
        "sluice/_stream.py",
        include_str!("../../../guest-sdk/python/sluice/_stream.py"),
    ),
    (
        "sluice/py.typed",
        include_str!("../../../guest-sdk/python/sluice/py.typed"),
    ),
];

/// `guest-sdk/js/`: the module `sluice` (`sluice/index.js`) and its TypeScript types.
pub const JS_SDK: &[(&str, &str)] = &[
    (
        "sluice/index.js",
        include_str!("../../../guest-sdk/js/sluice/index.js"),
    ),
    (
        "sluice/index.d.ts",
        include_str!("../../../guest-sdk/js/sluice/index.d.ts"),
    ),
];

/// The name in the cache and the files of `guest`'s SDK.
pub fn sdk(guest: GuestLanguage) -> (&'static str, &'static [(&'static str, &'static str)]) {
    match guest {
        GuestLanguage::Python => ("python-sdk", PYTHON_SDK),
        GuestLanguage::JavaScript => ("js-sdk", JS_SDK),
    }
}

/// Write `files` into `cache/<name>-<hash of the files>` unless that directory exists, and
/// return it. A directory per content means an older build's files are never reused.
pub fn materialize(cache: &Path, name: &str, files: &[(&str, &str)]) -> std::io::Result<PathBuf> {
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    let dir = cache.join(format!("{name}-{:016x}", hasher.finish()));
    if dir.is_dir() {
        return Ok(dir);
    }
    let staging = cache.join(format!(".{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    for (relative, text) in files {
        let path = staging.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    // Another build may have written the same files first; either copy will do.
    if std::fs::rename(&staging, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(dir)
}

/// Where `sluice build` keeps toolchains and these files: `$SLUICE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    var("SLUICE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("sluice")))
        .or_else(|| var("HOME").map(|home| home.join(".cache").join("sluice")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every file of a source folder, relative to `base`, `__pycache__` left out.
    fn files_under(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if !path.ends_with("__pycache__") {
                    files_under(base, &path, out);
                }
            } else {
                let relative = path.strip_prefix(base).expect("under base");
                out.insert(relative.to_str().expect("UTF-8").to_owned());
            }
        }
    }

    #[test]
    fn every_sdk_and_wit_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (base, dir, embedded) in [
            (root.join("wit"), root.join("wit"), WIT),
            (
                root.join("guest-sdk/python"),
                root.join("guest-sdk/python/sluice"),
                PYTHON_SDK,
            ),
        ] {
            let mut on_disk = BTreeSet::new();
            files_under(&base, &dir, &mut on_disk);
            let named: BTreeSet<String> = embedded
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .collect();
            assert_eq!(named, on_disk, "{}", dir.display());
        }
    }

    #[test]
    fn materialize_writes_once_per_content() {
        let cache = tempfile::tempdir().expect("cache");
        let first = materialize(cache.path(), "sdk", &[("a/b.py", "one")]).expect("written");
        assert_eq!(
            std::fs::read_to_string(first.join("a/b.py")).expect("file"),
            "one"
        );
        let again = materialize(cache.path(), "sdk", &[("a/b.py", "one")]).expect("found");
        assert_eq!(again, first);
        let changed = materialize(cache.path(), "sdk", &[("a/b.py", "two")]).expect("written");
        assert_ne!(changed, first);
    }
}
