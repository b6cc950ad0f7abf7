//! Python components: a directory whose `app.py` exports a handler with the Python SDK
//! (`guest-sdk/python`), made into a component by componentize-py.
//!
//! componentize-py comes from PyPI at a pinned version, installed once with
//! `python3 -m pip install --target` into a toolchain directory that the caller owns
//! (`target/guest-toolchains` for the workspace's own builds, the user's cache for
//! `sluice build`). It is a self-contained wheel: the Python it embeds, not the machine's,
//! runs the component, so the machine's `python3` only has to run pip.
//!
//! This file uses only `std`: the build scripts include it (`#[path]`) to build the
//! Python examples and fixtures with the same commands `sluice build` runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::toolchain;

/// The componentize-py release every Python component is built with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The module componentize-py loads: `app.py` in the component's directory.
pub const APP_MODULE: &str = "app";

const RUN_COMPONENTIZE_PY: &str = "import sys; from componentize_py import script; \
    sys.argv[0] = 'componentize-py'; sys.exit(script())";

/// The file that makes a directory a Python component.
pub const APP_FILE: &str = "app.py";

/// Is `dir` a Python component (it holds `app.py`)?
pub fn is_python_component(dir: &Path) -> bool {
    dir.join(APP_FILE).is_file()
}

/// The WIT world a Python component is built for: `actor` when `app.py` exports an actor
/// (a line starting with `@actor`), else `ingress`.
pub fn world(dir: &Path) -> Result<&'static str, String> {
    let app = dir.join(format!("{APP_MODULE}.py"));
    let text =
        fs::read_to_string(&app).map_err(|err| format!("cannot read {}: {err}", app.display()))?;
    let is_actor = text
        .lines()
        .any(|line| line.trim_start().starts_with("@actor"));
    Ok(if is_actor { "actor" } else { "ingress" })
}

/// Install componentize-py into `toolchains/componentize-py-<version>` unless it is there,
/// and return that directory.
pub fn install_componentize_py(toolchains: &Path) -> Result<PathBuf, String> {
    let name = format!("componentize-py-{COMPONENTIZE_PY_VERSION}");
    toolchain::install(toolchains, &name, "componentize_py", |staging| {
        toolchain::run(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-warn-script-location",
                    "--target",
                ])
                .arg(staging)
                .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}")),
            &format!("`python3 -m pip install componentize-py=={COMPONENTIZE_PY_VERSION}`"),
        )
    })
}

/// Build the Python component in `dir` into `out` with the componentize-py in `toolchain`,
/// against the WIT in `wit` and the SDK package directory `sdk` (the one holding `sluice/`).
/// componentize-py's output is returned in the error when it fails.
pub fn componentize(
    toolchain: &Path,
    wit: &Path,
    sdk: &Path,
    dir: &Path,
    out: &Path,
) -> Result<(), String> {
    let world = world(dir)?;
    toolchain::run(
        Command::new("python3")
            // The wheel has no `__main__`; this is what its `componentize-py` script runs.
            .args(["-c", RUN_COMPONENTIZE_PY, "--wit-path"])
            .arg(wit)
            .args([
                "--world",
                world,
                "componentize",
                APP_MODULE,
                "--python-path",
            ])
            .arg(dir)
            .arg("--python-path")
            .arg(sdk)
            .arg("--output")
            .arg(out)
            .env("PYTHONPATH", toolchain)
            // Keep the component's sources free of `__pycache__` written by the build.
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        &format!("componentize-py on {}", dir.display()),
    )
}
