//! JavaScript components: a directory whose `app.js` exports a handler with the JavaScript
//! SDK (`guest-sdk/js`), bundled with rolldown and made into a component by
//! componentize-js (StarlingMonkey).
//!
//! The toolchain comes from npm at the versions `guest-sdk/js/toolchain/package-lock.json`
//! pins (`npm ci`), into a directory the caller owns. The build disables what the host
//! refuses: componentize-js's `wasi:http` and `fetch-event` features. (Its SpiderMonkey
//! runtime does not use the component-model async ABI.)
//!
//! This file uses only `std`: the build scripts include it (`#[path]`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::toolchain;

/// The module componentize-js builds: `app.js` in the component's directory.
pub const APP_FILE: &str = "app.js";

/// `package.json` and `package-lock.json` of the toolchain.
pub const PACKAGE_JSON: &str = include_str!("../../../guest-sdk/js/toolchain/package.json");
pub const PACKAGE_LOCK: &str = include_str!("../../../guest-sdk/js/toolchain/package-lock.json");

/// The componentize-js release every JavaScript component is built with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// Is `dir` a JavaScript component (it holds `app.js`)?
pub fn is_javascript_component(dir: &Path) -> bool {
    dir.join(APP_FILE).is_file()
}

/// The WIT world a JavaScript component is built for: `actor` when `app.js` exports
/// `actorHandler`, else `ingress`.
pub fn world(dir: &Path) -> Result<&'static str, String> {
    let app = dir.join(APP_FILE);
    let text =
        fs::read_to_string(&app).map_err(|err| format!("cannot read {}: {err}", app.display()))?;
    Ok(if text.contains("export const actorHandler") {
        "actor"
    } else {
        "ingress"
    })
}

/// Install the toolchain into `toolchains/componentize-js-<version>` unless it is there.
pub fn install_componentize_js(toolchains: &Path) -> Result<PathBuf, String> {
    let name = format!("componentize-js-{COMPONENTIZE_JS_VERSION}");
    toolchain::install(
        toolchains,
        &name,
        "node_modules/.bin/componentize-js",
        |staging| {
            for (file, text) in [
                ("package.json", PACKAGE_JSON),
                ("package-lock.json", PACKAGE_LOCK),
            ] {
                fs::write(staging.join(file), text).map_err(|err| {
                    format!("cannot write {}: {err}", staging.join(file).display())
                })?;
            }
            toolchain::run(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(staging),
                "`npm ci` of componentize-js, jco and rolldown",
            )
        },
    )
}

/// Build the JavaScript component in `dir` into `out` with the toolchain in `toolchain`,
/// against the WIT in `wit` and the SDK package directory `sdk` (the one holding `sluice/`).
/// The bundle and its bundler configuration are written beside `out`.
pub fn componentize(
    toolchain: &Path,
    wit: &Path,
    sdk: &Path,
    dir: &Path,
    out: &Path,
) -> Result<(), String> {
    let world = world(dir)?;
    let absolute = |path: &Path| {
        path.canonicalize()
            .map_err(|err| format!("{}: {err}", path.display()))
    };
    let bundle = out.with_extension("bundle.js");
    let config = out.with_extension("rolldown.mjs");
    // The component's imports of `sluice` resolve to the SDK; the host's interfaces stay
    // imports, and an import nothing uses is dropped (an actor's world has no `events`).
    let settings = format!(
        "export default {{\n  input: {input:?},\n  external: [/^sluice:/, /^wasi:/],\n  \
         resolve: {{ alias: {{ sluice: {sdk:?} }} }},\n  \
         treeshake: {{ moduleSideEffects: (id, external) => !external }},\n  \
         platform: 'neutral',\n  output: {{ file: {bundle:?}, format: 'esm' }},\n}};\n",
        input = absolute(&dir.join(APP_FILE))?,
        sdk = absolute(&sdk.join("sluice").join("index.js"))?,
        bundle = bundle,
    );
    fs::write(&config, settings)
        .map_err(|err| format!("cannot write {}: {err}", config.display()))?;
    let modules = toolchain.join("node_modules");
    toolchain::run(
        Command::new("node")
            .arg(modules.join("rolldown/bin/cli.mjs"))
            .arg("--config")
            .arg(&config),
        &format!("bundling {} with rolldown", dir.display()),
    )?;
    toolchain::run(
        Command::new("node")
            .arg(modules.join("@bytecodealliance/componentize-js/src/cli.js"))
            .arg(&bundle)
            .arg("--wit")
            .arg(wit)
            .args([
                "--world-name",
                world,
                "--disable",
                "http",
                "fetch-event",
                "--out",
            ])
            .arg(out),
        &format!("componentize-js on {}", dir.display()),
    )
}
