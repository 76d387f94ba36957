//! Guest answers and kwctl's printed `AdmissionResponse`.
//!
//! - [`ValidationResponse`] / [`SettingsValidationResponse`]: what the guest
//!   returns from `validate` / `validate_settings` (kubewarden-policy-sdk
//!   0.17.3 `src/response.rs`, `src/settings.rs`).
//! - [`AdmissionResponse`]: the line kwctl prints, serialized exactly as
//!   kubewarden-controller `crates/policy-evaluator/src/admission_response.rs`
//!   L8-175 does: camelCase, in this field order, `patchType`/`patch`/`status`
//!   omitted when absent, `auditAnnotations` and `warnings` always present
//!   (`null` when absent).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// SDK `ValidationResponse` (snake_case, every field but `accepted` optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationResponse {
    /// Whether the request is accepted.
    pub accepted: bool,
    /// Rejection message.
    pub message: Option<String>,
    /// Rejection code.
    pub code: Option<u16>,
    /// The whole mutated object, for mutating policies.
    pub mutated_object: Option<serde_json::Value>,
    /// Audit annotations.
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings for the API client.
    pub warnings: Option<Vec<String>>,
}

/// SDK `SettingsValidationResponse`: `{"valid":bool,"message":string|null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsValidationResponse {
    /// Whether the settings are valid.
    pub valid: bool,
    /// Why not.
    pub message: Option<String>,
}

/// `status` of a rejection. Upstream's struct also has `status`, `reason` and
/// `details`, which kwctl's plain `run` never sets (they are skipped when
/// absent), so only the two used fields exist here, in upstream order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionResponseStatus {
    /// Human-readable message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// HTTP-like code, only when the policy (or the host) set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// The patch type; only `JSONPatch` exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatchType {
    /// RFC 6902 JSON Patch.
    #[serde(rename = "JSONPatch")]
    JsonPatch,
}

/// kwctl's output line (upstream `AdmissionResponse`).
///
/// `audit_annotations` is a `BTreeMap` (sorted keys) where upstream has a
/// `HashMap` (random order); the content is the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's UID.
    pub uid: String,
    /// The decision.
    pub allowed: bool,
    /// `JSONPatch` when `patch` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<PatchType>,
    /// Base64 (standard alphabet, padded) of the JSON patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Rejection details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionResponseStatus>,
    /// Audit annotations (always serialized).
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings (always serialized).
    pub warnings: Option<Vec<String>>,
}

/// kwctl's message when a policy mutates a request that has no object
/// (admission_response.rs L116).
pub const MUTATION_WITHOUT_OBJECT: &str = "Incoming object is null, which happens only with DELETE operations, but the policy is attempting a mutation. This is not allowed";

impl AdmissionResponse {
    /// A rejection with a message and a code (upstream `reject`).
    pub fn reject(uid: String, message: String, code: u16) -> Self {
        Self {
            uid,
            allowed: false,
            status: Some(AdmissionResponseStatus {
                message: Some(message),
                code: Some(code),
            }),
            ..Default::default()
        }
    }

    /// `internal server error: <message>`, code 500 (upstream
    /// `reject_internal_server_error`, admission_response.rs L106-108). kwctl
    /// answers this when the `validate` call fails (guest error or trap) or
    /// when its answer cannot be used.
    pub fn reject_internal_server_error(uid: String, message: &str) -> Self {
        Self::reject(uid, format!("internal server error: {message}"), 500)
    }

    /// Turns the guest's answer into kwctl's response (upstream
    /// `from_policy_validation_response`, admission_response.rs L110-174):
    /// - a mutation of a request without object is refused with
    ///   [`MUTATION_WITHOUT_OBJECT`] (no code);
    /// - otherwise a mutation becomes a JSON patch from `request_object` to
    ///   `mutated_object` ([`json_patch_base64`]); an empty diff gives no patch;
    /// - `status` exists when the policy set a message or a code;
    /// - audit annotations and warnings are passed through.
    ///
    /// # Errors
    /// When the patch cannot be serialized (not expected).
    pub fn from_validation_response(
        uid: String,
        request_object: Option<&serde_json::Value>,
        response: &ValidationResponse,
    ) -> Result<Self> {
        let patch = match (&response.mutated_object, request_object) {
            (Some(_), None) => {
                return Ok(Self {
                    uid,
                    allowed: false,
                    status: Some(AdmissionResponseStatus {
                        message: Some(MUTATION_WITHOUT_OBJECT.to_owned()),
                        code: None,
                    }),
                    ..Default::default()
                });
            }
            (Some(mutated), Some(original)) => json_patch_base64(original, mutated)?,
            (None, _) => None,
        };
        let status = (response.message.is_some() || response.code.is_some()).then(|| {
            AdmissionResponseStatus {
                message: response.message.clone(),
                code: response.code,
            }
        });
        Ok(Self {
            uid,
            allowed: response.accepted,
            patch_type: patch.as_ref().map(|_| PatchType::JsonPatch),
            patch,
            status,
            audit_annotations: response.audit_annotations.clone(),
            warnings: response.warnings.clone(),
        })
    }

    /// The single output line (compact JSON, no newline).
    ///
    /// # Errors
    /// serde_json's error (not expected).
    pub fn to_line(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }
}

