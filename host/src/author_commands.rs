//! The commands for component authors, `sluice new`, `sluice build` and `sluice check`: the
//! binary's side (arguments in, lines out); the work is in `sluice::author` and
//! `sluice::deploy::check`.

use std::path::{Path, PathBuf};

use sluice::author::build::{self, Installed};
use sluice::author::scaffold;
use sluice::author::template::{Kind, SdkDependency};

/// `sluice new NAME --kind KIND --dir DIR [--sdk-path PATH]`.
pub fn new(name: &str, kind: Kind, dir: &Path, sdk_path: Option<&Path>) -> anyhow::Result<()> {
    let sdk = scaffold::sdk_dependency(sdk_path)?;
    let created = scaffold::create(name, kind, dir, sdk)?;
    println!("created {} ({kind} component):", created.dir.display());
    for file in &created.files {
        println!("  {file}");
    }
    match &created.sdk {
        SdkDependency::Path(path) => println!("guest SDK: {path}"),
        SdkDependency::Version(version) => {
            println!("guest SDK: sluice-sdk {version} from the registry")
        }
    }
    println!(
        "next: sluice build {} --deploy DEPLOY_DIR",
        created.dir.display()
    );
    Ok(())
}

/// `sluice build [CRATE…] [--deploy DIR]`: every crate, in order; the first failure stops.
pub fn build(crates: &[PathBuf], deploy: Option<&Path>) -> anyhow::Result<()> {
    let here = [PathBuf::from(".")];
    let crates = if crates.is_empty() { &here[..] } else { crates };
    for dir in crates {
        let krate = build::inspect(dir)?;
        eprintln!("building {} ({})", krate.component_id, dir.display());
        build::build(&krate)?;
        let Some(deploy) = deploy else {
            println!("built {}", krate.wasm.display());
            continue;
        };
        for done in build::install(&krate, deploy)? {
            match done {
                Installed::Copied(path) => println!("copied {}", path.display()),
                Installed::Kept(path) => {
                    println!("kept {} (it exists; edit it there)", path.display())
                }
            }
        }
    }
    Ok(())
}

/// `sluice check DIR`: one line per problem, `file: reason`, and a failure when there is any.
pub async fn check(dir: &Path) -> anyhow::Result<()> {
    let checked = sluice::deploy::check(dir).await;
    for note in &checked.notes {
        println!("note: {note}");
    }
    for problem in &checked.problems {
        println!("{problem}");
    }
    if !checked.problems.is_empty() {
        // The lines above are the report; exit 1 without an error trace on top of them.
        eprintln!("{} problem(s) in {}", checked.problems.len(), dir.display());
        std::process::exit(1);
    }
    let edges = match &checked.edges {
        Some(edges) => format!("{} edge(s) [{}]", edges.len(), edges.join(", ")),
        None => "edges not checked".into(),
    };
    println!(
        "ok: {}: {} ingress(es) [{}], {} actor type(s) [{}], {edges}",
        dir.display(),
        checked.ingresses.len(),
        checked.ingresses.join(", "),
        checked.actor_types.len(),
        checked.actor_types.join(", "),
    );
    Ok(())
}
