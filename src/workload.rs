//! Workload images: which admission requests are checked, and every image they run, each with
//! its field path.
//!
//! Source: `sigstore/policy-controller` `cmd/webhook/main.go` L179-213 (kinds, subresources)
//! and `pkg/webhook/validator.go` L73-75, L155-159, L393-396 (skips, image order). Images are
//! listed in upstream's order: `initContainers`, `containers`, `ephemeralContainers`, then image
//! volumes (`volumes[i].image.reference`, reported at `volumes[i].image`).
//!
//! Kinds: Pod (also its `ephemeralcontainers` subresource), Deployment, ReplicaSet,
//! StatefulSet, DaemonSet, ReplicationController, Job, CronJob. Objects are decoded with
//! `k8s-openapi`'s types; an object of a checked kind that does not decode is rejected.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodTemplateSpec, ReplicationController};
use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use serde_json::Value;

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

/// A workload to check: its images and what the Rego input may include.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// `kind` of the object (`Pod`, `Deployment`, ...).
    pub kind: String,
    /// `apiVersion` of the object (`v1`, `apps/v1`, ...).
    pub api_version: String,
    /// Lowercase plural resource (`pods`, `deployments`, ...).
    pub resource: &'static str,
    /// Every image, in upstream's order.
    pub images: Vec<WorkloadImage>,
    /// The top-level object's `spec` (for `includeSpec`).
    pub spec: Value,
    /// The top-level object's `metadata` (for `includeObjectMeta`).
    pub metadata: Value,
}

