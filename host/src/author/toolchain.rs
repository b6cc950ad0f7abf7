//! A guest-language toolchain installed once into a directory of its own: filled in a
//! temporary directory, then renamed into place, so an interrupted or concurrent install
//! never leaves a half-filled toolchain behind.
//!
//! This file uses only `std`: the build scripts include it (`#[path]`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `toolchains/<name>`, filled by `fill(staging)` unless `<name>/<marker>` exists.
pub fn install(
    toolchains: &Path,
    name: &str,
    marker: &str,
    fill: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let dir = toolchains.join(name);
    if dir.join(marker).exists() {
        return Ok(dir);
    }
    fs::create_dir_all(toolchains)
        .map_err(|err| format!("cannot create {}: {err}", toolchains.display()))?;
    let staging = toolchains.join(format!(".{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)
        .map_err(|err| format!("cannot create {}: {err}", staging.display()))?;
    if let Err(err) = fill(&staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(err);
    }
    // Another build may have finished first; its copy is as good as this one.
    if fs::rename(&staging, &dir).is_err() {
        let _ = fs::remove_dir_all(&staging);
        if !dir.join(marker).exists() {
            return Err(format!("cannot move {name} into {}", dir.display()));
        }
    }
    Ok(dir)
}

/// Run `command`; its output, and what it was, in the error when it fails.
pub fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {:?} ({what}): {err}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr).trim_end()
    ))
}
