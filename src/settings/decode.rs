//! The messages of a settings document that does not decode: every type error at once, and a
//! manifest pasted where the settings go named for what it is.
//!
//! serde stops at the first error of a document. To report the others too, the document is
//! decoded again after the offending value is taken out of it, until it decodes: a mapping
//! entry is removed (every field of the settings and of a ClusterImagePolicy has a default, so
//! the rest still decodes), and a list element is replaced by `{}`, then by `""` (the neutral
//! value of a struct and of a string element) so that the positions of the elements after it
//! stay what the user wrote. Each ClusterImagePolicy is decoded on its own, so an error that
//! cannot be taken out stops only the errors of its own CIP, and says so. This runs only for a
//! document that did not decode: valid settings are decoded once, by the plain decoder.

use super::Settings;
use crate::cip::ClusterImagePolicy;
use crate::strict::Strict;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;
use std::collections::BTreeSet;

/// Errors reported for one document (or one CIP) at the most; the rest is summed up in a line.
const MAX_ERRORS: usize = 50;

/// A settings document that did not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecodable {
    /// One message per error, `<path>: <serde's message>` (`policies[1].spec.images[0]: unknown
    /// field \`regex\`, expected \`glob\``): the top-level fields' first, then each CIP's, ordered
    /// by path (mapping keys in alphabetical order: the document is read as a JSON value).
    pub errors: Vec<String>,
    /// The settings without what did not decode, and the positions of the CIPs that did not
    /// (each replaced by an empty CIP): what the other checks can still look at. `None` when
    /// the document is not settings at all (a manifest pasted in their place).
    pub rest: Option<Box<(Settings, BTreeSet<usize>)>>,
}

/// Every decode error of `bytes`, a JSON document the plain decoder refused.
///
/// A ClusterImagePolicy, a `List` or a Kubewarden policy manifest given as the whole settings
/// document is one error that says where its content belongs ([`misplaced_manifest`]).
pub fn undecodable(bytes: &[u8]) -> Undecodable {
    let mut value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        // Not JSON (the host always sends JSON): serde_json's own message.
        Err(_) => {
            return Undecodable {
                errors: vec![first_error(bytes)],
                rest: None,
            };
        }
    };
    if let Some(message) = misplaced_manifest(&value) {
        return Undecodable {
            errors: vec![message],
            rest: None,
        };
    }
    let mut cip_errors = Vec::new();
    let mut failed = BTreeSet::new();
    if let Some(Value::Array(policies)) = value.get_mut("policies") {
        for (i, policy) in policies.iter_mut().enumerate() {
            let (errors, _) = collect::<Strict<ClusterImagePolicy>>(policy.clone());
            if !errors.is_empty() {
                cip_errors.extend(
                    errors
                        .into_iter()
                        .map(|e| prefixed(&format!("policies[{i}]"), &e)),
                );
                failed.insert(i);
                *policy = Value::Object(serde_json::Map::new());
            }
        }
    }
    let (errors, settings) = collect::<Strict<Settings>>(value);
    let settings = settings.map(|s| s.0);
    // An error of the document itself has no path.
    let mut errors: Vec<String> = errors
        .into_iter()
        .map(|e| e.strip_prefix(".: ").map(str::to_string).unwrap_or(e))
        .collect();
    errors.extend(cip_errors);
    if errors.is_empty() {
        // The JSON value decodes where the bytes did not (a duplicate key, which a JSON value
        // cannot hold): the bytes' own error.
        let error = first_error(bytes);
        errors.push(
            error
                .strip_prefix(".: ")
                .map(str::to_string)
                .unwrap_or(error),
        );
    }
    Undecodable {
        errors,
        rest: settings.map(|s| Box::new((s, failed))),
    }
}

/// `prefix.path: message`, or `prefix: message` for an error of the value itself.
fn prefixed(prefix: &str, error: &str) -> String {
    match error.strip_prefix(".: ") {
        Some(rest) => format!("{prefix}: {rest}"),
        None => format!("{prefix}.{error}"),
    }
}

/// The first decode error of `bytes`, with its path, as one message (`.: …` for the root).
fn first_error(bytes: &[u8]) -> String {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Settings>(de) {
        Ok(_) => "the settings do not decode".to_string(),
        Err(e) => render(e.path(), &e.inner().to_string()),
    }
}

/// `<path>: <message>`, `.` being the root. serde_json's ` at line L column C` is cut: it counts
/// in the JSON the host built from the user's YAML, which would only mislead. A string value
/// serde quotes (`invalid type: string "…", expected struct KeyRef`) that holds a private key is
/// not shown ([`crate::pem::shown`]).
fn render(path: &serde_path_to_error::Path, message: &str) -> String {
    let message = match message.rsplit_once(" at line ") {
        Some((text, _)) => text,
        None => message,
    };
    format!("{path}: {}", without_private_keys(message))
}