/// What to do with an admission request.
#[derive(Debug, Clone, PartialEq)]
pub enum Extraction {
    /// Accept without checks, for the reason given (DELETE, another kind, a scale-down, ...).
    Skip(&'static str),
    /// Check these images.
    Check(Workload),
    /// Reject: the object of a checked kind cannot be decoded.
    Invalid(String),
}

/// Decides whether `request` is checked and extracts its images.
pub fn extract(request: &KubernetesAdmissionRequest) -> Extraction {
    if request.operation != "CREATE" && request.operation != "UPDATE" {
        return Extraction::Skip("only CREATE and UPDATE are checked");
    }
    let group = request.kind.group.as_str();
    let kind = request.kind.kind.as_str();
    let sub_resource = request.sub_resource.as_str();
    let object = &request.object;
    if !object["metadata"]["deletionTimestamp"].is_null() {
        return Extraction::Skip("the object is being deleted");
    }
    let Some(&(_, _, resource, scalable)) =
        KINDS.iter().find(|(g, k, _, _)| *g == group && *k == kind)
    else {
        return Extraction::Skip("the kind is not a workload");
    };
    match (resource, sub_resource) {
        (_, "") => {}
        pair if SUBRESOURCES.contains(&pair) => {}
        _ => return Extraction::Skip("the subresource holds no image"),
    }
    if scalable && request.operation == "UPDATE" && is_scale_down_only(object, &request.old_object)
    {
        return Extraction::Skip("the update only scales the workload down");
    }
    let decoded = match decode_pod_spec(kind, object) {
        Ok(decoded) => decoded,
        Err(e) => return Extraction::Invalid(format!("cannot decode the {kind}: {e}")),
    };
    let Some((prefix, spec)) = decoded else {
        return Extraction::Check(Workload {
            kind: kind.to_string(),
            api_version: api_version(object),
            resource,
            images: Vec::new(),
            spec: object["spec"].clone(),
            metadata: object["metadata"].clone(),
        });
    };
    Extraction::Check(Workload {
        kind: kind.to_string(),
        api_version: api_version(object),
        resource,
        images: pod_spec_images(prefix, &spec),
        spec: object["spec"].clone(),
        metadata: object["metadata"].clone(),
    })
}

fn api_version(object: &Value) -> String {
    object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Upstream skips any UPDATE lowering `spec.replicas` (`podscalable_types.go` L108-119), even
/// one that also changes the pod template. We skip only when the template is unchanged, so a
/// new image cannot slip in with a scale-down.
fn is_scale_down_only(object: &Value, old_object: &Value) -> bool {
    let replicas = |o: &Value| o["spec"]["replicas"].as_i64().unwrap_or(1);
    replicas(object) < replicas(old_object)
        && object["spec"]["template"] == old_object["spec"]["template"]
}

type PrefixedSpec = (&'static str, PodSpec);

fn decode_pod_spec(kind: &str, object: &Value) -> Result<Option<PrefixedSpec>, serde_json::Error> {
    fn template(t: Option<PodTemplateSpec>) -> Option<PodSpec> {
        t.and_then(|t| t.spec)
    }
    const TEMPLATE: &str = "spec.template.spec";
    let o = object.clone();
    Ok(match kind {
        "Pod" => serde_json::from_value::<Pod>(o)?.spec.map(|s| ("spec", s)),
        "Deployment" => serde_json::from_value::<Deployment>(o)?
            .spec
            .and_then(|s| template(Some(s.template)))
            .map(|s| (TEMPLATE, s)),
        "ReplicaSet" => serde_json::from_value::<ReplicaSet>(o)?
            .spec
            .and_then(|s| template(s.template))
            .map(|s| (TEMPLATE, s)),
        "StatefulSet" => serde_json::from_value::<StatefulSet>(o)?
            .spec
            .and_then(|s| template(Some(s.template)))
            .map(|s| (TEMPLATE, s)),
        "DaemonSet" => serde_json::from_value::<DaemonSet>(o)?
            .spec
            .and_then(|s| template(Some(s.template)))
            .map(|s| (TEMPLATE, s)),
        "ReplicationController" => serde_json::from_value::<ReplicationController>(o)?
            .spec
            .and_then(|s| template(s.template))
            .map(|s| (TEMPLATE, s)),
        "Job" => serde_json::from_value::<Job>(o)?
            .spec
            .and_then(|s| template(Some(s.template)))
            .map(|s| (TEMPLATE, s)),
        "CronJob" => serde_json::from_value::<CronJob>(o)?
            .spec
            .and_then(|s| s.job_template.spec)
            .and_then(|s| template(Some(s.template)))
            .map(|s| ("spec.jobTemplate.spec.template.spec", s)),
        _ => None,
    })
}

/// Lists the images of a pod spec whose field path starts with `prefix` (dotted).
pub fn pod_spec_images(prefix: &str, spec: &PodSpec) -> Vec<WorkloadImage> {
    let pointer_prefix = format!("/{}", prefix.replace('.', "/"));
    let mut images = Vec::new();
    let mut push = |field: &str, i: usize, image: &Option<String>, tail: &str| {
        if let Some(image) = image {
            images.push(WorkloadImage {
                path: format!("{prefix}.{field}[{i}].image"),
                pointer: format!("{pointer_prefix}/{field}/{i}/image{tail}"),
                image: image.clone(),
            });
        }
    };
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        push("initContainers", i, &c.image, "");
    }
    for (i, c) in spec.containers.iter().enumerate() {
        push("containers", i, &c.image, "");
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        push("ephemeralContainers", i, &c.image, "");
    }
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let reference = v.image.as_ref().and_then(|img| img.reference.clone());
        push("volumes", i, &reference, "/reference");
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(
        kind: (&str, &str),
        operation: &str,
        object: Value,
        old: Value,
    ) -> KubernetesAdmissionRequest {
        serde_json::from_value(json!({
            "uid": "u",
            "kind": {"group": kind.0, "version": "v1", "kind": kind.1},
            "operation": operation,
            "object": object,
            "oldObject": old,
        }))
        .unwrap()
    }

    fn pod_spec() -> Value {
        json!({
            "initContainers": [{"name": "i", "image": "busybox"}],
            "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "ghcr.io/x/y:1"}],
            "ephemeralContainers": [{"name": "e", "image": "debug:1"}],
            "volumes": [{"name": "v", "image": {"reference": "quay.io/data:v1"}}, {"name": "w", "emptyDir": {}}]
        })
    }

    fn images(e: Extraction) -> Vec<(String, String, String)> {
        match e {
            Extraction::Check(w) => w
                .images
                .into_iter()
                .map(|i| (i.path, i.pointer, i.image))
                .collect(),
            other => panic!("expected Check, got {other:?}"),
        }
    }

    #[test]
    fn pod_images_in_upstream_order() {
        let r = request(
            ("", "Pod"),
            "CREATE",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec()}),
            Value::Null,
        );
        assert_eq!(
            images(extract(&r)),
            vec![
                (
                    "spec.initContainers[0].image".into(),
                    "/spec/initContainers/0/image".into(),
                    "busybox".into()
                ),
                (
                    "spec.containers[0].image".into(),
                    "/spec/containers/0/image".into(),
                    "nginx".into()
                ),
                (
                    "spec.containers[1].image".into(),
                    "/spec/containers/1/image".into(),
                    "ghcr.io/x/y:1".into()
                ),
                (
                    "spec.ephemeralContainers[0].image".into(),
                    "/spec/ephemeralContainers/0/image".into(),
                    "debug:1".into()
                ),
                (
                    "spec.volumes[0].image".into(),
                    "/spec/volumes/0/image/reference".into(),
                    "quay.io/data:v1".into()
                ),
            ]
        );
    }

