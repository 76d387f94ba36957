//! Workload images: which admission requests are checked, and every image they run, each with
//! its field path.
//!
//! Source: `sigstore/policy-controller` `cmd/webhook/main.go` L179-213 (kinds, subresources)
//! and `pkg/webhook/validator.go` L73-75, L155-159, L393-396 (skips, image order). Images are
//! listed in upstream's order: `initContainers`, `containers`, `ephemeralContainers`, then image
//! volumes (`volumes[i].image.reference`, reported at `volumes[i].image`).
//!
//! Kinds: Pod (also its `ephemeralcontainers` subresource), Deployment, ReplicaSet,
//! StatefulSet, DaemonSet, ReplicationController, Job, CronJob.
//!
//! Only the fields the policy reads are decoded, straight from the request's JSON, with the
//! field names and shapes of k8s-openapi's types: `metadata.labels` (strings),
//! `metadata.deletionTimestamp`, and the pod spec's `initContainers`, `containers`,
//! `ephemeralContainers` (arrays of objects whose `image` is a string) and
//! `volumes[].image.reference`; `null` wherever k8s-openapi has an `Option`. An object of a
//! checked kind whose fields read have another shape is rejected, naming the field. Everything
//! else is skipped without being built: decoding the whole object into a `serde_json::Value`
//! and then into k8s-openapi's typed `Deployment` (env, probes, resources, ...) was the largest
//! part of a request's cost (BENCHMARKS.md), for fields the API server has already validated
//! and the policy never reads. `spec` and `metadata` are decoded into values only when a CIP's
//! Rego asks for them (`includeSpec`, `includeObjectMeta`).

use crate::strict::Strict;
use kubewarden_policy_sdk::request::GroupVersionKind;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// The kinds checked: `(group, kind, resource, scalable)`. Scalable kinds skip an UPDATE that
/// only lowers `spec.replicas`. Pods are also checked through `pods/ephemeralcontainers`.
pub const KINDS: [(&str, &str, &str, bool); 8] = [
    ("", "Pod", "pods", false),
    ("apps", "Deployment", "deployments", true),
    ("apps", "ReplicaSet", "replicasets", true),
    ("apps", "StatefulSet", "statefulsets", true),
    ("apps", "DaemonSet", "daemonsets", false),
    ("", "ReplicationController", "replicationcontrollers", true),
    ("batch", "Job", "jobs", false),
    ("batch", "CronJob", "cronjobs", false),
];

/// Subresources checked besides the main resource: `(resource, subresource)`.
pub const SUBRESOURCES: [(&str, &str); 1] = [("pods", "ephemeralcontainers")];

/// One image of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadImage {
    /// Field path as upstream reports it: `spec.template.spec.containers[0].image`.
    pub path: String,
    /// JSON pointer of the image string in the object: `/spec/template/spec/containers/0/image`.
    pub pointer: String,
    /// The image exactly as written.
    pub image: String,
}

/// The fields of a Kubernetes `AdmissionRequest` the policy reads, with the objects borrowed
/// as raw JSON (decoded only as far as needed). Like the SDK's `KubernetesAdmissionRequest`
/// (kubewarden-policy-sdk 0.17 `src/request.rs`): every field may be absent, and both the
/// Kubernetes (`subResource`, `oldObject`) and the snake_case spellings are accepted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AdmissionRequest<'a> {
    /// `kind`: group, version and kind of the object (an object: an array is refused).
    #[serde(deserialize_with = "crate::strict::object")]
    pub kind: GroupVersionKind,
    /// `subResource` (`""` for the main resource).
    #[serde(rename = "subResource", alias = "sub_resource")]
    pub sub_resource: String,
    /// `operation`: `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    pub operation: String,
    /// `object`, as JSON; `None` when absent or `null`.
    #[serde(borrow)]
    pub object: Option<&'a RawValue>,
    /// `oldObject`, as JSON; `None` when absent or `null`.
    #[serde(borrow, rename = "oldObject", alias = "old_object")]
    pub old_object: Option<&'a RawValue>,
}

/// A workload to check: its images and what the Rego input may include (borrowed from the
/// admission request's object, found on first use).
#[derive(Debug, Clone)]
pub struct Workload<'a> {
    /// `kind` of the object (`Pod`, `Deployment`, ...).
    pub kind: String,
    /// `apiVersion` of the object (`v1`, `apps/v1`, ...).
    pub api_version: String,
    /// Lowercase plural resource (`pods`, `deployments`, ...).
    pub resource: &'static str,
    /// Every image, in upstream's order.
    pub images: Vec<WorkloadImage>,
    /// `metadata.labels` of the object (for `spec.match` label selectors).
    pub labels: BTreeMap<String, String>,
    /// The object, as JSON.
    pub object: Option<&'a RawValue>,
    parts: OnceCell<Result<Parts<'a>, String>>,
    scanned: OnceCell<bool>,
}

