//! Kubernetes label selectors (`matchLabels` and `matchExpressions`), as used by a CIP's
//! `spec.match[].selector`.
//!
//! Source: `k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go` `LabelSelectorAsSelector`
//! (upstream converts with it, `pkg/apis/config/image_policies.go` L86-151): the requirements
//! are ANDed; `In`/`NotIn` need a non-empty `values`, `Exists`/`DoesNotExist` an empty one.
//! An empty selector matches everything.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Checks a selector's operators and values. Errors are `(value, details)` for a field error.
pub fn check(selector: &LabelSelector) -> Result<(), (String, String)> {
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err((
                    e.operator.clone(),
                    format!(
                        "values: must be specified when `operator` is 'In' or 'NotIn' (key {})",
                        e.key
                    ),
                ));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err((
                    e.operator.clone(),
                    format!(
                        "values: may not be specified when `operator` is 'Exists' or 'DoesNotExist' (key {})",
                        e.key
                    ),
                ));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                return Err((
                    other.to_string(),
                    format!("{other:?} is not a valid label selector operator"),
                ));
            }
        }
    }
    Ok(())
}

/// Whether `labels` satisfy `selector`. A selector failing [`check`] matches nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if check(selector).is_err() {
        return false;
    }
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    labels_ok
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators() {
        let l = labels(&[("match", "match"), ("tier", "web")]);
        assert!(matches(&sel(serde_json::json!({})), &l));
        assert!(matches(
            &sel(serde_json::json!({"matchLabels": {"match": "match"}})),
            &l
        ));
        assert!(!matches(
            &sel(serde_json::json!({"matchLabels": {"match": "other"}})),
            &l
        ));
        let expr = |op: &str, values: serde_json::Value| {
            sel(
                serde_json::json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]}),
            )
        };
        assert!(matches(&expr("In", serde_json::json!(["web", "db"])), &l));
        assert!(!matches(&expr("In", serde_json::json!(["db"])), &l));
        assert!(!matches(&expr("NotIn", serde_json::json!(["web"])), &l));
        assert!(matches(&expr("NotIn", serde_json::json!(["db"])), &l));
        assert!(matches(&expr("Exists", serde_json::json!([])), &l));
        assert!(!matches(&expr("DoesNotExist", serde_json::json!([])), &l));
        assert!(matches(
            &expr("DoesNotExist", serde_json::json!([])),
            &labels(&[])
        ));
        assert!(matches(
            &expr("NotIn", serde_json::json!(["web"])),
            &labels(&[])
        ));
    }

    #[test]
    fn invalid_selectors() {
        let bad = sel(serde_json::json!({"matchExpressions": [{"key": "a", "operator": "In"}]}));
        assert!(check(&bad).is_err());
        assert!(!matches(&bad, &labels(&[("a", "b")])));
        let bad = sel(
            serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
        );
        assert_eq!(check(&bad).unwrap_err().0, "Gt");
    }
}
