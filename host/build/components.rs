//! The nested wasm build shared by `host/build.rs` (the demo's components) and
//! `tests/build.rs` (the test fixtures), included by both with `#[path]`.
//!
//! [`build_workspace`]:
//! 1. reads the members of a components workspace (`<dir>/Cargo.toml`). Every directory
//!    under `<dir>` with a `Cargo.toml` must be a member, and every member's package name is
//!    its componentId; anything unclassified fails the build;
//! 2. runs a nested `cargo build --release --target wasm32-wasip2` on that workspace, with
//!    its own target directory (`target/wasm32-components`, so it never waits on the outer
//!    build's lock), without the outer build's flags, wrappers and jobserver, and on the
//!    toolchain `rust-toolchain.toml` pins even when the outer build uses another (a nightly,
//!    for `cargo fuzz`);
//! 3. copies each `.wasm` into `$OUT_DIR/components/<componentId>.wasm` and returns them,
//!    sorted by componentId.

use std::collections::BTreeSet;
use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const TARGET: &str = "wasm32-wasip2";

/// Build every member of the components workspace in `components_dir` (see the module
/// doc); `hint` says, in the failure for an unlisted directory, what a member needs.
pub fn build_workspace(root: &Path, components_dir: &Path, hint: &str) -> Vec<(String, PathBuf)> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let members = workspace_members(components_dir, hint);
    watch(root, components_dir, &members);
    let components: Vec<Component> = members
        .iter()
        .map(|member| Component::read(components_dir, member))
        .collect();

    ensure_target_installed(root);
    let target_dir = root.join("target").join("wasm32-components");
    build_components(root, &components_dir.join("Cargo.toml"), &target_dir);

    let wasm_out = out_dir.join("components");
    fs::create_dir_all(&wasm_out)
        .unwrap_or_else(|err| fail(format!("cannot create {}: {err}", wasm_out.display())));
    let mut built: Vec<(String, PathBuf)> = components
        .iter()
        .map(|component| {
            let wasm = target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{}.wasm", component.artifact));
            if !wasm.is_file() {
                fail(format!(
                    "component '{}' ({}) produced no {}: is it a `crate-type = [\"cdylib\"]` crate?",
                    component.id,
                    component.dir.display(),
                    wasm.display()
                ));
            }
            let copy = wasm_out.join(format!("{}.wasm", component.id));
            fs::copy(&wasm, &copy).unwrap_or_else(|err| {
                fail(format!("cannot copy {} to {}: {err}", wasm.display(), copy.display()))
            });
            (component.id.clone(), copy)
        })
        .collect();
    built.sort();
    built
}

/// One member of the components workspace.
struct Component {
    /// The package name: the componentId.
    id: String,
    /// The file stem of the built `.wasm` (the lib name).
    artifact: String,
    dir: PathBuf,
}

impl Component {
    fn read(components_dir: &Path, member: &str) -> Self {
        let dir = components_dir.join(member);
        let manifest = dir.join("Cargo.toml");
        let text = fs::read_to_string(&manifest).unwrap_or_else(|err| {
            fail(format!(
                "{} lists member '{member}', but {} cannot be read: {err}",
                components_dir.join("Cargo.toml").display(),
                manifest.display()
            ))
        });
        let text = parse_manifest(&text, &manifest);
        let id = toml_string(&text, "package", "name")
            .unwrap_or_else(|| fail(format!("{} has no [package] name", manifest.display())));
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            fail(format!(
                "{}: package name '{id}' is not a valid componentId (letters, digits, '-', '_', '.')",
                manifest.display()
            ));
        }
        let artifact = toml_string(&text, "lib", "name").unwrap_or_else(|| id.replace('-', "_"));
        Self { id, artifact, dir }
    }
}

/// The `members` of `[workspace]` in `<components_dir>/Cargo.toml`, checked against the
/// directories that hold a `Cargo.toml`: an unlisted one fails the build, with `hint`.
fn workspace_members(components_dir: &Path, hint: &str) -> Vec<String> {
    let manifest = components_dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .unwrap_or_else(|err| fail(format!("cannot read {}: {err}", manifest.display())));
    let text = parse_manifest(&text, &manifest);
    let members = toml_string_array(&text, "workspace", "members").unwrap_or_else(|| {
        fail(format!(
            "{} has no [workspace] members = [...]",
            manifest.display()
        ))
    });
    for member in &members {
        if member.contains(['*', '?', '[']) {
            fail(format!(
                "{}: member '{member}' is a glob; list every component by name so each one is classified",
                manifest.display()
            ));
        }
    }
    let listed: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let entries = fs::read_dir(components_dir)
        .unwrap_or_else(|err| fail(format!("cannot read {}: {err}", components_dir.display())));
    for entry in entries {
        let entry = entry
            .unwrap_or_else(|err| fail(format!("cannot read {}: {err}", components_dir.display())));
        let path = entry.path();
        if !path.is_dir() || !path.join("Cargo.toml").is_file() {
            continue;
        }
        let name = entry.file_name();
        let name = name
            .to_str()
            .unwrap_or_else(|| fail(format!("{} is not a UTF-8 name", path.display())));
        if !listed.contains(name) {
            fail(format!(
                "{}/{name} has a Cargo.toml but is not a member of its Cargo.toml; \
                 add \"{name}\" to [workspace] members ({hint}), or remove the directory",
                components_dir.display()
            ));
        }
    }
    members
}