/// Equal when every field is, `spec` and `metadata` compared as JSON text.
impl PartialEq for Workload<'_> {
    fn eq(&self, other: &Self) -> bool {
        fn text(r: Option<&RawValue>) -> Option<&str> {
            r.map(RawValue::get)
        }
        self.kind == other.kind
            && self.api_version == other.api_version
            && self.resource == other.resource
            && self.images == other.images
            && self.labels == other.labels
            && text(self.object) == text(other.object)
    }
}

impl<'a> Workload<'a> {
    /// A workload from its parts (the object as JSON).
    pub fn new(
        kind: &str,
        api_version: &str,
        resource: &'static str,
        images: Vec<WorkloadImage>,
        labels: BTreeMap<String, String>,
        object: Option<&'a RawValue>,
    ) -> Self {
        Workload {
            kind: kind.to_string(),
            api_version: api_version.to_string(),
            resource,
            images,
            labels,
            object,
            parts: OnceCell::new(),
            scanned: OnceCell::new(),
        }
    }

    /// Whether every part of the object (`spec`, `metadata`) is known to build as a Rego input
    /// value without decoding it (`true` without an object), from one byte scan of the object's
    /// JSON on first use ([`crate::rego::input::Scan::always_builds`]).
    pub fn object_always_builds(&self) -> bool {
        *self.scanned.get_or_init(|| {
            self.object
                .is_none_or(|o| crate::rego::input::scan(o.get()).always_builds())
        })
    }

    /// The object's `spec` as JSON text, borrowed from the request (for `includeSpec`; `null`
    /// when absent). The Rego input is built from it (`crate::rego::input`), once per request.
    ///
    /// Errors: serde_json's message when the object cannot be read as a JSON object (it was
    /// read once already, by [`extract`]).
    pub fn spec_json(&self) -> Result<&'a str, String> {
        self.part(|p| p.spec)
    }

    /// The object's `metadata` as JSON text (for `includeObjectMeta`; `null` when absent).
    /// Errors as [`Workload::spec_json`].
    pub fn metadata_json(&self) -> Result<&'a str, String> {
        self.part(|p| p.metadata)
    }

    /// One top-level field of the object as JSON text (`null` when absent); the object is
    /// scanned once for both.
    fn part(
        &self,
        field: impl FnOnce(&Parts<'a>) -> Option<&'a RawValue>,
    ) -> Result<&'a str, String> {
        let parts = self.parts.get_or_init(|| match self.object {
            None => Ok(Parts::default()),
            Some(object) => serde_json::from_str(object.get()).map_err(|e| e.to_string()),
        });
        match parts {
            Ok(parts) => Ok(field(parts).map_or("null", RawValue::get)),
            Err(e) => Err(e.clone()),
        }
    }
}

/// A raw JSON value as a `Value` (`null` when absent).
fn to_value(raw: Option<&RawValue>) -> Result<Value, String> {
    match raw {
        None => Ok(Value::Null),
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| e.to_string()),
    }
}

