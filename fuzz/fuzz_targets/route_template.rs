//! Route templates: the first line is a template, the other lines parameter values and raw
//! request paths.
//!
//! - A template is accepted exactly when it follows the documented rules (checked by an
//!   independent implementation), and a path built from it finds it with the values given.
//! - Any raw path either misses or yields parameters that, percent-encoded again, find the
//!   same route with the same values.

#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sluice::route::{RouteMatch, RouteTable};
use sluice_fuzz::check_template;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.collect();
    check_template(template, &rest);

    let mut table = RouteTable::new();
    if table.insert(Method::GET, template, ()).is_err() {
        return;
    }
    for path in rest {
        let RouteMatch::Found { params, .. } = table.lookup(&Method::GET, path) else {
            continue;
        };
        let stripped = template.strip_prefix('/').unwrap_or(template);
        let mut again = Vec::new();
        let mut values = params.iter();
        for segment in stripped.split('/') {
            if segment.starts_with('{') {
                let (_, value) = values.next().expect("one value per parameter");
                again.push(utf8_percent_encode(value, NON_ALPHANUMERIC).to_string());
            } else {
                again.push(segment.to_owned());
            }
        }
        let again = again.join("/");
        assert_eq!(
            table.lookup(&Method::GET, &again),
            RouteMatch::Found { value: &(), params },
            "{path:?} re-encoded as {again:?}"
        );
    }
});
