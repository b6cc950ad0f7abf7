//! Permission strings and the grants of one ingress (SPEC S5, S6).
//!
//! A permission is `<resource path>:<action>`, e.g. `skus:read` or `actors/sku:calculateAvailableStock`.
//! In a grant, `*` as the action allows every action, and `*` as a path segment matches
//! exactly one segment: `feeds/*:read` allows `feeds/news:read` but not `feeds:read` or
//! `feeds/a/b:read`. Grants are parsed once, at deploy time; checks are pure and cheap.

use std::fmt;
use std::str::FromStr;

/// One parsed permission or grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    segments: Vec<String>,
    action: String,
}

/// Why a permission string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permission '{text}': {reason}")]
pub struct InvalidPermission {
    text: String,
    reason: &'static str,
}

impl FromStr for Permission {
    type Err = InvalidPermission;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| InvalidPermission {
            text: text.to_owned(),
            reason,
        };
        let (path, action) = text
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected '<resource path>:<action>'"))?;
        if action.is_empty() {
            return Err(invalid("the action after ':' is empty"));
        }
        if path.is_empty() {
            return Err(invalid("the resource path before ':' is empty"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("whitespace and control characters are not allowed"));
        }
        let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(invalid("the resource path has an empty segment"));
        }
        Ok(Self {
            segments,
            action: action.to_owned(),
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segments.join("/"), self.action)
    }
}

impl Permission {
    /// The resource path's segments (`*` where any one segment matches).
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The action (`*` for every action).
    pub fn action(&self) -> &str {
        &self.action
    }

    /// Does this grant allow `action` on `resource` (a `/`-separated path)?
    pub fn allows(&self, resource: &str, action: &str) -> bool {
        (self.action == "*" || self.action == action)
            && resource.split('/').count() == self.segments.len()
            && resource
                .split('/')
                .zip(&self.segments)
                .all(|(have, want)| want == "*" || have == want)
    }
}

/// The permissions one ingress grants its component. Empty denies everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    grants: Vec<Permission>,
}

impl Acl {
    /// Parse every entry; the first malformed one is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidPermission> {
        let grants = entries
            .iter()
            .map(|entry| entry.as_ref().parse())
            .collect::<Result<_, _>>()?;
        Ok(Self { grants })
    }

    /// Every grant, as written.
    pub fn grants(&self) -> &[Permission] {
        &self.grants
    }

    /// Is `action` on `resource` granted?
    pub fn allows(&self, resource: &str, action: &str) -> bool {
        self.grants
            .iter()
            .any(|grant| grant.allows(resource, action))
    }
}

impl FromIterator<Permission> for Acl {
    fn from_iter<I: IntoIterator<Item = Permission>>(grants: I) -> Self {
        Self {
            grants: grants.into_iter().collect(),
        }
    }
}

/// The resource and action that subscribing to `topic` needs: `actors/<type>/<id>` needs
/// `actors/<type>:read`; any other topic needs `<topic>:read`.
pub fn topic_permission(topic: &str) -> (&str, &'static str) {
    let mut parts = topic.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("actors"), Some(actor_type), Some(_)) => (&topic[..7 + actor_type.len()], "read"),
        _ => (topic, "read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[&str]) -> Acl {
        Acl::parse(entries).expect("valid acl")
    }

    #[test]
    fn exact_grant_allows_only_its_resource_and_action() {
        let acl = acl(&["skus:read"]);
        assert!(acl.allows("skus", "read"));
        assert!(!acl.allows("skus", "write"));
        assert!(!acl.allows("orders", "read"));
        assert!(!acl.allows("skus/x", "read"));
    }

    #[test]
    fn star_action_allows_every_action() {
        let acl = acl(&["actors/sku:*"]);
        assert!(acl.allows("actors/sku", "calculateAvailableStock"));
        assert!(acl.allows("actors/sku", "read"));
        assert!(!acl.allows("actors/order", "read"));
    }

    #[test]
    fn star_segment_matches_exactly_one_segment() {
        let acl = acl(&["feeds/*:read"]);
        assert!(acl.allows("feeds/news", "read"));
        assert!(!acl.allows("feeds", "read"));
        assert!(!acl.allows("feeds/a/b", "read"));
    }

    #[test]
    fn empty_acl_denies_everything() {
        assert!(!Acl::default().allows("skus", "read"));
    }

    #[test]
    fn malformed_permissions_are_rejected_with_a_reason() {
        for (text, reason) in [
            ("skus", "expected '<resource path>:<action>'"),
            ("skus:", "the action after ':' is empty"),
            (":read", "the resource path before ':' is empty"),
            ("a//b:read", "the resource path has an empty segment"),
            (
                "sk us:read",
                "whitespace and control characters are not allowed",
            ),
        ] {
            let err = text.parse::<Permission>().expect_err(text);
            assert_eq!(err.reason, reason, "{text}");
        }
    }

    #[test]
    fn permissions_display_as_written() {
        let text = "actors/sku:calculateAvailableStock";
        assert_eq!(text.parse::<Permission>().expect("valid").to_string(), text);
    }

    #[test]
    fn actor_topics_need_read_on_the_actor_type() {
        assert_eq!(
            topic_permission("actors/order/ORD-123"),
            ("actors/order", "read")
        );
        assert_eq!(topic_permission("actors/order"), ("actors/order", "read"));
        assert_eq!(topic_permission("feeds/news"), ("feeds/news", "read"));
    }
}
