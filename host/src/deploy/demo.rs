//! The bundled demo deploy directory: the source document's examples, compiled into the
//! binary by `build.rs`, so `sluice serve` with no directory needs nothing else.

use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// Write the demo deploy directory into `dir` (overwriting its demo files; other files,
/// such as the SQLite store, are kept).
pub fn write_to(dir: &Path) -> std::io::Result<()> {
    for (relative, bytes) in DEMO_FILES {
        write_file(&dir.join(relative), bytes)?;
    }
    for (component_id, wasm) in COMPONENTS {
        write_file(
            &dir.join("components").join(format!("{component_id}.wasm")),
            wasm,
        )?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The componentIds the demo's ingresses and actor types use.
    fn referenced(dir: &Path) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for folder in ["ingresses", "actors"] {
            for entry in std::fs::read_dir(dir.join(folder)).expect(folder) {
                let text = std::fs::read_to_string(entry.expect("entry").path()).expect("yaml");
                let yaml: serde_norway::Value = serde_norway::from_str(&text).expect("yaml");
                let id = yaml["spec"]["componentId"].as_str().expect("componentId");
                ids.insert(id.to_owned());
            }
        }
        ids
    }

    #[test]
    fn the_demo_holds_its_own_components_and_no_test_fixture() {
        let dir = tempfile::tempdir().expect("dir");
        write_to(dir.path()).expect("demo written");
        let written: BTreeSet<String> = std::fs::read_dir(dir.path().join("components"))
            .expect("components")
            .map(|entry| {
                let name = entry.expect("entry").file_name();
                let name = name.to_str().expect("UTF-8").to_owned();
                name.strip_suffix(".wasm").expect("a .wasm").to_owned()
            })
            .collect();
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