/// What to do with an admission request.
#[derive(Debug, Clone, PartialEq)]
pub enum Extraction<'a> {
    /// Accept without checks, for the reason given (DELETE, another kind, a scale-down, ...).
    Skip(&'static str),
    /// Check these images.
    Check(Workload<'a>),
    /// Reject: the object of a checked kind cannot be decoded.
    Invalid(String),
}

/// Decides whether `request` is checked and extracts its images.
///
/// Errors ([`Extraction::Invalid`]): `cannot decode the admission request: …` for an
/// operation other than `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or a missing `kind.kind`;
/// `cannot decode the <Kind>: <field>: <what is wrong>` when the object, its metadata or its
/// image fields do not have the shapes of k8s-openapi's types.
pub fn extract<'a>(request: &AdmissionRequest<'a>) -> Extraction<'a> {
    match request.operation.as_str() {
        "CREATE" | "UPDATE" => {}
        "DELETE" | "CONNECT" => return Extraction::Skip("only CREATE and UPDATE are checked"),
        other => {
            return Extraction::Invalid(format!(
                "cannot decode the admission request: operation: expected CREATE, UPDATE, DELETE or CONNECT, found {other:?}"
            ));
        }
    }
    if request.kind.kind.is_empty() {
        return Extraction::Invalid(
            "cannot decode the admission request: kind.kind: missing or empty".to_string(),
        );
    }
    let group = request.kind.group.as_str();
    let kind = request.kind.kind.as_str();
    let Some(&(_, _, resource, scalable)) =
        KINDS.iter().find(|(g, k, _, _)| *g == group && *k == kind)
    else {
        return Extraction::Skip("the kind is not a workload");
    };
    match (resource, request.sub_resource.as_str()) {
        (_, "") => {}
        pair if SUBRESOURCES.contains(&pair) => {}
        _ => return Extraction::Skip("the subresource holds no image"),
    }
    let invalid = |e: String| Extraction::Invalid(format!("cannot decode the {kind}: {e}"));
    let (api_version, metadata, pod_spec) = match decode_object(kind, request.object) {
        Ok(Some(parts)) => parts,
        Ok(None) => return invalid("the object: invalid type: null, expected an object".into()),
        Err(e) => return invalid(e),
    };
    let images = match &pod_spec {
        Some((prefix, spec)) => pod_spec_images(prefix, spec),
        None => Vec::new(),
    };
    // Upstream skips any object with a deletionTimestamp (validator.go L155-159): its validating
    // webhook sees the object after the API server has cleared that field on CREATE. A
    // Kubewarden mutating policy sees it before, so a client could set it to slip an image
    // past the check. Only an UPDATE of an object that was already being deleted, and that
    // leaves every image as it was, is skipped (an update of a terminating object may still
    // change its images: a Pod's container images are mutable, and a Deployment waiting on a
    // finalizer can be edited).
    if metadata.deletion_timestamp.is_some()
        && request.operation == "UPDATE"
        && was_being_deleted(request.old_object)
        && old_images(kind, request.old_object).as_ref() == Some(&images)
    {
        return Extraction::Skip("the object is being deleted");
    }
    if scalable
        && request.operation == "UPDATE"
        && is_scale_down_only(request.object, request.old_object)
    {
        return Extraction::Skip("the update only scales the workload down");
    }
    Extraction::Check(Workload::new(
        kind,
        api_version.as_deref().unwrap_or_default(),
        resource,
        images,
        metadata.labels.unwrap_or_default(),
        request.object,
    ))
}

/// One pass over an object of a checked `kind`: its API version, metadata and pod spec (with
/// the spec's dotted path) are decoded, the rest is skipped. `Ok(None)` for an absent or
/// `null` object; errors as [`decode`].
fn decode_object(kind: &str, raw: Option<&RawValue>) -> Result<Option<ObjectParts>, String> {
    match kind {
        "Pod" => {
            decode::<ObjectView<PodSpec>>(raw).map(|o| o.map(|o| o.with_pod_spec("spec", Some)))
        }
        "CronJob" => decode::<ObjectView<CronJobSpec>>(raw).map(|o| {
            o.map(|o| {
                o.with_pod_spec("spec.jobTemplate.spec.template.spec", |s| {
                    s.job_template?.0.spec?.0.template?.0.spec.map(|s| s.0)
                })
            })
        }),
        _ => decode::<ObjectView<TemplateSpec>>(raw).map(|o| {
            o.map(|o| o.with_pod_spec("spec.template.spec", |s| s.template?.0.spec.map(|s| s.0)))
        }),
    }
}

/// The images of `oldObject`, when it decodes as a `kind` (`None` otherwise: then nothing is
/// known to be unchanged, and the new object is checked).
fn old_images(kind: &str, old_object: Option<&RawValue>) -> Option<Vec<WorkloadImage>> {
    match decode_object(kind, old_object) {
        Ok(Some((_, _, Some((prefix, spec))))) => Some(pod_spec_images(prefix, &spec)),
        Ok(Some((_, _, None))) => Some(Vec::new()),
        _ => None,
    }
}

/// Whether `oldObject` has a `metadata.deletionTimestamp` (an old object that does not decode
/// does not, so the new one is checked).
fn was_being_deleted(old_object: Option<&RawValue>) -> bool {
    matches!(
        decode::<OldObjectView>(old_object),
        Ok(Some(OldObjectView { metadata: Some(m) })) if m.0.deletion_timestamp.is_some()
    )
}

/// Upstream skips any UPDATE lowering `spec.replicas` (`podscalable_types.go` L108-119), even
/// one that also changes the pod template. We skip only when the template is unchanged, so a
/// new image cannot slip in with a scale-down.
fn is_scale_down_only(object: Option<&RawValue>, old_object: Option<&RawValue>) -> bool {
    // An object that cannot be built as a value (too deep, a number past an f64, a lone
    // surrogate escape) is not a scale-down: it is checked.
    let (Ok(object), Ok(old_object)) = (to_value(object), to_value(old_object)) else {
        return false;
    };
    let replicas = |o: &Value| o["spec"]["replicas"].as_i64().unwrap_or(1);
    replicas(&object) < replicas(&old_object)
        && object["spec"]["template"] == old_object["spec"]["template"]
}

