//! `sluice build`: compile a component — a Rust crate, a Python directory (`app.py`) or a
//! JavaScript one (`app.js`) — and install it into a deploy directory.
//!
//! cargo runs in release mode with its own choices of toolchain (the crate's
//! `rust-toolchain.toml`, rustup's default) and target directory (the crate's `target/`, or
//! `CARGO_TARGET_DIR` when set); its output goes straight to the terminal. A Python
//! directory is built by componentize-py (see [`python`]), a JavaScript one by rolldown and
//! componentize-js (see [`javascript`]), their toolchains installed from PyPI or npm into
//! the build cache ([`guest_files::cache_dir`]) the first time, into `<dir>/target/<id>.wasm`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::guest::GuestLanguage;
use super::guest_files;
use crate::deploy::manifest::is_component_id;

/// The target every component is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Why a crate could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0} is not a crate: it has no Cargo.toml")]
    NotACrate(PathBuf),
    #[error("{manifest}: {reason}")]
    Manifest { manifest: PathBuf, reason: String },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(
        "the {TARGET} target is not installed and `rustup target add {TARGET}` did not install it; install it and build again"
    )]
    TargetMissing,
    #[error("building {dir} failed ({status}); cargo's output is above")]
    CargoFailed { dir: PathBuf, status: String },
    #[error("cargo built {dir} but produced no {wasm}")]
    NoWasm { dir: PathBuf, wasm: PathBuf },
    #[error("cannot copy {from} to {to}: {source}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Guest(String),
    #[error("no cache directory for the guest toolchains: set SLUICE_CACHE_DIR or HOME")]
    NoCacheDir,
    #[error("cannot write the SDK into the cache {dir}: {source}")]
    Cache {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// What a component is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Guest(GuestLanguage),
}

/// A component's source directory, as its build describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateInfo {
    pub dir: PathBuf,
    pub language: Language,
    /// The componentId: a crate's package name, a Python directory's name.
    pub component_id: String,
    /// Where the build writes the `.wasm`.
    pub wasm: PathBuf,
}

/// Read `dir/Cargo.toml` through `cargo metadata` (no dependency resolution, no network),
/// or take a directory with `app.py` (`app.js`) as a Python (JavaScript) component named
/// after the directory.
pub fn inspect(dir: &Path) -> Result<CrateInfo, BuildError> {
    if let Some(guest) = GuestLanguage::of(dir) {
        return guest_component(dir, guest);
    }
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::NotACrate(dir.to_owned()));
    }
    let output = run_captured(
        Command::new("cargo")
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(&manifest),
    )?;
    if !output.status.success() {
        return Err(BuildError::Manifest {
            manifest,
            reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).map_err(|err| BuildError::Manifest {
            manifest: manifest.clone(),
            reason: format!("cargo metadata printed no JSON: {err}"),
        })?;
    crate_info(dir, &manifest, &metadata)
        .map_err(|reason| BuildError::Manifest { manifest, reason })
}

/// The package of `manifest` in `cargo metadata` output, and where its `.wasm` lands.
fn crate_info(dir: &Path, manifest: &Path, metadata: &Value) -> Result<CrateInfo, String> {
    let wanted = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_owned());
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| {
            package["manifest_path"]
                .as_str()
                .and_then(|path| Path::new(path).canonicalize().ok())
                .is_some_and(|path| path == wanted)
        })
        .ok_or("it is a workspace manifest, not a package; build each component crate")?;
    let component_id = package["name"].as_str().ok_or("the package has no name")?;
    if !is_component_id(component_id) {
        return Err(format!(
            "package name '{component_id}' is not a valid componentId (letters, digits, '-', '_', '.')"
        ));
    }
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|target| {
            target["crate_types"]
                .as_array()
                .is_some_and(|types| types.iter().any(|kind| kind == "cdylib"))
        })
        .ok_or("it has no `crate-type = [\"cdylib\"]` library, so cargo builds no .wasm")?;
    let lib_name = lib["name"]
        .as_str()
        .ok_or("its library has no name")?
        .replace('-', "_");
    let target_dir = metadata["target_directory"]
        .as_str()
        .ok_or("cargo metadata names no target directory")?;
    Ok(CrateInfo {
        dir: dir.to_owned(),
        language: Language::Rust,
        component_id: component_id.to_owned(),
        wasm: Path::new(target_dir)
            .join(TARGET)
            .join("release")
            .join(format!("{lib_name}.wasm")),
    })
}

