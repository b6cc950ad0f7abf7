//! End-to-end tests live in `tests/`. This library holds the test fixture components, built
//! by `build.rs` from `tests/components/`: components that only tests deploy (hostile, crash
//! and probe components), never part of the bundled demo.

use std::path::Path;

/// One fixture component: its componentId, where the build put it, and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    pub id: &'static str,
    pub path: &'static str,
    pub wasm: &'static [u8],
}

impl Fixture {
    /// Add this component to the deploy directory `dir`, as `components/<id>.wasm`.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        let components = dir.join("components");
        std::fs::create_dir_all(&components)?;
        std::fs::write(components.join(format!("{}.wasm", self.id)), self.wasm)
    }
}

/// Test hosts share one process, so none may size its pool from the whole machine, as a host
/// without `maxInstances` does: give the deploy directory `dir` the cap a test host needs
/// unless its `sluice.yaml` sets one.
pub fn pin_max_instances(dir: &Path) -> std::io::Result<()> {
    let config_file = dir.join("sluice.yaml");
    let config = match std::fs::read_to_string(&config_file) {
        Ok(config) => config,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err),
    };
    if config.lines().any(|line| line.starts_with("maxInstances:")) {
        return Ok(());
    }
    let separator = if config.is_empty() || config.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    std::fs::write(
        config_file,
        format!("{config}{separator}maxInstances: 1000\n"),
    )
}

/// An ingress serving the `sse-fails-after` fixture at `api/test/fails-after/{n}`: it yields
/// `n` events, then fails (file `ingresses/fails-after.yaml` in the tests that deploy it).
pub const SSE_FAILS_AFTER_INGRESS: &str = "uri: /resources/ingresses/test/fails-after
spec:
  type: http
  componentId: sse-fails-after
  properties:
    route: api/test/fails-after/{n}
    httpMethod: get
    isPublic: true
";

/// The fixtures, one constant each (`fixtures::LIMITS_HOSTILE`), and `fixtures::ALL`.
pub mod fixtures {
    use super::Fixture;

    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}