/// Decodes `raw` (`None`/`null` → `Ok(None)`) into a view. Errors name the field
/// (`spec.containers[1].image: invalid type: integer `5`, expected a string`); the path is
/// tracked only when decoding has failed.
fn decode<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Result<Option<T>, String> {
    let Some(raw) = raw else { return Ok(None) };
    if let Ok(view) = serde_json::from_str::<Option<Strict<T>>>(raw.get()) {
        return Ok(view.map(|v| v.0));
    }
    let de = &mut serde_json::Deserializer::from_str(raw.get());
    match serde_path_to_error::deserialize::<_, Option<Strict<T>>>(de) {
        Ok(view) => Ok(view.map(|v| v.0)),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            let inner = inner
                .rsplit_once(" at line ")
                .map_or(inner.as_str(), |(t, _)| t);
            let path = if path == "." { "the object" } else { &path };
            Err(format!("{path}: {inner}"))
        }
    }
}

/// The fields of a workload object read in one pass; `S` is the kind's `spec`.
#[derive(Deserialize)]
struct ObjectView<S> {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    metadata: Option<Strict<MetadataView>>,
    spec: Option<Strict<S>>,
}

/// The object's API version, metadata and pod spec (with its dotted path).
type ObjectParts = (
    Option<String>,
    MetadataView,
    Option<(&'static str, PodSpec)>,
);

impl<S> ObjectView<S> {
    fn with_pod_spec(
        self,
        prefix: &'static str,
        pod_spec: impl FnOnce(S) -> Option<PodSpec>,
    ) -> ObjectParts {
        (
            self.api_version,
            self.metadata.map(|m| m.0).unwrap_or_default(),
            self.spec.and_then(|s| pod_spec(s.0)).map(|s| (prefix, s)),
        )
    }
}

#[derive(Deserialize, Default)]
struct MetadataView {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    /// k8s-openapi's `Time`: an RFC 3339 string.
    #[serde(default, rename = "deletionTimestamp")]
    deletion_timestamp: Option<String>,
}

/// The part of `oldObject` that tells whether the object was already being deleted.
#[derive(Deserialize)]
struct OldObjectView {
    metadata: Option<Strict<MetadataView>>,
}

/// The `spec` and `metadata` of an object, as JSON (for the Rego input).
#[derive(Debug, Clone, Default, Deserialize)]
struct Parts<'a> {
    #[serde(default, borrow)]
    spec: Option<&'a RawValue>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Spec<T> {
    spec: Option<Strict<T>>,
}

#[derive(Deserialize)]
struct TemplateSpec {
    template: Option<Strict<Spec<PodSpec>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronJobSpec {
    job_template: Option<Strict<Spec<TemplateSpec>>>,
}

/// The image fields of k8s-openapi's `api::core::v1::PodSpec`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    init_containers: Option<Vec<Strict<Container>>>,
    containers: Option<Vec<Strict<Container>>>,
    ephemeral_containers: Option<Vec<Strict<Container>>>,
    volumes: Option<Vec<Strict<Volume>>>,
}

/// `Container.image`, `EphemeralContainer.image`.
#[derive(Deserialize)]
struct Container {
    image: Option<String>,
}

/// `Volume.image` (`ImageVolumeSource`).
#[derive(Deserialize)]
struct Volume {
    image: Option<Strict<ImageVolumeSource>>,
}

/// `ImageVolumeSource.reference`.
#[derive(Deserialize)]
struct ImageVolumeSource {
    reference: Option<String>,
}

/// Lists the images of a pod spec whose field path starts with `prefix` (dotted), in upstream's
/// order.
fn pod_spec_images(prefix: &str, spec: &PodSpec) -> Vec<WorkloadImage> {
    let pointer_prefix = format!("/{}", prefix.replace('.', "/"));
    let mut images = Vec::new();
    let mut push = |field: &str, i: usize, image: Option<&String>, tail: &str| {
        if let Some(image) = image {
            images.push(WorkloadImage {
                path: format!("{prefix}.{field}[{i}].image"),
                pointer: format!("{pointer_prefix}/{field}/{i}/image{tail}"),
                image: image.clone(),
            });
        }
    };
    let containers = [
        ("initContainers", &spec.init_containers),
        ("containers", &spec.containers),
        ("ephemeralContainers", &spec.ephemeral_containers),
    ];
    for (field, list) in containers {
        for (i, c) in list.iter().flatten().enumerate() {
            push(field, i, c.0.image.as_ref(), "");
        }
    }
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let reference = v.0.image.as_ref().and_then(|s| s.0.reference.as_ref());
        push("volumes", i, reference, "/reference");
    }
    images
}

#[cfg(test)]
mod tests;