fn guest_component(dir: &Path, guest: GuestLanguage) -> Result<CrateInfo, BuildError> {
    let absolute = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let name = absolute
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    if !is_component_id(name) {
        return Err(BuildError::Guest(format!(
            "{}: a {guest:?} component is named after its directory, and '{name}' is not a \
             valid componentId (letters, digits, '-', '_', '.')",
            dir.display()
        )));
    }
    Ok(CrateInfo {
        dir: dir.to_owned(),
        language: Language::Guest(guest),
        component_id: name.to_owned(),
        wasm: dir.join("target").join(format!("{name}.wasm")),
    })
}

/// Build `krate`: a crate in release mode for [`TARGET`], installing the target first
/// when missing; a Python or JavaScript directory with its language's toolchain.
pub fn build(krate: &CrateInfo) -> Result<(), BuildError> {
    if let Language::Guest(guest) = krate.language {
        return build_guest(krate, guest);
    }
    ensure_target(&krate.dir)?;
    let mut cargo = Command::new("cargo");
    cargo
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(krate.dir.join("Cargo.toml"))
        .stdin(Stdio::null());
    let status = cargo.status().map_err(|source| BuildError::Spawn {
        program: "cargo".into(),
        source,
    })?;
    if !status.success() {
        return Err(BuildError::CargoFailed {
            dir: krate.dir.clone(),
            status: status.to_string(),
        });
    }
    if !krate.wasm.is_file() {
        return Err(BuildError::NoWasm {
            dir: krate.dir.clone(),
            wasm: krate.wasm.clone(),
        });
    }
    Ok(())
}

fn build_guest(source: &CrateInfo, guest: GuestLanguage) -> Result<(), BuildError> {
    let cache = guest_files::cache_dir().ok_or(BuildError::NoCacheDir)?;
    let in_cache = |name, files| {
        guest_files::materialize(&cache, name, files).map_err(|source| BuildError::Cache {
            dir: cache.clone(),
            source,
        })
    };
    let wit = in_cache("wit", guest_files::WIT)?;
    let (sdk_name, sdk_files) = guest_files::sdk(guest);
    let sdk = in_cache(sdk_name, sdk_files)?;
    if let Some(parent) = source.wasm.parent() {
        std::fs::create_dir_all(parent).map_err(|err| {
            BuildError::Guest(format!("cannot create {}: {err}", parent.display()))
        })?;
    }
    guest
        .install(&cache)
        .and_then(|toolchain| guest.componentize(&toolchain, &wit, &sdk, &source.dir, &source.wasm))
        .map_err(BuildError::Guest)
}

/// Is the target's standard library in the toolchain that builds in `dir`? If not, add it
/// with rustup.
fn ensure_target(dir: &Path) -> Result<(), BuildError> {
    let installed = || -> Result<bool, BuildError> {
        let output = run_captured(
            Command::new("rustc")
                .args(["--print", "sysroot"])
                .current_dir(dir),
        )?;
        let sysroot = String::from_utf8_lossy(&output.stdout);
        Ok(Path::new(sysroot.trim())
            .join("lib/rustlib")
            .join(TARGET)
            .join("lib")
            .is_dir())
    };
    if installed()? {
        return Ok(());
    }
    tracing::info!("the {TARGET} target is missing; running `rustup target add {TARGET}`");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(dir)
        .stdin(Stdio::null())
        .status();
    match added {
        Ok(status) if status.success() && installed()? => Ok(()),
        _ => Err(BuildError::TargetMissing),
    }
}

fn run_captured(command: &mut Command) -> Result<std::process::Output, BuildError> {
    command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: command.get_program().to_string_lossy().into_owned(),
            source,
        })
}

/// What [`install`] did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// Copied to this path (a `.wasm` is always replaced).
    Copied(PathBuf),
    /// An ingress or actor file of that name was there already and is kept as it is: the
    /// deploy directory's copy is the operator's.
    Kept(PathBuf),
}

