//! The admission request given with `--request-path`.
//!
//! kwctl reads the file (or stdin for `-`) as JSON, unwraps an
//! `AdmissionReview`, and deserializes the rest into its own
//! `AdmissionRequest` struct (kubewarden-controller
//! `crates/kwctl/src/command/run/evaluator.rs` L247-274,
//! `crates/kwctl/src/config/pull_and_run.rs` L77-97). The guest then receives
//! that struct *re-serialized*, not the original text, so unknown fields are
//! dropped, `null`/absent optional fields are omitted, and a request without
//! `uid`, `kind`, `resource`, `operation` or `userInfo` is refused.
//! [`AdmissionRequest`] mirrors that struct
//! (`crates/policy-evaluator/src/admission_request.rs` L1-44) so the guest
//! sees the same JSON as under kwctl.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

/// Upstream `GroupVersionKind` (all three fields required).
#[derive(Clone, Debug, Default, Serialize, Deserialize, Eq, PartialEq)]
pub struct GroupVersionKind {
    /// API group (`""` for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// Upstream `GroupVersionResource` (all three fields required).
#[derive(Clone, Debug, Default, Serialize, Deserialize, Eq, PartialEq)]
pub struct GroupVersionResource {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource (plural).
    pub resource: String,
}

/// `k8s_openapi::api::authentication::v1::UserInfo`: every field optional and
/// omitted when absent, serialized in this (alphabetical) order.
#[derive(Clone, Debug, Default, Serialize, Deserialize, Eq, PartialEq)]
pub struct UserInfo {
    /// Extra authenticator data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<String, Vec<String>>>,
    /// Groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// User UID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Mirror of kwctl's `AdmissionRequest` (admission_request.rs L1-30):
/// camelCase; optional fields omitted when absent or `null`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Request UID, copied into the response.
    pub uid: String,
    /// Kind of the object.
    pub kind: GroupVersionKind,
    /// Resource being requested.
    pub resource: GroupVersionResource,
    /// Subresource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    /// Original kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    /// Original resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    /// Original subresource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_sub_resource: Option<String>,
    /// Object name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: String,
    /// Requesting user.
    pub user_info: UserInfo,
    /// The object (absent or `null` for DELETE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
    /// The previous object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_object: Option<serde_json::Value>,
    /// Dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Operation options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
}

impl AdmissionRequest {
    /// Builds the request from parsed JSON, as kwctl's `build_validate_request`
    /// (evaluator.rs L247-274): a JSON object whose `kind` is the string
    /// `AdmissionReview` is unwrapped to its `request`; anything else is taken
    /// as a bare AdmissionRequest.
    ///
    /// # Errors
    /// kwctl's texts: `Invalid request object` (not a JSON object),
    /// `invalid AdmissionReview object` (review without `request`),
    /// `cannot build AdmissionRequest object from given input: <serde error>`.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let serde_json::Value::Object(object) = value else {
            return Err(anyhow!("Invalid request object"));
        };
        let request =
            if object.get("kind").and_then(serde_json::Value::as_str) == Some("AdmissionReview") {
                object
                    .get("request")
                    .cloned()
                    .ok_or_else(|| anyhow!("invalid AdmissionReview object"))?
            } else {
                serde_json::Value::Object(object)
            };
        serde_json::from_value(request)
            .map_err(|e| anyhow!("cannot build AdmissionRequest object from given input: {e}"))
    }

    /// Reads `--request-path`: a file, or stdin when `path` is `-`.
    ///
    /// # Errors
    /// kwctl's texts: `Error reading request from stdin: <io error>`,
    /// `Error opening request file <path>; <io error>`, serde_json's message
    /// for invalid JSON, then the errors of [`AdmissionRequest::from_json`].
    pub fn load(path: &str) -> Result<Self> {
        let raw = if path == "-" {
            let mut buffer = String::new();
            std::io::stdin()
                .read_to_string(&mut buffer)
                .map_err(|e| anyhow!("Error reading request from stdin: {e}"))?;
            buffer
        } else {
            std::fs::read_to_string(Path::new(path))
                .map_err(|e| anyhow!("Error opening request file {path}; {e}"))?
        };
        let value: serde_json::Value = serde_json::from_str(&raw)?;
        Self::from_json(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bare() -> serde_json::Value {
        json!({
            "uid": "abc",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["g"]},
            "name": "p",
            "namespace": "default",
            "object": {"metadata": {"name": "p"}},
            "oldObject": null,
            "dryRun": false,
            "unknownField": 1
        })
    }

    #[test]
    fn bare_request_is_taken_as_is() {
        let req = AdmissionRequest::from_json(bare()).expect("valid");
        assert_eq!(req.uid, "abc");
        assert_eq!(req.object, Some(json!({"metadata": {"name": "p"}})));
    }

    #[test]
    fn admission_review_is_unwrapped() {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": bare()
        });
        let req = AdmissionRequest::from_json(review).expect("valid");
        assert_eq!(req, AdmissionRequest::from_json(bare()).expect("valid"));
    }

    #[test]
    fn review_without_request_and_non_objects_are_refused() {
        let e =
            AdmissionRequest::from_json(json!({"kind": "AdmissionReview"})).expect_err("refused");
        assert_eq!(e.to_string(), "invalid AdmissionReview object");
        let e = AdmissionRequest::from_json(json!([1])).expect_err("refused");
        assert_eq!(e.to_string(), "Invalid request object");
        let e = AdmissionRequest::from_json(json!({"uid": "x"})).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "cannot build AdmissionRequest object from given input: missing field `kind`"
        );
    }

    #[test]
    fn reserialization_is_kwctls() {
        let req = AdmissionRequest::from_json(bare()).expect("valid");
        assert_eq!(
            serde_json::to_string(&req).expect("json"),
            r#"{"uid":"abc","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"name":"p","namespace":"default","operation":"CREATE","userInfo":{"groups":["g"],"username":"alice"},"object":{"metadata":{"name":"p"}},"dryRun":false}"#
        );
    }

    #[test]
    fn load_reports_missing_file_like_kwctl() {
        let e = AdmissionRequest::load("/nonexistent/req.json").expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("Error opening request file /nonexistent/req.json; "),
            "{e}"
        );
    }
}
