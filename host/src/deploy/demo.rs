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