/// `message`, with a quoted string that holds a private key replaced by
/// [`crate::pem::PRIVATE_KEY_SHOWN_AS`] (the whole message when it cannot be cut out).
fn without_private_keys(message: &str) -> String {
    let quoted = message.split_once("string \"").and_then(|(before, rest)| {
        rest.rsplit_once("\", expected ")
            .map(|(q, after)| (before, q, after))
    });
    match quoted {
        Some((before, quoted, after)) if crate::pem::shown(quoted) != quoted => format!(
            "{before}string {}, expected {after}",
            crate::pem::PRIVATE_KEY_SHOWN_AS
        ),
        _ if crate::pem::shown(message) != message => {
            format!(
                "a value that holds a private key ({})",
                crate::pem::PRIVATE_KEY_SHOWN_AS
            )
        }
        _ => message.to_string(),
    }
}

/// Decodes `value` as `T`, taking out each value that does not decode, until it does. Returns
/// the errors (`<path>: <message>`, `.` for `value` itself; ordered by path, mapping keys in
/// alphabetical order) and what decoded once they were taken out, `None` when `value` itself
/// does not decode or an error cannot be taken out. Then, or after [`MAX_ERRORS`], the last
/// error says that the ones after it are not reported (unless it is about `value` itself).
fn collect<T: DeserializeOwned>(mut value: Value) -> (Vec<String>, Option<T>) {
    let mut errors: Vec<String> = Vec::new();
    // The last path taken out and how many replacements it has had.
    let mut last: Option<(String, usize)> = None;
    loop {
        // Decoded from its JSON text rather than from the value: the module then holds one
        // path-tracking instance of the model's decoders (the one `first_error` needs too), not
        // a second one for `serde_json::Value` (about 100 KB of wasm).
        let text = match serde_json::to_vec(&value) {
            Ok(text) => text,
            Err(e) => {
                errors.push(format!(".: {e}"));
                return (errors, None);
            }
        };
        let de = &mut serde_json::Deserializer::from_slice(&text);
        let error = match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(decoded) => return (errors, Some(decoded)),
            Err(e) => e,
        };
        if error.path().iter().next().is_none() {
            errors.push(render(error.path(), &error.inner().to_string()));
            return (errors, None);
        }
        let path = error.path().to_string();
        let tries = match &last {
            Some((previous, tries)) if *previous == path => tries + 1,
            _ => {
                errors.push(render(error.path(), &error.inner().to_string()));
                0
            }
        };
        let segments: Vec<&Segment> = error.path().iter().collect();
        if errors.len() >= MAX_ERRORS || !take_out(&mut value, &segments, tries) {
            if let Some(error) = errors.last_mut() {
                error.push_str(
                    "\n(the errors after this one are not reported: they are checked once it is fixed)",
                );
            }
            return (errors, None);
        }
        last = Some((path, tries));
    }
}