    #[test]
    fn template_prefixes() {
        let template = json!({"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}, "selector": {}});
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("", "ReplicationController"),
            ("batch", "Job"),
        ] {
            let r = request(
                (group, kind),
                "CREATE",
                json!({"kind": kind, "metadata": {}, "spec": template}),
                Value::Null,
            );
            assert_eq!(
                images(extract(&r))[0].0,
                "spec.template.spec.containers[0].image",
                "{kind}"
            );
        }
        let r = request(
            ("batch", "CronJob"),
            "CREATE",
            json!({"kind": "CronJob", "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": template}}}),
            Value::Null,
        );
        assert_eq!(
            images(extract(&r))[0],
            (
                "spec.jobTemplate.spec.template.spec.containers[0].image".to_string(),
                "/spec/jobTemplate/spec/template/spec/containers/0/image".to_string(),
                "nginx".to_string()
            )
        );
    }

    #[test]
    fn skips() {
        let pod = json!({"kind": "Pod", "spec": pod_spec()});
        assert_eq!(
            extract(&request(("", "Pod"), "DELETE", pod.clone(), Value::Null)),
            Extraction::Skip("only CREATE and UPDATE are checked")
        );
        assert_eq!(
            extract(&request(("", "Service"), "CREATE", json!({}), Value::Null)),
            Extraction::Skip("the kind is not a workload")
        );
        assert_eq!(
            extract(&request(
                ("example.com", "Pod"),
                "CREATE",
                pod.clone(),
                Value::Null
            )),
            Extraction::Skip("the kind is not a workload")
        );
        let mut deleting = pod.clone();
        deleting["metadata"] = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(
            extract(&request(("", "Pod"), "UPDATE", deleting, Value::Null)),
            Extraction::Skip("the object is being deleted")
        );
        let mut r = request(("", "Pod"), "UPDATE", pod.clone(), Value::Null);
        r.sub_resource = "status".into();
        assert_eq!(
            extract(&r),
            Extraction::Skip("the subresource holds no image")
        );
        r.sub_resource = "ephemeralcontainers".into();
        assert_eq!(images(extract(&r)).len(), 5);
    }

    #[test]
    fn scale_down_only() {
        let d = |replicas: i64, image: &str| json!({"kind": "Deployment", "spec": {"replicas": replicas, "selector": {}, "template": {"spec": {"containers": [{"name": "a", "image": image}]}}}});
        let down = request(
            ("apps", "Deployment"),
            "UPDATE",
            d(1, "nginx"),
            d(3, "nginx"),
        );
        assert_eq!(
            extract(&down),
            Extraction::Skip("the update only scales the workload down")
        );
        let up = request(
            ("apps", "Deployment"),
            "UPDATE",
            d(5, "nginx"),
            d(3, "nginx"),
        );
        assert_eq!(images(extract(&up)).len(), 1);
        let down_with_new_image = request(
            ("apps", "Deployment"),
            "UPDATE",
            d(1, "evil"),
            d(3, "nginx"),
        );
        assert_eq!(images(extract(&down_with_new_image))[0].2, "evil");
    }

    #[test]
    fn undecodable_object_is_invalid() {
        let r = request(
            ("", "Pod"),
            "CREATE",
            json!({"kind": "Pod", "spec": {"containers": "nope"}}),
            Value::Null,
        );
        match extract(&r) {
            Extraction::Invalid(msg) => {
                assert!(msg.starts_with("cannot decode the Pod: "), "{msg}")
            }
            other => panic!("{other:?}"),
        }
    }
}
