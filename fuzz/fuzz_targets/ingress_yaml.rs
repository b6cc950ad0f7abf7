//! Deploy-directory YAML: the input is parsed as an ingress file, an actor file and
//! `sluice.yaml`.
//!
//! - An accepted ingress has a non-empty id, a componentId that is a safe file stem, one of
//!   the five methods, and a route that the route table either refuses with a reason or
//!   serves (a concrete path finds it).
//! - An accepted actor file names a type of letters, digits, `-` and `_`, and a componentId
//!   that is a file stem like an ingress's.
//! - An accepted host config yields usable settings (no panic on any derived value).
//! - Errors are reported, never panics, whatever the nesting, aliases or types.

#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use sluice::config::HostConfig;
use sluice::deploy::IngressSpec;
use sluice::deploy::actors::ActorSpec;
use sluice_fuzz::check_template;

fuzz_target!(|data: &[u8]| {
    // The loader reads files with `read_to_string`, so only UTF-8 gets this far.
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };

    match IngressSpec::parse(yaml) {
        Ok(spec) => {
            assert!(!spec.id.is_empty());
            assert_file_stem(&spec.component_id);
            assert!(
                [
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE
                ]
                .contains(&spec.method)
            );
            check_template(&spec.route, &["a", "%/?#", ""]);
        }
        Err(err) => drop(err.to_string()),
    }

    match ActorSpec::parse(yaml) {
        Ok(spec) => {
            let kind = &spec.actor_type;
            assert!(!kind.is_empty(), "an empty actor type");
            assert!(
                kind.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')),
                "{kind:?}"
            );
            assert_file_stem(&spec.component_id);
        }
        Err(err) => drop(err),
    }

    match HostConfig::parse(yaml) {
        Ok(config) => {
            let runtime = config.runtime();
            assert!(runtime.max_instances >= 1);
            assert!(config.dispatch_timeout().as_secs() >= 1);
            assert_eq!(
                config.max_stream_lifetime().is_none(),
                config.max_stream_lifetime_seconds == 0
            );
            let _ = (config.keepalive(), config.drain_timeout());
        }
        Err(err) => drop(err.to_string()),
    }
});

/// A componentId names `components/<id>.wasm`, so it must never be a path.
fn assert_file_stem(id: &str) {
    assert!(!id.is_empty() && !id.starts_with('.'), "{id:?}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "{id:?}"
    );
}
