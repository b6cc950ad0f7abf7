//! The bundled demo deploy directory: the source document's examples, compiled into the
//! binary by `build.rs`, so `sluice serve` with no directory needs nothing else.

use std::collections::BTreeSet;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// Write the demo deploy directory into `dir` (overwriting its demo files; other files,
/// such as the SQLite store, are kept).
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    write_languages(
        dir,
        &[Language::Rust, Language::Python, Language::JavaScript],
    )
}

/// The language a demo example is written in, told by its componentId and its ingress
/// file's name: `py-…` is Python, `js-…` JavaScript, anything else Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
}

impl Language {
    pub fn of(name: &str) -> Self {
        if name.starts_with("py-") {
            Self::Python
        } else if name.starts_with("js-") {
            Self::JavaScript
        } else {
            Self::Rust
        }
    }
}

/// Write the demo with only the examples (ingresses) in `languages`, and the components
/// they and the actor types use. Most tests want Rust alone: a Python or JavaScript
/// component is 12–19 MB of wasm and takes seconds to compile.
pub fn write_languages(dir: &Path, languages: &[Language]) -> std::io::Result<()> {
    let mut used = BTreeSet::new();
    for (relative, bytes) in DEMO_FILES {
        if let Some(name) = relative.strip_prefix("ingresses/")
            && !languages.contains(&Language::of(name))
        {
            continue;
        }
        if relative.starts_with("ingresses/") || relative.starts_with("actors/") {
            used.insert(component_id(relative, bytes)?);
        }
        write_file(&dir.join(relative), bytes)?;
    }
    for (component_id, wasm) in COMPONENTS {
        if used.contains(*component_id) {
            write_file(
                &dir.join("components").join(format!("{component_id}.wasm")),
                wasm,
            )?;
        }
    }
    Ok(())
}

/// The `spec.componentId` of a demo ingress or actor file.
fn component_id(relative: &str, yaml: &[u8]) -> std::io::Result<String> {
    let value: serde_norway::Value = serde_norway::from_slice(yaml).map_err(|err| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{relative}: {err}"),
        )
    })?;
    value["spec"]["componentId"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{relative} has no spec.componentId"),
            )
        })
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The componentIds the demo's ingresses and actor types use, each checked to be in
    /// the language its file's name says.
    fn referenced(dir: &Path) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for folder in ["ingresses", "actors"] {
            for entry in std::fs::read_dir(dir.join(folder)).expect(folder) {
                let entry = entry.expect("entry");
                let text = std::fs::read_to_string(entry.path()).expect("yaml");
                let yaml: serde_norway::Value = serde_norway::from_str(&text).expect("yaml");
                let id = yaml["spec"]["componentId"].as_str().expect("componentId");
                let file = entry.file_name().to_str().expect("UTF-8").to_owned();
                assert_eq!(Language::of(&file), Language::of(id), "{folder}/{file}");
                ids.insert(id.to_owned());
            }
        }
        ids
    }

    fn written(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir.join("components"))
            .expect("components")
            .map(|entry| {
                let name = entry.expect("entry").file_name();
                let name = name.to_str().expect("UTF-8").to_owned();
                name.strip_suffix(".wasm").expect("a .wasm").to_owned()
            })
            .collect()
    }

    #[test]
    fn each_language_brings_its_ingresses_and_the_components_they_use() {
        for (languages, has, lacks) in [
            (&[Language::Rust][..], "hello", "py-hello"),
            (&[Language::Python][..], "py-hello", "hello"),
            (&[Language::JavaScript][..], "js-hello", "py-hello"),
        ] {
            let dir = tempfile::tempdir().expect("dir");
            write_languages(dir.path(), languages).expect("demo written");
            let written = written(dir.path());
            assert_eq!(written, referenced(dir.path()), "{languages:?}");
            assert!(
                written.contains(has) && !written.contains(lacks),
                "{written:?}"
            );
            // Every language's SKU stock example messages the one `sku` actor, in Rust.
            assert!(written.contains("sku-actor"), "{written:?}");
        }
    }

    #[test]
    fn the_demo_holds_its_own_components_and_no_test_fixture() {
        let dir = tempfile::tempdir().expect("dir");
        write_to(dir.path()).expect("demo written");
        let written = written(dir.path());
        assert_eq!(
            written,
            referenced(dir.path()),
            "exactly what the demo uses"
        );
        for fixture in [
            "actor-crash",
            "limits-hostile",
            "sandbox-probes",
            "sse-fails-after",
            "whoami",
        ] {
            assert!(!written.contains(fixture), "{fixture} is a test fixture");
        }
    }
}
