//! Kubewarden policy metadata: the `metadata.yml` a policy author writes and
//! the JSON `kwctl annotate` embeds in the module's `io.kubewarden.metadata`
//! custom section.
//!
//! Mirrors, field for field and with the same serde names, defaults and
//! skipping rules (so the JSON is the one kwctl writes):
//! - `Metadata`, `Rule`, `Operation`, `PolicyType`, `ContextAwareResource` and
//!   their validation from kubewarden-controller
//!   `crates/policy-evaluator/src/policy_metadata.rs`;
//! - `PolicyExecutionMode` from `crates/policy-evaluator/src/policy_evaluator.rs`;
//! - `ProtocolVersion` from kubewarden-policy-sdk `src/metadata.rs`.
//!
//! Upstream validates with the `validator` crate; [`Metadata::validate`]
//! checks the same rules and reports them as readable sentences instead of
//! `validator`'s `Debug` dump.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

pub use crate::host::ContextAwareResource;

/// The waPC protocol spoken by the policy (SDK `ProtocolVersion`): what its
/// `protocol_version` function answers, as a JSON string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtocolVersion {
    /// Not a valid version (Rego and WASI policies get this one).
    #[serde(rename = "Unknown")]
    Unknown,
    /// Version 1, the only one there is.
    #[serde(rename = "v1")]
    V1,
}

/// An admission operation in a rule (upstream `Operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// `CREATE`.
    #[serde(rename = "CREATE")]
    Create,
    /// `UPDATE`.
    #[serde(rename = "UPDATE")]
    Update,
    /// `DELETE`.
    #[serde(rename = "DELETE")]
    Delete,
    /// `CONNECT`.
    #[serde(rename = "CONNECT")]
    Connect,
    /// `*`: every operation; must then be the only one.
    #[serde(rename = "*")]
    All,
}

/// Which requests the policy wants (upstream `Rule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// API groups (`""` is the core group); `*` alone for all.
    pub api_groups: Vec<String>,
    /// API versions; `*` alone for all.
    pub api_versions: Vec<String>,
    /// Resources, optionally `resource/subresource`, with Kubernetes'
    /// wildcard rules.
    pub resources: Vec<String>,
    /// Operations; `*` alone for all.
    pub operations: Vec<Operation>,
}

/// How the policy is run (upstream `PolicyExecutionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ExecutionMode {
    /// A Kubewarden waPC policy (the default).
    #[default]
    #[serde(rename = "kubewarden-wapc")]
    KubewardenWapc,
    /// An OPA Rego policy.
    #[serde(rename = "opa")]
    Opa,
    /// A Gatekeeper Rego policy.
    #[serde(rename = "gatekeeper")]
    OpaGatekeeper,
    /// A plain WASI policy.
    #[serde(rename = "wasi")]
    Wasi,
}

/// What the policy receives (upstream `PolicyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PolicyType {
    /// Kubernetes admission requests (the default).
    #[default]
    #[serde(rename = "kubernetes")]
    Kubernetes,
    /// Arbitrary JSON.
    #[serde(rename = "raw")]
    Raw,
}

/// `serde` default of `backgroundAudit`.
const fn default_true() -> bool {
    true
}

/// A policy's metadata (upstream `policy_metadata::Metadata`). Unknown keys,
/// like the legacy `contextAware: false`, are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Set by annotate from the module; required by [`Metadata::validate`].
    pub protocol_version: Option<ProtocolVersion>,
    /// Required key (an empty list is accepted, as upstream).
    pub rules: Vec<Rule>,
    /// Free-form annotations (`io.kubewarden.policy.*`, `io.artifacthub.*`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Required key.
    pub mutating: bool,
    /// Default `true`.
    #[serde(default = "default_true")]
    pub background_audit: bool,
    /// Default `kubewarden-wapc`.
    #[serde(default)]
    pub execution_mode: ExecutionMode,
    /// Default `kubernetes`.
    #[serde(default)]
    pub policy_type: PolicyType,
    /// Kubernetes resources the policy reads (default none).
    #[serde(default)]
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
    /// Host capabilities the policy says it uses (`oci/v2/verify`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_capabilities: Option<BTreeSet<String>>,
    /// Oldest Kubewarden release able to run the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_kubewarden_version: Option<semver::Version>,
}

/// `*` must be alone in a list (upstream `validate_asterisk_usage`).
fn asterisk_alone<T: PartialEq>(items: &[T], star: &T) -> bool {
    !(items.contains(star) && items.len() > 1)
}