/// `cargo:rerun-if-changed` for everything the nested build reads. The components
/// workspace's own `target/` is not watched.
fn watch(root: &Path, components_dir: &Path, members: &[String]) {
    let mut paths = vec![
        components_dir.join("Cargo.toml"),
        components_dir.join("Cargo.lock"),
        root.join("guest-sdk").join("src"),
        root.join("guest-sdk").join("Cargo.toml"),
        root.join("wit"),
    ];
    paths.extend(members.iter().map(|member| components_dir.join(member)));
    for path in paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// A command for `program` (`cargo`, `rustc`, `rustup`) on the toolchain that builds the
/// components: the one `rust-toolchain.toml` pins, which lists wasm32-wasip2.
///
/// The host itself may be built by another toolchain (`cargo +nightly fuzz` uses a nightly,
/// whose wasm32-wasip2 standard library may not even exist). Under rustup, its proxies pick the
/// pinned toolchain from the file when run in the workspace without the outer build's choice
/// (`RUSTUP_TOOLCHAIN`, and `RUSTC` pointing into that toolchain). Without rustup, the outer
/// build's own program (named by the variable `outer`: `CARGO`, `RUSTC`) is used.
fn pinned_toolchain(program: &str, outer: Option<&str>, root: &Path) -> Command {
    if env::var_os("RUSTUP_TOOLCHAIN").is_none() {
        let outer = outer.and_then(env::var_os);
        return Command::new(outer.unwrap_or_else(|| program.into()));
    }
    let mut command = Command::new(program);
    command
        .current_dir(root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTUP_TOOLCHAIN_SOURCE")
        .env_remove("RUSTC");
    command
}

/// Install the wasm32-wasip2 standard library with rustup when it is missing (once).
fn ensure_target_installed(root: &Path) {
    let installed = || {
        let output = pinned_toolchain("rustc", Some("RUSTC"), root)
            .args(["--print", "sysroot"])
            .output()
            .ok()?;
        let sysroot = String::from_utf8(output.stdout).ok()?;
        Some(
            Path::new(sysroot.trim())
                .join("lib/rustlib")
                .join(TARGET)
                .join("lib")
                .is_dir(),
        )
    };
    if installed() != Some(false) {
        return;
    }
    println!("cargo:warning=the {TARGET} target is missing; running `rustup target add {TARGET}`");
    let added = pinned_toolchain("rustup", None, root)
        .args(["target", "add", TARGET])
        .stdout(Stdio::null())
        .status();
    if !matches!(added, Ok(status) if status.success()) || installed() != Some(true) {
        fail(format!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` did not install it; \
             install it (it is listed in rust-toolchain.toml) and build again"
        ));
    }
}

/// The nested build, with a clean environment.
fn build_components(root: &Path, manifest: &Path, target_dir: &Path) {
    let mut command = pinned_toolchain("cargo", Some("CARGO"), root);
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(jobs) = env::var_os("NUM_JOBS") {
        command.arg("--jobs").arg(jobs);
    }
    for (key, _) in env::vars_os() {
        if key.to_str().is_some_and(is_outer_build_variable) {
            command.env_remove(&key);
        }
    }
    let status = command
        .status()
        .unwrap_or_else(|err| fail(format!("cannot run cargo for the components: {err}")));
    if !status.success() {
        fail(format!(
            "building the components failed ({status}); see the cargo output above, or run \
             `cargo build --release --target {TARGET}` in {}",
            manifest.parent().unwrap_or(manifest).display()
        ));
    }
}

/// Variables the outer build sets for this build script (or for the host target) that
/// would break, slow down or redirect the nested wasm build.
fn is_outer_build_variable(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "OUT_DIR",
        "NUM_JOBS",
        "RUSTDOC",
        "RUSTC_LINKER",
    ];
    const PREFIXES: &[&str] = &["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "DEP_"];
    EXACT.contains(&key) || PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

pub fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| fail(format!("{} is not a UTF-8 path", path.display())))
}

/// A Cargo manifest, parsed; a file that is not TOML fails the build naming it.
fn parse_manifest(text: &str, manifest: &Path) -> toml::Table {
    text.parse()
        .unwrap_or_else(|err| fail(format!("{} is not valid TOML: {err}", manifest.display())))
}

/// The string value of `key` in table `[table]`.
fn toml_string(manifest: &toml::Table, table: &str, key: &str) -> Option<String> {
    manifest.get(table)?.get(key)?.as_str().map(str::to_owned)
}

/// The string array value of `key` in table `[table]`; `None` if any item is not a string.
fn toml_string_array(manifest: &toml::Table, table: &str, key: &str) -> Option<Vec<String>> {
    manifest
        .get(table)?
        .get(key)?
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

pub fn fail(message: impl AsRef<OsStr>) -> ! {
    panic!(
        "\n\nbuild script of {}: {}\n",
        env::var("CARGO_PKG_NAME").unwrap_or_default(),
        message.as_ref().to_string_lossy()
    );
}
