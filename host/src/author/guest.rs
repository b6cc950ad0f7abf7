//! The guest languages besides Rust, and the one place that says how each is detected,
//! installed and built. Std only: the build scripts include this file (with `python`,
//! `javascript` and `toolchain` beside it) to build the examples and test fixtures with the
//! commands `sluice build` runs.

use std::path::{Path, PathBuf};

use super::{javascript, python};

/// A guest language other than Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLanguage {
    Python,
    JavaScript,
}

impl GuestLanguage {
    pub const ALL: [Self; 2] = [Self::Python, Self::JavaScript];

    /// The language of the component directory `dir`, if it is one (it holds the app file).
    pub fn of(dir: &Path) -> Option<Self> {
        Self::ALL.into_iter().find(|language| match language {
            Self::Python => python::is_python_component(dir),
            Self::JavaScript => javascript::is_javascript_component(dir),
        })
    }

    /// The file that makes a directory a component of this language.
    pub fn app_file(self) -> &'static str {
        match self {
            Self::Python => python::APP_FILE,
            Self::JavaScript => javascript::APP_FILE,
        }
    }

    /// The SDK's folder under `guest-sdk/`.
    pub fn sdk_folder(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::JavaScript => "js",
        }
    }

    /// What pins the toolchain: a build made with another must be made again.
    pub fn toolchain_version(self) -> &'static str {
        match self {
            Self::Python => python::COMPONENTIZE_PY_VERSION,
            Self::JavaScript => javascript::PACKAGE_LOCK,
        }
    }

    /// Install the toolchain under `toolchains` once; where it is.
    pub fn install(self, toolchains: &Path) -> Result<PathBuf, String> {
        match self {
            Self::Python => python::install_componentize_py(toolchains),
            Self::JavaScript => javascript::install_componentize_js(toolchains),
        }
    }

    /// Build the component directory `dir` against `wit` and the SDK in `sdk` into `out`.
    pub fn componentize(
        self,
        toolchain: &Path,
        wit: &Path,
        sdk: &Path,
        dir: &Path,
        out: &Path,
    ) -> Result<(), String> {
        match self {
            Self::Python => python::componentize(toolchain, wit, sdk, dir, out),
            Self::JavaScript => javascript::componentize(toolchain, wit, sdk, dir, out),
        }
    }
}
