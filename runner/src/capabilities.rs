//! The host-capability gate (`--allowed-host-capabilities`).
//!
//! Mirrors kwctl's `HostCapabilities`
//! (kubewarden-controller `crates/policy-evaluator/src/host_capabilities.rs`
//! L11-304, error texts from `crates/policy-evaluator/src/errors.rs` L109-129)
//! and the check in `crates/policy-evaluator/src/runtimes/callback.rs`
//! L32-69: every namespace but `tracing` is checked as
//! `"{namespace}/{operation}"` before the payload is even decoded.

use std::collections::BTreeSet;
use std::fmt;

/// The known capability tree: `(path, is_leaf)` of every node, as in
/// upstream's `CAPABILITY_TREE` (host_capabilities.rs L26-73).
const TREE: &[(&str, bool)] = &[
    ("oci", false),
    ("oci/v1", false),
    ("oci/v1/verify", true),
    ("oci/v1/manifest_digest", true),
    ("oci/v1/oci_manifest", true),
    ("oci/v1/oci_manifest_config", true),
    ("oci/v2", false),
    ("oci/v2/verify", true),
    ("net", false),
    ("net/v1", false),
    ("net/v1/dns_lookup_host", true),
    ("crypto", false),
    ("crypto/v1", false),
    ("crypto/v1/is_certificate_trusted", true),
    ("kubernetes", false),
    ("kubernetes/list_resources_by_namespace", true),
    ("kubernetes/list_resources_all", true),
    ("kubernetes/get_resource", true),
    ("kubernetes/can_i", true),
];

/// Every known capability as `(namespace, operation)` (the first path segment
/// and the rest), sorted: upstream `HostCapabilities::enumerate_operations`
/// (host_capabilities.rs L175-200), which kwctl's annotate scanner searches for.
pub fn operations() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = TREE
        .iter()
        .filter(|(_, leaf)| *leaf)
        .filter_map(|(path, _)| path.split_once('/'))
        .collect();
    out.sort_unstable();
    out
}

