//! `sluice new`: write a new component crate from the templates.

use std::path::{Path, PathBuf};

use super::template::{self, Kind, SdkDependency, TemplateError};

/// Why `sluice new` made nothing.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("{0}")]
    InvalidName(String),
    #[error("{0} already exists; choose another name or --dir (nothing was written)")]
    Exists(PathBuf),
    #[error("the SDK path {0} is not UTF-8")]
    NonUtf8Path(PathBuf),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What `sluice new` wrote.
#[derive(Debug)]
pub struct Created {
    /// The crate's directory.
    pub dir: PathBuf,
    /// Every file written, relative to `dir`.
    pub files: Vec<String>,
    pub sdk: SdkDependency,
}

/// The guest SDK next to the host's sources, when this binary was built from a checkout
/// that is still there.
pub fn bundled_sdk_path() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    path.join("Cargo.toml")
        .is_file()
        .then(|| path.canonicalize().ok())
        .flatten()
}

/// The SDK dependency for a new crate: `sdk_path` when given, else this checkout's
/// `guest-sdk/`, else the SDK of this binary's version from the registry.
pub fn sdk_dependency(sdk_path: Option<&Path>) -> Result<SdkDependency, NewError> {
    let path = match sdk_path {
        Some(path) => Some(std::path::absolute(path).unwrap_or_else(|_| path.to_owned())),
        None => bundled_sdk_path(),
    };
    match path {
        Some(path) => path
            .to_str()
            .map(|text| SdkDependency::Path(text.to_owned()))
            .ok_or(NewError::NonUtf8Path(path)),
        None => Ok(SdkDependency::Version(env!("CARGO_PKG_VERSION").to_owned())),
    }
}

/// Create crate `parent/name` of `kind`. Refuses a name that is not usable and a directory
/// that exists; on a write error the partly written directory is removed.
pub fn create(
    name: &str,
    kind: Kind,
    parent: &Path,
    sdk: SdkDependency,
) -> Result<Created, NewError> {
    template::validate_name(name).map_err(NewError::InvalidName)?;
    let files = template::crate_files(name, kind, &sdk)?;
    let dir = parent.join(name);
    if dir.symlink_metadata().is_ok() {
        return Err(NewError::Exists(dir));
    }
    let written = write_all(&dir, &files);
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    written?;
    Ok(Created {
        dir,
        files: files.into_iter().map(|file| file.path).collect(),
        sdk,
    })
}

fn write_all(dir: &Path, files: &[template::File]) -> Result<(), NewError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| NewError::Write { path, source }
    };
    std::fs::create_dir_all(parent_of(dir)).map_err(io(parent_of(dir)))?;
    // create_dir, not create_dir_all: a directory made meanwhile is not overwritten.
    std::fs::create_dir(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => NewError::Exists(dir.to_owned()),
        _ => NewError::Write {
            path: dir.to_owned(),
            source,
        },
    })?;
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, &file.text).map_err(io(&path))?;
    }
    Ok(())
}

fn parent_of(dir: &Path) -> &Path {
    dir.parent().unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_every_file_and_refuses_to_overwrite() {
        let parent = tempfile::tempdir().expect("temp dir");
        let sdk = SdkDependency::Version("0.1.0".into());
        let created = create("ticker", Kind::Sse, parent.path(), sdk.clone()).expect("created");
        assert_eq!(created.dir, parent.path().join("ticker"));
        for file in &created.files {
            assert!(created.dir.join(file).is_file(), "{file}");
        }
        let lib = std::fs::read_to_string(created.dir.join("src/lib.rs")).expect("lib.rs");
        assert!(lib.contains("format!(\"ticker/{channel}\")"), "{lib}");

        std::fs::write(created.dir.join("src/lib.rs"), "mine").expect("edit");
        let err = create("ticker", Kind::Json, parent.path(), sdk.clone()).expect_err("exists");
        assert!(matches!(err, NewError::Exists(_)), "{err}");
        assert!(err.to_string().contains("already exists"), "{err}");
        let kept = std::fs::read_to_string(created.dir.join("src/lib.rs")).expect("lib.rs");
        assert_eq!(kept, "mine");
    }

    #[test]
    fn a_bad_name_writes_nothing() {
        let parent = tempfile::tempdir().expect("temp dir");
        let sdk = SdkDependency::Version("0.1.0".into());
        let err = create("../escape", Kind::Json, parent.path(), sdk).expect_err("bad name");
        assert!(
            err.to_string().contains("not a usable component name"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(parent.path()).expect("dir").count(), 0);
    }

    #[test]
    fn the_sdk_is_this_checkouts_guest_sdk_unless_overridden() {
        let bundled = bundled_sdk_path().expect("tests run in a checkout");
        assert!(bundled.join("src/lib.rs").is_file());
        assert_eq!(
            sdk_dependency(None).expect("sdk"),
            SdkDependency::Path(bundled.to_str().expect("utf-8").to_owned())
        );
        let chosen = sdk_dependency(Some(Path::new("/opt/sluice/guest-sdk"))).expect("sdk");
        assert_eq!(chosen, SdkDependency::Path("/opt/sluice/guest-sdk".into()));
    }
}