/// Kubernetes' rules for wildcards in `resources` (upstream
/// `validate_resources`, itself a transposition of Kubernetes'
/// `pkg/apis/admissionregistration/validation/validation.go`
/// `validateResources`, including its order-dependent checks).
fn check_resources(resources: &[String]) -> Result<(), String> {
    // `res` of every `res/*` seen so far.
    let mut all_subresources_of: HashSet<&str> = HashSet::new();
    // `sub` of every `*/sub` seen so far.
    let mut subresource_of_all: HashSet<&str> = HashSet::new();
    let mut double_wildcard = false;
    let mut single_wildcard = false;
    let mut without_subresource = false;
    for resource in resources {
        match resource.as_str() {
            "" => return Err("empty resource is not allowed".to_owned()),
            "*/*" => double_wildcard = true,
            "*" => single_wildcard = true,
            _ => {}
        }
        let Some((res, sub)) = resource.split_once('/') else {
            // As Kubernetes: the last resource without subresource decides.
            without_subresource = resource != "*";
            continue;
        };
        if all_subresources_of.contains(res) {
            return Err(format!(
                "if '{res}/*' is present, must not specify {resource}"
            ));
        }
        if subresource_of_all.contains(sub) {
            return Err(format!(
                "if '*/{sub}' is present, must not specify {resource}"
            ));
        }
        if sub == "*" {
            all_subresources_of.insert(res);
        }
        if res == "*" {
            subresource_of_all.insert(sub);
        }
    }
    if resources.len() > 1 && double_wildcard {
        return Err("if '*/*' is present, must not specify other resources".to_owned());
    }
    if single_wildcard && without_subresource {
        return Err(
            "if '*' is present, must not specify other resources without subresources".to_owned(),
        );
    }
    Ok(())
}

/// The text upstream uses for a `*` mixed with other elements.
const ASTERISK_ALONE: &str = "No other elements can be defined when '*' is used";