/// A rejected `--allowed-host-capabilities` pattern. The `Display` texts are
/// upstream's `HostCapabilitiesPatternError` (errors.rs L109-129).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// `*` not used as a whole last segment (e.g. `oci*`, `oci/v1/oci_*`).
    InvalidWildcard {
        /// The pattern as given.
        pattern: String,
    },
    /// An empty (or blank) pattern.
    Empty,
    /// A segment that is not in the capability tree.
    UnknownSegment {
        /// The pattern (trimmed).
        pattern: String,
        /// The offending segment.
        segment: String,
        /// Sorted, comma-separated valid segments at that level.
        valid_options: String,
    },
    /// A pattern that stops at an intermediate node (e.g. `oci/v1`).
    IncompleteCapabilityPath {
        /// The pattern (trimmed).
        pattern: String,
        /// `"{pattern}/*"`.
        suggestion: String,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidWildcard { pattern } => write!(
                f,
                "invalid pattern {pattern:?}: wildcard '*' must be the entire last path segment (e.g. 'oci/*'), not a partial match"
            ),
            Self::Empty => write!(f, "invalid pattern: pattern must not be empty"),
            Self::UnknownSegment {
                pattern,
                segment,
                valid_options,
            } => write!(
                f,
                "invalid pattern {pattern:?}: unknown segment {segment:?}, valid options at this level are: {valid_options}"
            ),
            Self::IncompleteCapabilityPath {
                pattern,
                suggestion,
            } => write!(
                f,
                "invalid pattern {pattern:?}: not a complete capability path; use {suggestion:?} to allow all capabilities under it"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

/// Children segments of the node at `parent` (`""` = root), sorted.
fn children(parent: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = TREE
        .iter()
        .filter_map(|(path, _)| {
            let rest = if parent.is_empty() {
                Some(*path)
            } else {
                path.strip_prefix(parent)?.strip_prefix('/')
            };
            rest.filter(|r| !r.contains('/'))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Checks a trimmed pattern against the tree (upstream `validate_against_tree`,
/// host_capabilities.rs L86-135).
fn validate_against_tree(pattern: &str) -> Result<(), PatternError> {
    let parts: Vec<&str> = pattern.split('/').collect();
    let mut path = String::new();
    for (i, part) in parts.iter().enumerate() {
        if *part == "*" {
            return Ok(());
        }
        let candidate = if path.is_empty() {
            (*part).to_owned()
        } else {
            format!("{path}/{part}")
        };
        match TREE.iter().find(|(p, _)| *p == candidate) {
            None => {
                return Err(PatternError::UnknownSegment {
                    pattern: pattern.to_owned(),
                    segment: (*part).to_owned(),
                    valid_options: children(&path).join(", "),
                });
            }
            Some((_, true)) => {
                if i != parts.len() - 1 {
                    return Err(PatternError::UnknownSegment {
                        pattern: pattern.to_owned(),
                        segment: parts[i + 1].to_owned(),
                        valid_options: String::new(),
                    });
                }
                return Ok(());
            }
            Some((_, false)) => {
                if i == parts.len() - 1 {
                    return Err(PatternError::IncompleteCapabilityPath {
                        pattern: pattern.to_owned(),
                        suggestion: format!("{pattern}/*"),
                    });
                }
                path = candidate;
            }
        }
    }
    Ok(())
}

/// The set of host capabilities a policy may use
/// (upstream `HostCapabilities`, host_capabilities.rs L152-261).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostCapabilities {
    /// No pattern given (`--allowed-host-capabilities` with no value).
    #[default]
    DenyAll,
    /// `*` was given (kwctl's default).
    AllowAll,
    /// Prefix patterns (`oci/` from `oci/*`) and exact paths.
    Patterns {
        /// Prefixes, each ending in `/`.
        prefixes: BTreeSet<String>,
        /// Exact capability paths.
        exact: BTreeSet<String>,
    },
}

impl HostCapabilities {
    /// Builds the gate from CLI patterns, as upstream `HostCapabilities::new`:
    /// blanks are rejected, `*` anywhere allows all, a `*` must be a whole
    /// last segment, and every other segment must exist in the tree.
    ///
    /// # Errors
    /// The first invalid pattern's [`PatternError`].
    pub fn new<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut prefixes = BTreeSet::new();
        let mut exact = BTreeSet::new();
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let trimmed = pattern.trim();
            if trimmed.is_empty() {
                return Err(PatternError::Empty);
            }
            if trimmed == "*" {
                return Ok(Self::AllowAll);
            }
            if trimmed.contains('*') && !trimmed.ends_with("/*") {
                return Err(PatternError::InvalidWildcard {
                    pattern: pattern.to_owned(),
                });
            }
            validate_against_tree(trimmed)?;
            if let Some(prefix) = trimmed.strip_suffix('*') {
                prefixes.insert(prefix.to_owned());
            } else {
                exact.insert(trimmed.to_owned());
            }
        }
        if prefixes.is_empty() && exact.is_empty() {
            return Ok(Self::DenyAll);
        }
        Ok(Self::Patterns { prefixes, exact })
    }

    /// Whether `"{namespace}/{operation}"` is allowed (upstream `is_allowed`).
    pub fn is_allowed(&self, capability_path: &str) -> bool {
        match self {
            Self::AllowAll => true,
            Self::DenyAll => false,
            Self::Patterns { prefixes, exact } => {
                exact.contains(capability_path)
                    || prefixes
                        .iter()
                        .any(|p| capability_path.starts_with(p.as_str()))
            }
        }
    }

    /// The error text kwctl's host sends to the guest for a denied call
    /// (`runtimes/callback.rs` L32-47).
    pub fn denied_message(capability_path: &str) -> String {
        format!(
            "Policy has not been granted access to the '{capability_path}' host capability. The violation has been reported."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &[&str]) -> HostCapabilities {
        HostCapabilities::new(p).expect("valid patterns")
    }

    #[test]
    fn matching_as_upstream_cases() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&[], "oci/v1/verify", false),
            (&["*"], "oci/v1/verify", true),
            (&["*"], "kubernetes/can_i", true),
            (&["oci/v1/verify"], "oci/v1/verify", true),
            (&["oci/v1/verify"], "oci/v2/verify", false),
            (&["oci/*"], "oci/v1/verify", true),
            (&["oci/*"], "oci/v2/verify", true),
            (&["oci/*"], "oci/v1/manifest_digest", true),
            (&["oci/*"], "net/v1/dns_lookup_host", false),
            (&["oci/v2/*"], "oci/v2/verify", true),
            (&["oci/v2/*"], "oci/v1/verify", false),
            (
                &["oci/v1/verify", "net/v1/dns_lookup_host"],
                "net/v1/dns_lookup_host",
                true,
            ),
            (
                &["oci/v2/verify", "*"],
                "crypto/v1/is_certificate_trusted",
                true,
            ),
        ];
        for (patterns, path, allowed) in cases {
            assert_eq!(
                caps(patterns).is_allowed(path),
                *allowed,
                "{patterns:?} {path}"
            );
        }
        assert_eq!(caps(&[]), HostCapabilities::DenyAll);
    }

    #[test]
    fn invalid_patterns_with_upstream_texts() {
        let err = |p: &str| HostCapabilities::new([p]).expect_err("invalid").to_string();
        assert_eq!(err("  "), "invalid pattern: pattern must not be empty");
        assert_eq!(
            err("oci*"),
            r#"invalid pattern "oci*": wildcard '*' must be the entire last path segment (e.g. 'oci/*'), not a partial match"#
        );
        assert_eq!(
            err("oci/v1/oci_*"),
            r#"invalid pattern "oci/v1/oci_*": wildcard '*' must be the entire last path segment (e.g. 'oci/*'), not a partial match"#
        );
        assert_eq!(
            err("foo/*"),
            r#"invalid pattern "foo/*": unknown segment "foo", valid options at this level are: crypto, kubernetes, net, oci"#
        );
        assert_eq!(
            err("oci/v3/verify"),
            r#"invalid pattern "oci/v3/verify": unknown segment "v3", valid options at this level are: v1, v2"#
        );
        assert_eq!(
            err("oci/v1"),
            r#"invalid pattern "oci/v1": not a complete capability path; use "oci/v1/*" to allow all capabilities under it"#
        );
        assert_eq!(
            err("oci/v2/verify/x"),
            r#"invalid pattern "oci/v2/verify/x": unknown segment "x", valid options at this level are: "#
        );
    }

    #[test]
    fn operations_are_the_leaves() {
        let ops = operations();
        assert_eq!(ops.len(), 11);
        assert_eq!(ops[0], ("crypto", "v1/is_certificate_trusted"));
        assert!(ops.contains(&("kubernetes", "get_resource")));
        assert!(ops.contains(&("oci", "v1/oci_manifest_config")));
        for (ns, op) in &ops {
            assert!(caps(&[&format!("{ns}/{op}")]).is_allowed(&format!("{ns}/{op}")));
        }
    }

    #[test]
    fn denied_message_is_kwctl_text() {
        assert_eq!(
            HostCapabilities::denied_message("oci/v2/verify"),
            "Policy has not been granted access to the 'oci/v2/verify' host capability. The violation has been reported."
        );
    }
}