/// Recursively rebuilds objects with their keys in sorted order, so that map
/// iteration (and so the diff's operation order) is the same whether or not
/// another workspace member turns on serde_json's `preserve_order` feature.
/// kwctl's serde_json has it off (sorted maps).
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                if let Some(v) = map.get(k) {
                    out.insert(k.clone(), canonical(v));
                }
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical).collect())
        }
        other => other.clone(),
    }
}

/// The RFC 6902 patch from `original` to `mutated`, as `json_patch::diff`
/// computes it (the crate kwctl uses), serialized to compact JSON and encoded
/// with standard padded base64. `None` when the diff is empty.
///
/// # Errors
/// When the patch cannot be serialized (not expected).
pub fn json_patch_base64(
    original: &serde_json::Value,
    mutated: &serde_json::Value,
) -> Result<Option<String>> {
    let diff = json_patch::diff(&canonical(original), &canonical(mutated));
    if diff.0.is_empty() {
        return Ok(None);
    }
    let text =
        serde_json::to_string(&diff).map_err(|e| anyhow!("cannot serialize JSONPatch: {e}"))?;
    Ok(Some(base64::engine::general_purpose::STANDARD.encode(text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(b64: &str) -> String {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64"),
        )
        .expect("utf8")
    }

    fn from(resp: serde_json::Value, object: Option<serde_json::Value>) -> String {
        let resp: ValidationResponse = serde_json::from_value(resp).expect("guest json");
        AdmissionResponse::from_validation_response("u1".into(), object.as_ref(), &resp)
            .expect("response")
            .to_line()
            .expect("line")
    }

    #[test]
    fn accept_line() {
        assert_eq!(
            from(json!({"accepted": true}), Some(json!({}))),
            r#"{"uid":"u1","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn reject_without_code() {
        assert_eq!(
            from(
                json!({"accepted": false, "message": "Resource x is not accepted: nope", "code": null}),
                Some(json!({}))
            ),
            r#"{"uid":"u1","allowed":false,"status":{"message":"Resource x is not accepted: nope"},"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn reject_with_code_annotations_and_warnings() {
        assert_eq!(
            from(
                json!({"accepted": false, "message": "m", "code": 403,
                       "audit_annotations": {"b": "2", "a": "1"}, "warnings": ["w1", "w2"]}),
                Some(json!({}))
            ),
            r#"{"uid":"u1","allowed":false,"status":{"message":"m","code":403},"auditAnnotations":{"a":"1","b":"2"},"warnings":["w1","w2"]}"#
        );
    }

    #[test]
    fn accepted_with_warnings_only() {
        assert_eq!(
            from(
                json!({"accepted": true, "warnings": ["careful"]}),
                Some(json!({}))
            ),
            r#"{"uid":"u1","allowed":true,"auditAnnotations":null,"warnings":["careful"]}"#
        );
    }

    #[test]
    fn internal_server_error_line() {
        let r = AdmissionResponse::reject_internal_server_error(
            "u1".into(),
            "Guest call failure: boom",
        );
        assert_eq!(
            r.to_line().expect("line"),
            r#"{"uid":"u1","allowed":false,"status":{"message":"internal server error: Guest call failure: boom","code":500},"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn mutation_becomes_base64_json_patch() {
        let original = json!({"spec": {"containers": [{"name": "a", "image": "ghcr.io/x/y:1"}]}});
        let mutated =
            json!({"spec": {"containers": [{"name": "a", "image": "ghcr.io/x/y:1@sha256:abc"}]}});
        let line = from(
            json!({"accepted": true, "mutated_object": mutated}),
            Some(original),
        );
        let out: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(out["patchType"], "JSONPatch");
        assert_eq!(
            decode(out["patch"].as_str().expect("patch")),
            r#"[{"op":"replace","path":"/spec/containers/0/image","value":"ghcr.io/x/y:1@sha256:abc"}]"#
        );
        assert!(
            line.starts_with(r#"{"uid":"u1","allowed":true,"patchType":"JSONPatch","patch":""#)
        );
        assert!(line.ends_with(r#"","auditAnnotations":null,"warnings":null}"#));
    }

    #[test]
    fn patch_operations_add_remove_and_escaping() {
        let original =
            json!({"metadata": {"labels": {"a/b": "1", "gone": "x"}}, "list": [1, 2, 3]});
        let mutated = json!({"metadata": {"labels": {"a/b": "2", "new~k": "y"}}, "list": [1]});
        let patch = json_patch_base64(&original, &mutated)
            .expect("diff")
            .expect("non-empty");
        assert_eq!(
            decode(&patch),
            r#"[{"op":"remove","path":"/list/1"},{"op":"remove","path":"/list/1"},{"op":"replace","path":"/metadata/labels/a~1b","value":"2"},{"op":"add","path":"/metadata/labels/new~0k","value":"y"},{"op":"remove","path":"/metadata/labels/gone"}]"#
        );
    }

    #[test]
    fn identical_mutation_gives_no_patch() {
        let object = json!({"a": 1});
        assert_eq!(
            from(
                json!({"accepted": true, "mutated_object": object.clone()}),
                Some(object)
            ),
            r#"{"uid":"u1","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn mutation_without_object_is_refused() {
        assert_eq!(
            from(json!({"accepted": true, "mutated_object": {"a": 1}}), None),
            format!(
                r#"{{"uid":"u1","allowed":false,"status":{{"message":"{MUTATION_WITHOUT_OBJECT}"}},"auditAnnotations":null,"warnings":null}}"#
            )
        );
    }
}
