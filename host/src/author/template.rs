//! The files `sluice new` writes, rendered from the templates in `host/templates/`: pure
//! functions, values in and text out.
//!
//! A template holds `{{key}}` placeholders; [`render`] fills every one and refuses a key it
//! was not given, so a typo in a template fails its test instead of reaching an author.

use std::fmt;

/// What kind of component `sluice new` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A stream component: follows a bus topic and yields each event (like `order-events`).
    Sse,
    /// Answers one value from a route parameter (like `hello`).
    Json,
    /// An actor type with state and messages (like `sku-actor`, minimal).
    Actor,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Sse, Kind::Json, Kind::Actor];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Sse => "sse",
            Kind::Json => "json",
            Kind::Actor => "actor",
        }
    }

    fn lib_rs(self) -> &'static str {
        match self {
            Kind::Sse => include_str!("../../templates/sse/lib.rs.tmpl"),
            Kind::Json => include_str!("../../templates/json/lib.rs.tmpl"),
            Kind::Actor => include_str!("../../templates/actor/lib.rs.tmpl"),
        }
    }

    fn readme(self) -> &'static str {
        match self {
            Kind::Sse => include_str!("../../templates/sse/README.md.tmpl"),
            Kind::Json => include_str!("../../templates/json/README.md.tmpl"),
            Kind::Actor => include_str!("../../templates/actor/README.md.tmpl"),
        }
    }

    /// The deploy file and where it goes, relative to a deploy directory.
    fn deploy_file(self, name: &str) -> (String, &'static str) {
        match self {
            Kind::Sse => (
                format!("ingresses/{name}.yaml"),
                include_str!("../../templates/sse/ingress.yaml.tmpl"),
            ),
            Kind::Json => (
                format!("ingresses/{name}.yaml"),
                include_str!("../../templates/json/ingress.yaml.tmpl"),
            ),
            Kind::Actor => (
                format!("actors/{name}.yaml"),
                include_str!("../../templates/actor/actor.yaml.tmpl"),
            ),
        }
    }

    /// Dependencies beyond the SDK.
    fn extra_dependencies(self) -> &'static str {
        match self {
            // The state derives `Serialize` and `Deserialize`.
            Kind::Actor => "serde = { version = \"1\", features = [\"derive\"] }\n",
            Kind::Sse | Kind::Json => "",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| format!("unknown kind '{text}' (expected sse, json or actor)"))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the new crate depends on the guest SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkDependency {
    /// `sluice-sdk = { path = "…" }`: a checkout of this repository's `guest-sdk/`.
    Path(String),
    /// `sluice-sdk = "<version>"`.
    Version(String),
}

impl SdkDependency {
    /// The dependency line for `Cargo.toml`.
    fn line(&self) -> String {
        // A JSON string is a valid TOML basic string: the same escapes, `\uXXXX` included.
        match self {
            SdkDependency::Path(path) => {
                format!(
                    "sluice-sdk = {{ path = {} }}\n",
                    serde_json::Value::from(path.as_str())
                )
            }
            SdkDependency::Version(version) => {
                format!(
                    "sluice-sdk = {}\n",
                    serde_json::Value::from(version.as_str())
                )
            }
        }
    }
}

/// One file of a new component crate: its path relative to the crate and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub text: String,
}

/// Every file of a new crate named `name`: `Cargo.toml`, `src/lib.rs`, `README.md`, and its
/// ingress (or actor) file under `deploy/`, laid out as in a deploy directory. `name` must
/// have passed [`validate_name`].
pub fn crate_files(
    name: &str,
    kind: Kind,
    sdk: &SdkDependency,
) -> Result<Vec<File>, TemplateError> {
    let dependencies = format!("{}{}", sdk.line(), kind.extra_dependencies());
    let vars: &[(&str, &str)] = &[("name", name), ("dependencies", &dependencies)];
    let (deploy_path, deploy_template) = kind.deploy_file(name);
    Ok(vec![
        File {
            path: "Cargo.toml".into(),
            text: render(include_str!("../../templates/Cargo.toml.tmpl"), vars)?,
        },
        File {
            path: "src/lib.rs".into(),
            text: render(kind.lib_rs(), vars)?,
        },
        File {
            path: "README.md".into(),
            text: render(kind.readme(), vars)?,
        },
        File {
            path: format!("deploy/{deploy_path}"),
            text: render(deploy_template, vars)?,
        },
    ])
}

