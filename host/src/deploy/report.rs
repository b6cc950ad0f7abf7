//! What a reload changed: ingresses added, changed, removed and unchanged (by ingress id),
//! and every file that could not be deployed. This is the body of `POST /_sluice/deploy`
//! and what `sluice deploy` prints.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Problem;

/// Said in every report: actors are loaded at start only.
pub const ACTORS_NOT_RELOADED: &str =
    "actors/*.yaml and actor components are not reloaded: restart to change actors";

/// The outcome of one reload, in ingress ids (sorted) and problems (in file order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    pub problems: Vec<ProblemReport>,
    /// Components compiled by this reload (a component already compiled, by its bytes, is
    /// not compiled again).
    pub components_compiled: u64,
    pub actors: &'static str,
}

/// A [`Problem`] as JSON: `{file, reason}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemReport {
    pub file: String,
    pub reason: String,
}

impl From<&Problem> for ProblemReport {
    fn from(problem: &Problem) -> Self {
        Self {
            file: problem.file.display().to_string(),
            reason: problem.reason.clone(),
        }
    }
}

impl ReloadReport {
    /// Compare what was served before and after, each as ingress id → version (anything
    /// that tells one version from another: the same id with another version is `changed`).
    pub fn compare<V: PartialEq>(
        before: &BTreeMap<String, V>,
        after: &BTreeMap<String, V>,
        problems: &[Problem],
        components_compiled: u64,
    ) -> Self {
        let mut report = Self {
            problems: problems.iter().map(ProblemReport::from).collect(),
            components_compiled,
            actors: ACTORS_NOT_RELOADED,
            ..Self::default()
        };
        for (id, version) in after {
            match before.get(id) {
                None => report.added.push(id.clone()),
                Some(old) if old == version => report.unchanged.push(id.clone()),
                Some(_) => report.changed.push(id.clone()),
            }
        }
        report.removed = before
            .keys()
            .filter(|id| !after.contains_key(*id))
            .cloned()
            .collect();
        report
    }

    /// Every file deployed.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn served(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(id, v)| ((*id).to_owned(), *v)).collect()
    }

    #[test]
    fn each_id_lands_in_exactly_one_list() {
        let before = served(&[("a", 1), ("b", 1), ("c", 1)]);
        let after = served(&[("b", 1), ("c", 2), ("d", 1)]);
        let report = ReloadReport::compare(&before, &after, &[], 1);
        assert_eq!(report.added, ["d"]);
        assert_eq!(report.changed, ["c"]);
        assert_eq!(report.removed, ["a"]);
        assert_eq!(report.unchanged, ["b"]);
        assert_eq!(report.components_compiled, 1);
        assert!(report.is_clean());
    }

    #[test]
    fn a_first_load_adds_everything_and_an_empty_one_removes_everything() {
        let some = served(&[("x", 1), ("y", 1)]);
        let none = served(&[]);
        let first = ReloadReport::compare(&none, &some, &[], 0);
        assert_eq!(first.added, ["x", "y"]);
        assert!(first.changed.is_empty() && first.removed.is_empty());
        let last = ReloadReport::compare(&some, &none, &[], 0);
        assert_eq!(last.removed, ["x", "y"]);
        assert!(last.added.is_empty() && last.unchanged.is_empty());
    }

    #[test]
    fn problems_keep_their_file_and_reason_and_make_the_report_unclean() {
        let problem = Problem {
            file: PathBuf::from("/d/ingresses/bad.yaml"),
            reason: "unknown field `x`".into(),
        };
        let report =
            ReloadReport::compare(&served(&[("a", 1)]), &served(&[("a", 1)]), &[problem], 0);
        assert!(!report.is_clean());
        assert_eq!(report.unchanged, ["a"]);
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(
            json["problems"],
            serde_json::json!([{"file": "/d/ingresses/bad.yaml", "reason": "unknown field `x`"}])
        );
        assert_eq!(json["componentsCompiled"], 0);
        assert_eq!(json["actors"], ACTORS_NOT_RELOADED);
    }
}
