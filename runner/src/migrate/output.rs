//! `cip-runner migrate`'s output: the ClusterAdmissionPolicy (name, module URI, rules from
//! the module's metadata, namespace selector, settings) and its YAML text.

use anyhow::{Result, bail};
use serde_yaml::{Mapping, Value};

use crate::metadata::Metadata;

/// `metadata.name` must be an RFC 1123 subdomain, as Kubernetes (and kwctl
/// scaffold) require.
pub(super) fn check_name(name: &str) -> Result<()> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        bail!(
            "invalid --name {name:?}: a Kubernetes name is lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
        );
    }
    Ok(())
}

/// `registry://<ociUrl>:v<version>` from the metadata annotations.
pub(super) fn default_module(metadata: &Metadata) -> Result<String> {
    let annotation = |key: &str| {
        metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .filter(|v| !v.is_empty())
    };
    let (Some(url), Some(version)) = (
        annotation("io.kubewarden.policy.ociUrl"),
        annotation("io.kubewarden.policy.version"),
    ) else {
        bail!(
            "the policy's metadata has no io.kubewarden.policy.ociUrl or io.kubewarden.policy.version annotation: pass --module registry://…"
        );
    };
    let version = version.strip_prefix('v').unwrap_or(version);
    Ok(format!("registry://{url}:v{version}"))
}

/// The `ClusterAdmissionPolicy`.
pub(super) fn cluster_admission_policy(
    name: &str,
    module: &str,
    metadata: &Metadata,
    opt_out: bool,
    settings: Value,
) -> Result<Value> {
    let mut meta = Mapping::new();
    meta.insert("name".into(), name.into());
    let mut annotations = Mapping::new();
    for key in [
        "io.kubewarden.policy.category",
        "io.kubewarden.policy.severity",
    ] {
        if let Some(v) = metadata.annotations.as_ref().and_then(|a| a.get(key)) {
            annotations.insert(key.into(), v.as_str().into());
        }
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Mapping(annotations));
    }

    let selector: Value = if opt_out {
        serde_yaml::from_str(
            "matchExpressions: [{key: policy.sigstore.dev/exclude, operator: DoesNotExist}]",
        )?
    } else {
        serde_yaml::from_str(
            "matchExpressions: [{key: policy.sigstore.dev/include, operator: In, values: ['true']}]",
        )?
    };

    let mut spec = Mapping::new();
    spec.insert("module".into(), module.into());
    spec.insert("mode".into(), "protect".into());
    spec.insert("failurePolicy".into(), "Fail".into());
    spec.insert("timeoutSeconds".into(), 30.into());
    spec.insert("rules".into(), serde_yaml::to_value(&metadata.rules)?);
    spec.insert("mutating".into(), metadata.mutating.into());
    spec.insert("backgroundAudit".into(), metadata.background_audit.into());
    spec.insert(
        "contextAwareResources".into(),
        serde_yaml::to_value(&metadata.context_aware_resources)?,
    );
    spec.insert("namespaceSelector".into(), selector);
    spec.insert("settings".into(), settings);

    let mut cap = Mapping::new();
    cap.insert("apiVersion".into(), "policies.kubewarden.io/v1".into());
    cap.insert("kind".into(), "ClusterAdmissionPolicy".into());
    cap.insert("metadata".into(), Value::Mapping(meta));
    cap.insert("spec".into(), Value::Mapping(spec));
    Ok(Value::Mapping(cap))
}

/// Whether YAML 1.1, which kubectl reads with (go-yaml v2 in
/// `sigs.k8s.io/yaml`), takes this string for a boolean or a number while
/// `serde_yaml` (YAML 1.2) writes it unquoted: `on`, `no`, `y`, `1_000` ….
pub(super) fn yaml11_ambiguous(s: &str) -> bool {
    const BOOLEANS: [&str; 16] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    BOOLEANS.contains(&s)
        || (s.contains('_')
            && matches!(
                serde_yaml::from_str::<Value>(&s.replace('_', "")),
                Ok(Value::Number(_))
            ))
}

/// Replaces every string [`yaml11_ambiguous`] flags with `marker<n>q`.
pub(super) fn mark_ambiguous(value: &Value, marker: &str, found: &mut Vec<String>) -> Value {
    match value {
        Value::String(s) if yaml11_ambiguous(s) => {
            found.push(s.clone());
            Value::String(format!("{marker}{}q", found.len() - 1))
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|v| mark_ambiguous(v, marker, found))
                .collect(),
        ),
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (k.clone(), mark_ambiguous(v, marker, found)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `serde_yaml::to_string`, with the strings YAML 1.1 would misread
/// single-quoted (`message: 'no'`, not `message: no`, which kubectl would
/// turn into `false`). The text is read back and compared to `value`.
///
/// # Errors
/// Serialization errors; a text that does not read back as `value` (a bug).
pub(super) fn to_yaml(value: &Value) -> Result<String> {
    let plain = serde_yaml::to_string(value)?;
    let mut marker = String::from("cip-runner-quoted-");
    while plain.contains(&marker) {
        marker.push('x');
    }
    let mut found = Vec::new();
    let marked = mark_ambiguous(value, &marker, &mut found);
    if found.is_empty() {
        return Ok(plain);
    }
    let mut text = serde_yaml::to_string(&marked)?;
    for (n, s) in found.iter().enumerate() {
        text = text.replacen(&format!("{marker}{n}q"), &format!("'{s}'"), 1);
    }
    let read_back: Value = serde_yaml::from_str(&text)?;
    if read_back != *value {
        bail!("internal error: the YAML written does not read back as the ClusterAdmissionPolicy");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_module_uri() {
        assert!(check_name("cluster-image-policy").is_ok());
        assert!(check_name("a.b-c").is_ok());
        for bad in ["", "Upper", "-a", "a_b", "a..b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let metadata: Metadata = serde_yaml::from_str(
            "rules: []\nmutating: false\nannotations: {io.kubewarden.policy.ociUrl: ghcr.io/x/y, io.kubewarden.policy.version: 1.2.3}\n",
        )
        .expect("metadata");
        assert_eq!(
            default_module(&metadata).expect("uri"),
            "registry://ghcr.io/x/y:v1.2.3"
        );
        let bare: Metadata =
            serde_yaml::from_str("rules: []\nmutating: false\n").expect("metadata");
        assert!(default_module(&bare).is_err());
    }

    #[test]
    fn yaml_1_1_booleans_and_numbers_are_quoted() {
        let value: Value = serde_yaml::from_str(
            "a: 'on'\nb: ['no', 'Y', '1_000', '1_0.5', 'a_b', 'true', 'one', '0777']\nc: |\n  on\n  no\n",
        )
        .expect("yaml");
        assert_eq!(
            to_yaml(&value).expect("yaml"),
            "a: 'on'\nb:\n- 'no'\n- 'Y'\n- '1_000'\n- '1_0.5'\n- a_b\n- 'true'\n- one\n- '0777'\nc: |\n  on\n  no\n"
        );
    }
}
