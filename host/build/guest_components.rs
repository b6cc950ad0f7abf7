//! Builds the Python and JavaScript components in one folder (`components/python/`,
//! `components/js/`, and the same under `tests/components/`) with the commands
//! `sluice build` runs (`src/author/guest.rs`): each language's
//! toolchain at its pinned version, installed from PyPI or npm into
//! `target/guest-toolchains` the first time.
//!
//! A build takes seconds per component, so a component is built again only when its
//! sources, the SDK, the WIT or the toolchain version changed (a stamp beside each `.wasm`
//! in `target/guest-components` records them), and components build in parallel.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::components::fail;
use crate::guest::GuestLanguage;

/// Build every directory of `dir` (each must hold the language's `app` file; its name is
/// the componentId) and return `(componentId, .wasm)` sorted by id. A missing `dir` has none.
pub fn build_guest_components(
    root: &Path,
    dir: &Path,
    language: GuestLanguage,
) -> Vec<(String, PathBuf)> {
    let wit = root.join("wit");
    let sdk = root.join("guest-sdk").join(language.sdk_folder());
    for watched in [dir, &wit, &sdk.join("sluice")] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let mut components = Vec::new();
    if !dir.is_dir() {
        return components;
    }
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|err| fail(format!("cannot read {}: {err}", dir.display())));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|err| fail(format!("cannot read {}: {err}", dir.display())))
            .path();
        if !path.is_dir() {
            continue;
        }
        if GuestLanguage::of(&path) != Some(language) {
            fail(format!(
                "{} is not a component: it has no {}",
                path.display(),
                language.app_file()
            ));
        }
        let id = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_else(|| fail(format!("{} is not a UTF-8 name", path.display())))
            .to_owned();
        components.push((id, path));
    }
    components.sort();
    if components.is_empty() {
        return Vec::new();
    }

    let toolchain = language
        .install(&root.join("target").join("guest-toolchains"))
        .unwrap_or_else(|err| fail(err));
    let out_dir = root.join("target").join("guest-components");
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|err| fail(format!("cannot create {}: {err}", out_dir.display())));
    let shared = stamp_of(language, &[&wit, &sdk.join("sluice")]);
    std::thread::scope(|scope| {
        let builds: Vec<_> = components
            .iter()
            .map(|(id, source)| {
                let (toolchain, wit, sdk, out_dir) = (&toolchain, &wit, &sdk, &out_dir);
                scope.spawn(move || {
                    let wasm = out_dir.join(format!("{id}.wasm"));
                    let stamp_file = out_dir.join(format!("{id}.stamp"));
                    let stamp = format!("{shared:x}-{:x}", stamp_of(language, &[source]));
                    if wasm.is_file() && fs::read_to_string(&stamp_file).ok() == Some(stamp.clone())
                    {
                        return Ok(());
                    }
                    language.componentize(toolchain, wit, sdk, source, &wasm)?;
                    fs::write(&stamp_file, stamp)
                        .map_err(|err| format!("cannot write {}: {err}", stamp_file.display()))
                })
            })
            .collect();
        for build in builds {
            if let Err(err) = build
                .join()
                .unwrap_or_else(|_| Err("a build thread panicked".into()))
            {
                fail(err);
            }
        }
    });
    components
        .into_iter()
        .map(|(id, _)| {
            let wasm = out_dir.join(format!("{id}.wasm"));
            (id, wasm)
        })
        .collect()
}

/// A hash of every file under `paths` (relative names and contents, `__pycache__` left
/// out) and of the toolchain's version.
fn stamp_of(language: GuestLanguage, paths: &[&Path]) -> u64 {
    let mut hasher = DefaultHasher::new();
    language.toolchain_version().hash(&mut hasher);
    for path in paths {
        hash_tree(path, path, &mut hasher);
    }
    hasher.finish()
}

fn hash_tree(base: &Path, path: &Path, hasher: &mut DefaultHasher) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .unwrap_or_else(|err| fail(format!("cannot read {}: {err}", path.display())))
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|entry| entry.file_name().is_some_and(|name| name != "__pycache__"))
            .collect();
        entries.sort();
        for entry in entries {
            hash_tree(base, &entry, hasher);
        }
    } else {
        path.strip_prefix(base).unwrap_or(path).hash(hasher);
        fs::read(path)
            .unwrap_or_else(|err| fail(format!("cannot read {}: {err}", path.display())))
            .hash(hasher);
    }
}