/// Copy the built `.wasm` to `deploy/components/<componentId>.wasm`, and the crate's
/// `deploy/ingresses/*.yaml` and `deploy/actors/*.yaml` (as `sluice new` writes them) to
/// the same places in `deploy` unless a file of that name is there.
pub fn install(krate: &CrateInfo, deploy: &Path) -> Result<Vec<Installed>, BuildError> {
    let mut done = Vec::new();
    let wasm = deploy
        .join("components")
        .join(format!("{}.wasm", krate.component_id));
    copy(&krate.wasm, &wasm)?;
    done.push(Installed::Copied(wasm));
    for folder in ["ingresses", "actors"] {
        let Ok(entries) = std::fs::read_dir(krate.dir.join("deploy").join(folder)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .is_some_and(|ext| ext == "yaml" || ext == "yml")
            })
            .collect();
        files.sort();
        for file in files {
            let Some(name) = file.file_name() else {
                continue;
            };
            let to = deploy.join(folder).join(name);
            if to.exists() {
                done.push(Installed::Kept(to));
            } else {
                copy(&file, &to)?;
                done.push(Installed::Copied(to));
            }
        }
    }
    Ok(done)
}

fn copy(from: &Path, to: &Path) -> Result<(), BuildError> {
    let failed = |source| BuildError::Copy {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    // Through a temporary file and a rename, so a server watching the directory never
    // reads half a component.
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial).map_err(failed)?;
    std::fs::rename(&partial, to).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(manifest: &Path, crate_types: Value) -> Value {
        json!({
            "packages": [{
                "name": "my-thing",
                "manifest_path": manifest,
                "targets": [{"name": "my_thing", "crate_types": crate_types}],
            }],
            "target_directory": "/t",
        })
    }

    #[test]
    fn the_wasm_is_the_cdylib_in_the_release_folder_of_the_target() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "").expect("manifest");
        let info = crate_info(
            dir.path(),
            &manifest,
            &metadata(&manifest, json!(["cdylib"])),
        )
        .expect("info");
        assert_eq!(info.component_id, "my-thing");
        assert_eq!(
            info.wasm,
            Path::new("/t/wasm32-wasip2/release/my_thing.wasm")
        );
    }

    #[test]
    fn a_crate_without_a_cdylib_or_package_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "").expect("manifest");
        let err = crate_info(dir.path(), &manifest, &metadata(&manifest, json!(["lib"])))
            .expect_err("no cdylib");
        assert!(err.contains("crate-type = [\"cdylib\"]"), "{err}");
        let other = dir.path().join("other/Cargo.toml");
        let err = crate_info(dir.path(), &manifest, &metadata(&other, json!(["cdylib"])))
            .expect_err("virtual manifest");
        assert!(err.contains("workspace manifest"), "{err}");
    }

    #[test]
    fn install_replaces_the_wasm_and_keeps_existing_deploy_files() {
        let krate = tempfile::tempdir().expect("crate");
        let deploy = tempfile::tempdir().expect("deploy");
        let wasm = krate.path().join("out.wasm");
        std::fs::write(&wasm, "new wasm").expect("wasm");
        std::fs::create_dir_all(krate.path().join("deploy/ingresses")).expect("dir");
        std::fs::write(krate.path().join("deploy/ingresses/a.yaml"), "from crate").expect("a");
        std::fs::write(krate.path().join("deploy/ingresses/b.yaml"), "from crate").expect("b");
        std::fs::create_dir_all(deploy.path().join("ingresses")).expect("dir");
        std::fs::write(deploy.path().join("ingresses/b.yaml"), "operator's").expect("b");
        let info = CrateInfo {
            dir: krate.path().to_owned(),
            language: Language::Rust,
            component_id: "a".into(),
            wasm,
        };
        let done = install(&info, deploy.path()).expect("installed");
        assert_eq!(
            done,
            [
                Installed::Copied(deploy.path().join("components/a.wasm")),
                Installed::Copied(deploy.path().join("ingresses/a.yaml")),
                Installed::Kept(deploy.path().join("ingresses/b.yaml")),
            ]
        );
        let read = |path: &str| std::fs::read_to_string(deploy.path().join(path)).expect(path);
        assert_eq!(read("components/a.wasm"), "new wasm");
        assert_eq!(read("ingresses/a.yaml"), "from crate");
        assert_eq!(read("ingresses/b.yaml"), "operator's");
    }
}