/// A template that cannot be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template placeholder '{{{{{0}}}}}' has no value")]
    UnknownKey(String),
    #[error("template has a '{{{{' without its '}}}}' at byte {0}")]
    Unclosed(usize),
}

/// Replace every `{{key}}` in `template` with its value from `vars`. Single braces are text
/// (Rust's `format!("{x}")`, route templates `{id}`).
pub fn render(template: &str, vars: &[(&str, &str)]) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or(TemplateError::Unclosed(template.len() - rest.len() + open))?;
        let key = &after[..close];
        let value = vars
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
            .ok_or_else(|| TemplateError::UnknownKey(key.to_owned()))?;
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Names Cargo refuses for a package, or that would shadow a crate every component uses.
const RESERVED: &[&str] = &[
    "std",
    "core",
    "alloc",
    "proc_macro",
    "proc-macro",
    "test",
    "build",
    "deps",
    "examples",
    "incremental",
    "sluice-sdk",
    "sluice_sdk",
    "serde",
    "con",
    "prn",
    "aux",
    "nul",
];

/// Rust's keywords: Cargo refuses them as package names.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// Longest name accepted; it is also a route segment, a topic segment and a file name.
pub const MAX_NAME_LEN: usize = 64;

/// Check a component name: a valid crate name, componentId, actor type, route and topic
/// segment at once: a lowercase ASCII letter, then lowercase letters, digits, `-` or `_`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let invalid = |reason: &str| Err(format!("'{name}' is not a usable component name: {reason}"));
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("it is longer than 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("it must start with a lowercase letter (a-z)");
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'))
    {
        return invalid(&format!(
            "{c:?} is not allowed (use lowercase letters, digits, '-' and '_')"
        ));
    }
    if name.ends_with(['-', '_']) {
        return invalid("it must not end with '-' or '_'");
    }
    if KEYWORDS.contains(&name) {
        return invalid("it is a Rust keyword");
    }
    if RESERVED.contains(&name) {
        return invalid("Cargo reserves it or a component already depends on a crate of that name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_every_placeholder_and_keeps_single_braces() {
        let text = render(
            "a {{name}} b {x} {{name}}{{n2}}",
            &[("name", "hi"), ("n2", "")],
        );
        assert_eq!(text.as_deref(), Ok("a hi b {x} hi"));
        assert_eq!(render("", &[]).as_deref(), Ok(""));
        assert_eq!(
            render("no placeholders }}", &[]).as_deref(),
            Ok("no placeholders }}")
        );
    }

    #[test]
    fn render_refuses_unknown_and_unclosed_placeholders() {
        assert_eq!(
            render("x {{nmae}}", &[("name", "a")]),
            Err(TemplateError::UnknownKey("nmae".into()))
        );
        assert_eq!(
            render("abc {{name", &[("name", "a")]),
            Err(TemplateError::Unclosed(4))
        );
        assert_eq!(
            render("{{name}} {{", &[("name", "a")]),
            Err(TemplateError::Unclosed(9))
        );
    }

    #[test]
    fn a_value_is_never_rendered_again() {
        assert_eq!(
            render("{{a}}", &[("a", "{{b}}"), ("b", "no")]).as_deref(),
            Ok("{{b}}")
        );
    }

    #[test]
    fn every_kind_renders_all_its_templates() {
        let sdk = SdkDependency::Version("0.1.0".into());
        for kind in Kind::ALL {
            let files = crate_files("my-thing", kind, &sdk).expect("renders");
            let paths: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
            let deploy = match kind {
                Kind::Actor => "deploy/actors/my-thing.yaml",
                Kind::Sse | Kind::Json => "deploy/ingresses/my-thing.yaml",
            };
            assert_eq!(
                paths,
                ["Cargo.toml", "src/lib.rs", "README.md", deploy],
                "{kind}"
            );
            for file in &files {
                assert!(
                    !file.text.contains("{{"),
                    "{kind} {}: {}",
                    file.path,
                    file.text
                );
                assert!(file.text.contains("my-thing"), "{kind} {}", file.path);
            }
        }
    }

    #[test]
    fn the_manifest_is_a_cdylib_outside_any_workspace_with_the_sdk() {
        let sdk = SdkDependency::Path("/src/sluice/guest-sdk".into());
        let files = crate_files("ticker", Kind::Actor, &sdk).expect("renders");
        let manifest = &files[0].text;
        assert!(manifest.contains("name = \"ticker\"\n"), "{manifest}");
        assert!(manifest.contains("crate-type = [\"cdylib\"]"), "{manifest}");
        assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
        assert!(
            manifest.contains("sluice-sdk = { path = \"/src/sluice/guest-sdk\" }\n"),
            "{manifest}"
        );
        assert!(manifest.contains("serde = { version = \"1\""), "{manifest}");
        let json = crate_files(
            "ticker",
            Kind::Json,
            &SdkDependency::Version("0.1.0".into()),
        )
        .expect("renders");
        assert!(
            json[0].text.contains("sluice-sdk = \"0.1.0\"\n"),
            "{}",
            json[0].text
        );
        assert!(!json[0].text.contains("serde ="), "{}", json[0].text);
    }

    #[test]
    fn sdk_paths_are_escaped_as_toml_strings() {
        let line = SdkDependency::Path(r#"C:\sdk "x""#.into()).line();
        assert_eq!(line, "sluice-sdk = { path = \"C:\\\\sdk \\\"x\\\"\" }\n");
    }

    #[test]
    fn the_deploy_files_parse_with_the_hosts_own_parsers() {
        let sdk = SdkDependency::Version("0.1.0".into());
        for kind in Kind::ALL {
            for name in ["a", "true", "null", "order-events", "x_1"] {
                let files = crate_files(name, kind, &sdk).expect("renders");
                let yaml = &files[3].text;
                if kind == Kind::Actor {
                    let spec = crate::deploy::actors::ActorSpec::parse(yaml).expect(yaml);
                    assert_eq!(
                        (spec.actor_type.as_str(), spec.component_id.as_str()),
                        (name, name)
                    );
                } else {
                    let spec = crate::deploy::IngressSpec::parse(yaml).expect(yaml);
                    assert_eq!(spec.component_id, name);
                    assert_eq!(spec.id, format!("api/{name}"));
                    let mut routes = crate::route::RouteTable::new();
                    routes
                        .insert(spec.method, &spec.route, ())
                        .unwrap_or_else(|err| panic!("{kind} {name}: {err}"));
                }
            }
        }
    }

    #[test]
    fn kinds_parse_from_their_names_only() {
        for kind in Kind::ALL {
            assert_eq!(kind.name().parse(), Ok(kind));
        }
        let err = "stream".parse::<Kind>().expect_err("unknown");
        assert!(err.contains("expected sse, json or actor"), "{err}");
    }

    #[test]
    fn accepts_names_that_are_crate_names_and_component_ids() {
        for name in [
            "a",
            "hello",
            "order-events",
            "sku_actor2",
            "x-1-y",
            &"a".repeat(64),
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_other_names_with_the_reason() {
        for (name, reason) in [
            ("", "empty"),
            (&"a".repeat(65), "longer than 64"),
            ("1abc", "start with a lowercase letter"),
            ("-abc", "start with a lowercase letter"),
            ("Hello", "start with a lowercase letter"),
            ("heLLo", "'L' is not allowed"),
            ("a.b", "'.' is not allowed"),
            ("a/b", "'/' is not allowed"),
            ("../x", "start with a lowercase letter"),
            ("a b", "' ' is not allowed"),
            ("caf\u{e9}", "'\u{e9}' is not allowed"),
            ("a-", "must not end"),
            ("a_", "must not end"),
            ("fn", "Rust keyword"),
            ("self", "Rust keyword"),
            ("test", "Cargo reserves"),
            ("std", "Cargo reserves"),
            ("sluice-sdk", "Cargo reserves"),
        ] {
            let err = validate_name(name).expect_err(name);
            assert!(err.contains(reason), "{name:?}: {err}");
            assert!(err.contains("is not a usable component name"), "{err}");
        }
    }
}