/// Takes the value at `path` out of `value`: a mapping entry is removed, a list element is
/// replaced by `{}` (first try) or `""` (second). `false` when there is no such value, the path
/// is the whole value, or the element has had both replacements.
fn take_out(value: &mut Value, path: &[&Segment], tries: usize) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut parent = value;
    for segment in parents {
        let next = match (segment, parent) {
            (Segment::Map { key }, Value::Object(map)) => map.get_mut(key),
            (Segment::Seq { index }, Value::Array(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => parent = next,
            None => return false,
        }
    }
    match (last, parent) {
        (Segment::Map { key }, Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(items)) => {
            let neutral = match tries {
                0 => Value::Object(serde_json::Map::new()),
                1 => Value::String(String::new()),
                _ => return false,
            };
            match items.get_mut(*index) {
                Some(item) => {
                    *item = neutral;
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// The message for a manifest given as the whole settings document, `None` for anything else:
///
/// - a ClusterImagePolicy (top-level `kind: ClusterImagePolicy`): it goes in the list under
///   `policies:`;
/// - a `List` (what `kubectl get clusterimagepolicies -o yaml` prints): its `items` go there;
/// - a Kubewarden policy (`ClusterAdmissionPolicy`, `AdmissionPolicy`, their groups): the
///   settings are its `spec.settings`;
/// - a CIP's `spec` alone (top-level `images` or `authorities`): wrap it in a CIP.
pub fn misplaced_manifest(value: &Value) -> Option<String> {
    let map = value.as_object()?;
    if map.contains_key("policies") {
        return None;
    }
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(|n| format!(" {n}"))
        .unwrap_or_default();
    const SETTINGS: &str =
        "the settings are a mapping with the ClusterImagePolicies in a list under `policies:`";
    let message = match kind {
        "ClusterImagePolicy" => format!(
            "the settings are a ClusterImagePolicy manifest (ClusterImagePolicy{name}), not the policy's settings: {SETTINGS}; indent the manifest under it:\npolicies:\n  - apiVersion: policy.sigstore.dev/v1beta1\n    kind: ClusterImagePolicy\n    …"
        ),
        "ClusterAdmissionPolicy"
        | "AdmissionPolicy"
        | "ClusterAdmissionPolicyGroup"
        | "AdmissionPolicyGroup" => format!(
            "the settings are a Kubewarden {kind} manifest ({kind}{name}), not the policy's settings: use its spec.settings as the settings document"
        ),
        list if list.ends_with("List") && map.contains_key("items") => format!(
            "the settings are a {list} manifest (as `kubectl get clusterimagepolicies -o yaml` prints), not the policy's settings: {SETTINGS}; put its items there (or let `cip-runner migrate` write the ClusterAdmissionPolicy)"
        ),
        "" if map.contains_key("images") || map.contains_key("authorities") => format!(
            "the settings hold `images`/`authorities`, the fields of a ClusterImagePolicy's spec: {SETTINGS}, each with apiVersion, kind, metadata.name and this spec:\npolicies:\n  - apiVersion: policy.sigstore.dev/v1beta1\n    kind: ClusterImagePolicy\n    metadata:\n      name: my-policy\n    spec:\n      images: …\n      authorities: …"
        ),
        _ => return None,
    };
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(value: Value) -> Vec<String> {
        undecodable(&serde_json::to_vec(&value).unwrap()).errors
    }

    #[test]
    fn every_type_error_is_reported() {
        assert_eq!(
            errors(json!({
                "noMatchPolicy": true,
                "regoTimeoutMilliseconds": "1s",
                "polices": [],
                "policies": [
                    {"metadata": {"name": "a"}, "spec": {"images": [{"regex": "x"}, "ghcr.io/*"], "authorities": [{"static": {"action": "pass", "mesage": "x"}}]}},
                    {"metadata": {"name": "b"}, "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}]}},
                    "not a CIP",
                    {"metadata": {"name": "d"}, "spec": {"mode": ["warn"], "match": [{"selector": {"matchExpressions": [{"key": "k", "operator": "In", "values": [1, "x", false]}]}}]}}
                ]
            })),
            [
                "noMatchPolicy: invalid type: boolean `true`, expected one of `deny`, `warn`, `allow`",
                "polices: unknown field `polices`, expected one of `noMatchPolicy`, `policies`, `regoTimeoutMilliseconds`, `modifyImagesWithDigest`, `policyControllerNamespace`, `hostSigstoreTrust`, `requestBudgetMilliseconds`, `hostPolicyTimeoutSeconds`",
                "regoTimeoutMilliseconds: invalid type: string \"1s\", expected u64",
                "policies[0].spec.authorities[0].static.mesage: unknown field `mesage`, expected `action` or `message`",
                "policies[0].spec.images[0].regex: unknown field `regex`, expected `glob`",
                "policies[0].spec.images[1]: invalid type: string \"ghcr.io/*\", expected struct ImagePattern",
                "policies[2]: invalid type: string \"not a CIP\", expected struct ClusterImagePolicy",
                "policies[3].spec.match[0].selector.matchExpressions[0].values[0]: invalid type: integer `1`, expected a string",
                "policies[3].spec.match[0].selector.matchExpressions[0].values[2]: invalid type: boolean `false`, expected a string",
                "policies[3].spec.mode: invalid type: sequence, expected a string",
            ]
        );
    }

    #[test]
    fn what_decodes_is_kept_for_the_other_checks() {
        let u = undecodable(
            br#"{"noMatchPolicy":"warn","regoTimeoutMilliseconds":-1,"policies":[{"metadata":{"name":"a"},"spec":{"mode":1}},{"metadata":{"name":"b"}}]}"#,
        );
        assert_eq!(
            u.errors,
            [
                "regoTimeoutMilliseconds: invalid value: integer `-1`, expected u64",
                "policies[0].spec.mode: invalid type: integer `1`, expected a string",
            ]
        );
        let (settings, failed) = *u.rest.expect("rest");
        assert_eq!(failed, BTreeSet::from([0]));
        assert_eq!(settings.no_match_policy, super::super::NoMatchPolicy::Warn);
        assert_eq!(
            settings.rego_timeout_milliseconds,
            super::super::DEFAULT_REGO_TIMEOUT_MS
        );
        assert_eq!(settings.policies[0], ClusterImagePolicy::default());
        assert_eq!(settings.policies[1].name(), "b");
    }

    #[test]
    fn errors_past_the_limit_are_summed_up() {
        let images: Vec<Value> = (0..60).map(|i| json!({"glob": "**", "x": i})).collect();
        let e =
            errors(json!({"policies": [{"metadata": {"name": "a"}, "spec": {"images": images}}]}));
        assert_eq!(e.len(), MAX_ERRORS);
        assert_eq!(
            e[MAX_ERRORS - 1],
            "policies[0].spec.images[49].x: unknown field `x`, expected `glob`\n(the errors after this one are not reported: they are checked once it is fixed)"
        );
    }

    #[test]
    fn manifests_pasted_as_the_settings_say_where_they_belong() {
        let cip = json!({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed"}, "spec": {"images": [{"glob": "**"}]}});
        assert_eq!(
            errors(cip.clone()),
            [
                "the settings are a ClusterImagePolicy manifest (ClusterImagePolicy signed), not the policy's settings: the settings are a mapping with the ClusterImagePolicies in a list under `policies:`; indent the manifest under it:\npolicies:\n  - apiVersion: policy.sigstore.dev/v1beta1\n    kind: ClusterImagePolicy\n    …"
            ]
        );
        assert_eq!(
            errors(json!({"apiVersion": "v1", "kind": "List", "items": [cip]})),
            [
                "the settings are a List manifest (as `kubectl get clusterimagepolicies -o yaml` prints), not the policy's settings: the settings are a mapping with the ClusterImagePolicies in a list under `policies:`; put its items there (or let `cip-runner migrate` write the ClusterAdmissionPolicy)"
            ]
        );
        assert_eq!(
            errors(
                json!({"apiVersion": "policies.kubewarden.io/v1", "kind": "ClusterAdmissionPolicy", "metadata": {"name": "cip"}, "spec": {"settings": {"policies": []}}})
            ),
            [
                "the settings are a Kubewarden ClusterAdmissionPolicy manifest (ClusterAdmissionPolicy cip), not the policy's settings: use its spec.settings as the settings document"
            ]
        );
        let spec_only = errors(
            json!({"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}]}),
        );
        assert_eq!(spec_only.len(), 1);
        assert!(spec_only[0].starts_with("the settings hold `images`/`authorities`, the fields of a ClusterImagePolicy's spec: "), "{spec_only:?}");
        // Settings that have `policies` are settings, whatever else is wrong with them.
        assert_eq!(
            errors(json!({"kind": "ClusterImagePolicy", "policies": []})),
            [
                "kind: unknown field `kind`, expected one of `noMatchPolicy`, `policies`, `regoTimeoutMilliseconds`, `modifyImagesWithDigest`, `policyControllerNamespace`, `hostSigstoreTrust`, `requestBudgetMilliseconds`, `hostPolicyTimeoutSeconds`"
            ]
        );
    }

    /// An element that neither `{}` nor `""` can stand for stops the errors of its value.
    #[test]
    fn an_error_that_cannot_be_taken_out_says_so() {
        let (errors, decoded) = collect::<Vec<u64>>(json!([1, "a", 3, "b"]));
        assert_eq!(
            errors,
            [
                "[1]: invalid type: string \"a\", expected u64\n(the errors after this one are not reported: they are checked once it is fixed)"
            ]
        );
        assert_eq!(decoded, None);
        let (errors, decoded) = collect::<Vec<u64>>(json!("a"));
        assert_eq!(
            errors,
            [".: invalid type: string \"a\", expected a sequence"]
        );
        assert_eq!(decoded, None);
    }

    /// serde quotes a string of the wrong type; a private key in it is not shown.
    #[test]
    fn private_keys_in_type_errors_are_not_shown() {
        let private = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIK\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            errors(
                json!({"policies": [{"metadata": {"name": "a"}, "spec": {"authorities": [{"key": private}]}}]})
            ),
            [
                "policies[0].spec.authorities[0].key: invalid type: string <private key, not shown>, expected struct KeyRef"
            ]
        );
        assert_eq!(
            without_private_keys("unknown variant `PRIVATE KEY`, expected `x`"),
            "a value that holds a private key (<private key, not shown>)"
        );
        assert_eq!(
            without_private_keys("invalid type: string \"pass\", expected a boolean"),
            "invalid type: string \"pass\", expected a boolean"
        );
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefixed("policies[2]", ".: x"), "policies[2]: x");
        assert_eq!(
            prefixed("policies[2]", "spec.mode: x"),
            "policies[2].spec.mode: x"
        );
    }
}