impl Metadata {
    /// Checks what upstream's `Validate` implementation checks:
    /// - `protocolVersion` is set, and is not `Unknown` for a
    ///   `kubewarden-wapc` policy (`Must specify a valid protocol version`);
    /// - every rule has at least one api group, api version, resource and
    ///   operation; `*` is alone in its list; resources follow Kubernetes'
    ///   wildcard rules;
    /// - every context-aware resource has a non-empty `apiVersion` and `kind`.
    ///
    /// # Errors
    /// Every problem found, one sentence each, prefixed by the field path.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        match self.protocol_version {
            None => problems.push("protocolVersion: required".to_owned()),
            Some(ProtocolVersion::Unknown)
                if self.execution_mode == ExecutionMode::KubewardenWapc =>
            {
                problems.push("Must specify a valid protocol version".to_owned());
            }
            Some(_) => {}
        }
        let star = String::from("*");
        for (i, rule) in self.rules.iter().enumerate() {
            let lists = [
                ("apiGroups", &rule.api_groups),
                ("apiVersions", &rule.api_versions),
                ("resources", &rule.resources),
            ];
            for (field, list) in lists {
                if list.is_empty() {
                    problems.push(format!("rules[{i}].{field}: must not be empty"));
                } else if field == "resources" {
                    if let Err(e) = check_resources(list) {
                        problems.push(format!("rules[{i}].{field}: {e}"));
                    }
                } else if !asterisk_alone(list, &star) {
                    problems.push(format!("rules[{i}].{field}: {ASTERISK_ALONE}"));
                }
            }
            if rule.operations.is_empty() {
                problems.push(format!("rules[{i}].operations: must not be empty"));
            } else if !asterisk_alone(&rule.operations, &Operation::All) {
                problems.push(format!("rules[{i}].operations: {ASTERISK_ALONE}"));
            }
        }
        for resource in &self.context_aware_resources {
            if resource.api_version.is_empty() || resource.kind.is_empty() {
                problems.push(format!(
                    "contextAwareResources: apiVersion and kind must not be empty ({resource:?})"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods_rule() -> Rule {
        Rule {
            api_groups: vec![String::new()],
            api_versions: vec!["v1".into()],
            resources: vec!["pods".into()],
            operations: vec![Operation::Create],
        }
    }

    fn with_rules(rules: Vec<Rule>) -> Metadata {
        Metadata {
            protocol_version: Some(ProtocolVersion::V1),
            rules,
            annotations: None,
            mutating: false,
            background_audit: true,
            execution_mode: ExecutionMode::KubewardenWapc,
            policy_type: PolicyType::Kubernetes,
            context_aware_resources: BTreeSet::new(),
            host_capabilities: None,
            minimum_kubewarden_version: None,
        }
    }

    fn parse(yaml: &str) -> Metadata {
        serde_yaml::from_str(yaml).expect("metadata")
    }

    #[test]
    fn yaml_defaults_and_json_shape() {
        let mut meta = parse(
            "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\nmutating: false\ncontextAware: true\n",
        );
        assert_eq!(meta.protocol_version, None);
        meta.protocol_version = Some(ProtocolVersion::V1);
        assert_eq!(meta, with_rules(vec![pods_rule()]));
        meta.annotations = Some(BTreeMap::from([("a".into(), "b".into())]));
        meta.context_aware_resources = BTreeSet::from([
            ContextAwareResource {
                api_version: "v1".into(),
                kind: "Secret".into(),
            },
            ContextAwareResource {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
            },
        ]);
        meta.host_capabilities = Some(BTreeSet::from(["oci/v2/verify".into()]));
        meta.minimum_kubewarden_version = Some(semver::Version::new(1, 10, 0));
        assert_eq!(
            serde_json::to_string(&meta).expect("json"),
            concat!(
                r#"{"protocolVersion":"v1","rules":[{"apiGroups":[""],"apiVersions":["v1"],"#,
                r#""resources":["pods"],"operations":["CREATE"]}],"annotations":{"a":"b"},"#,
                r#""mutating":false,"backgroundAudit":true,"executionMode":"kubewarden-wapc","#,
                r#""policyType":"kubernetes","contextAwareResources":[{"apiVersion":"v1","kind":"ConfigMap"},"#,
                r#"{"apiVersion":"v1","kind":"Secret"}],"hostCapabilities":["oci/v2/verify"],"#,
                r#""minimumKubewardenVersion":"1.10.0"}"#
            )
        );
        let bare = with_rules(Vec::new());
        assert_eq!(
            serde_json::to_string(&bare).expect("json"),
            r#"{"protocolVersion":"v1","rules":[],"mutating":false,"backgroundAudit":true,"executionMode":"kubewarden-wapc","policyType":"kubernetes","contextAwareResources":[]}"#
        );
    }

    #[test]
    fn yaml_errors() {
        let missing_rules = serde_yaml::from_str::<Metadata>("mutating: false\n");
        assert!(
            missing_rules
                .expect_err("no rules")
                .to_string()
                .contains("missing field `rules`")
        );
        let bad_op = serde_yaml::from_str::<Metadata>(
            "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREAT]\nmutating: false\n",
        );
        assert!(bad_op.expect_err("bad op").to_string().contains("CREAT"));
        let bad_version = serde_yaml::from_str::<Metadata>(
            "rules: []\nmutating: false\nminimumKubewardenVersion: one\n",
        );
        assert!(bad_version.is_err());
    }

    #[test]
    fn validation_as_upstream() {
        assert_eq!(with_rules(vec![pods_rule()]).validate(), Ok(()));
        assert_eq!(with_rules(Vec::new()).validate(), Ok(()));

        let mut rule = pods_rule();
        rule.api_groups = vec![String::new(), "*".into()];
        assert_eq!(
            with_rules(vec![rule]).validate(),
            Err(vec![format!("rules[0].apiGroups: {ASTERISK_ALONE}")])
        );

        let mut rule = pods_rule();
        rule.api_versions = Vec::new();
        rule.operations = vec![Operation::All, Operation::Create];
        assert_eq!(
            with_rules(vec![pods_rule(), rule]).validate(),
            Err(vec![
                "rules[1].apiVersions: must not be empty".to_owned(),
                format!("rules[1].operations: {ASTERISK_ALONE}"),
            ])
        );

        let mut meta = with_rules(vec![pods_rule()]);
        meta.protocol_version = None;
        assert_eq!(
            meta.validate(),
            Err(vec!["protocolVersion: required".to_owned()])
        );
        meta.protocol_version = Some(ProtocolVersion::Unknown);
        assert_eq!(
            meta.validate(),
            Err(vec!["Must specify a valid protocol version".to_owned()])
        );
        meta.execution_mode = ExecutionMode::Opa;
        assert_eq!(meta.validate(), Ok(()));

        let mut meta = with_rules(vec![pods_rule()]);
        meta.context_aware_resources.insert(ContextAwareResource {
            api_version: String::new(),
            kind: "Pod".into(),
        });
        assert!(meta.validate().is_err());
    }

    #[test]
    fn resource_wildcards_as_kubernetes() {
        let check =
            |r: &[&str]| check_resources(&r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(check(&["*", "a/b", "a/*", "*/b"]), Ok(()));
        assert_eq!(check(&["pods", "pods/ephemeralcontainers"]), Ok(()));
        assert_eq!(check(&["*/*"]), Ok(()));
        assert!(check(&["*", "a"]).is_err());
        assert!(check(&[""]).is_err());
        assert!(check(&["*/*", "pods"]).is_err());
        assert_eq!(
            check(&["a/*", "a/b"]),
            Err("if 'a/*' is present, must not specify a/b".to_owned())
        );
        assert_eq!(
            check(&["*/b", "a/b"]),
            Err("if '*/b' is present, must not specify a/b".to_owned())
        );
        // Order-dependent, as in Kubernetes.
        assert_eq!(check(&["a", "*"]), Ok(()));
    }
}
