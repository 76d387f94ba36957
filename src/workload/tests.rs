use super::*;
use serde_json::json;

fn request(
    kind: (&str, &str),
    operation: &str,
    object: Value,
    old: Value,
) -> AdmissionRequest<'static> {
    let text = json!({
        "uid": "u",
        "kind": {"group": kind.0, "version": "v1", "kind": kind.1},
        "operation": operation,
        "object": object,
        "oldObject": old,
    })
    .to_string();
    serde_json::from_str(Box::leak(text.into_boxed_str())).unwrap()
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
        extract(&request(
            ("", "Pod"),
            "UPDATE",
            deleting.clone(),
            deleting.clone()
        )),
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

/// Regression (review finding): a client-set deletionTimestamp skipped the check. The API
/// server clears it on CREATE after mutating admission, so the Pod would have run unchecked.
/// Only an UPDATE of an object whose old version is already being deleted is skipped.
#[test]
fn a_deletion_timestamp_set_by_the_client_does_not_skip() {
    let mut deleting = json!({"kind": "Pod", "spec": pod_spec()});
    deleting["metadata"] = json!({"deletionTimestamp": "2020-01-01T00:00:00Z"});
    let live = json!({"kind": "Pod", "spec": pod_spec(), "metadata": {}});
    for (operation, old) in [
        ("CREATE", Value::Null),
        ("UPDATE", live.clone()),
        ("UPDATE", Value::Null),
        ("UPDATE", json!("not an object")),
    ] {
        let r = request(("", "Pod"), operation, deleting.clone(), old.clone());
        assert_eq!(images(extract(&r)).len(), 5, "{operation} with old {old}");
    }
    for odd in [json!(5), json!(false), json!({}), json!([])] {
        let mut object = deleting.clone();
        object["metadata"]["deletionTimestamp"] = odd.clone();
        match extract(&request(("", "Pod"), "CREATE", object, Value::Null)) {
            Extraction::Invalid(m) => assert!(
                m.starts_with("cannot decode the Pod: metadata.deletionTimestamp: invalid type: "),
                "{m}"
            ),
            other => panic!("{odd}: {other:?}"),
        }
    }
    // Through the whole policy: denied, not admitted.
    let payload = json!({"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE", "object": deleting}, "settings": {}});
    let response = crate::validate_with_host(
        payload.to_string().as_bytes(),
        &crate::host::fake::FakeHost::default(),
    );
    assert!(!response.accepted);
    assert!(
        response
            .message
            .unwrap()
            .starts_with("validation failed: no matching policies:")
    );
}

/// Issue 11: an UPDATE of an object already being deleted was skipped even when it changed
/// an image (a Pod's container images are mutable; a Deployment held by a finalizer can be
/// edited). Now only one that leaves every image as it was is skipped.
#[test]
fn an_update_of_a_deleted_object_that_changes_an_image_is_checked() {
    let deleting = |image: &str| {
        json!({"kind": "Pod", "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"containers": [{"name": "a", "image": image}]}})
    };
    let same = request(("", "Pod"), "UPDATE", deleting("nginx"), deleting("nginx"));
    assert_eq!(
        extract(&same),
        Extraction::Skip("the object is being deleted")
    );
    let changed = request(("", "Pod"), "UPDATE", deleting("evil"), deleting("nginx"));
    assert_eq!(images(extract(&changed))[0].2, "evil");
    let added = request(
        ("", "Pod"),
        "UPDATE",
        json!({"kind": "Pod", "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"containers": [{"name": "a", "image": "nginx"}],
                        "ephemeralContainers": [{"name": "e", "image": "evil"}]}}),
        deleting("nginx"),
    );
    assert_eq!(images(extract(&added)).len(), 2);
    let d = |image: &str| {
        json!({"kind": "Deployment", "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["foregroundDeletion"]},
                                 "spec": {"template": {"spec": {"containers": [{"name": "a", "image": image}]}}}})
    };
    let edited = request(("apps", "Deployment"), "UPDATE", d("evil"), d("nginx"));
    assert_eq!(images(extract(&edited))[0].2, "evil");
    // An old object that does not decode proves nothing unchanged: checked.
    let odd_old = request(
        ("", "Pod"),
        "UPDATE",
        deleting("nginx"),
        json!({"metadata": {"deletionTimestamp": "x"}, "spec": 5}),
    );
    assert_eq!(images(extract(&odd_old)).len(), 1);
}

/// Go's JSON decoder keeps the last of duplicate keys, serde's derive refuses them: a
/// request carrying two `image` (or two `spec`) keys is rejected, never read one way here
/// and another way elsewhere.
#[test]
fn duplicate_keys_are_refused() {
    for object in [
        r#"{"kind":"Pod","spec":{"containers":[{"name":"a","image":"nginx","image":"evil"}]}}"#,
        r#"{"kind":"Pod","spec":{"containers":[{"image":"nginx"}]},"spec":{"containers":[{"image":"evil"}]}}"#,
        r#"{"kind":"Pod","spec":{"containers":[{"image":"nginx"}],"containers":[{"image":"evil"}]}}"#,
    ] {
        let text = format!(
            r#"{{"uid":"u","kind":{{"group":"","version":"v1","kind":"Pod"}},"operation":"CREATE","object":{object}}}"#
        );
        let r: AdmissionRequest = serde_json::from_str(Box::leak(text.into_boxed_str())).unwrap();
        match extract(&r) {
            Extraction::Invalid(m) => assert!(m.contains("duplicate field"), "{m}"),
            other => panic!("{object}: {other:?}"),
        }
    }
}

/// Review finding: requests without an operation or a kind were admitted as "not checked".
#[test]
fn requests_without_operation_or_kind_are_invalid() {
    let invalid = |text: &str| match serde_json::from_str::<AdmissionRequest>(text) {
        Ok(r) => match extract(&r) {
            Extraction::Invalid(m) => m,
            other => panic!("{text}: {other:?}"),
        },
        Err(e) => format!("decode error: {e}"),
    };
    assert_eq!(
        invalid(r#"{}"#),
        "cannot decode the admission request: operation: expected CREATE, UPDATE, DELETE or CONNECT, found \"\""
    );
    assert_eq!(
        invalid(r#"{"operation": "create", "kind": {"kind": "Pod"}}"#),
        "cannot decode the admission request: operation: expected CREATE, UPDATE, DELETE or CONNECT, found \"create\""
    );
    assert_eq!(
        invalid(r#"{"operation": "CREATE"}"#),
        "cannot decode the admission request: kind.kind: missing or empty"
    );
    assert!(
        invalid(r#"{"operation": "CREATE", "kind": ["", "v1", "Pod"]}"#)
            .starts_with("decode error: invalid type: sequence, expected struct GroupVersionKind")
    );
    let text = r#"{"operation": "DELETE"}"#;
    let r: AdmissionRequest = serde_json::from_str(text).unwrap();
    assert_eq!(
        extract(&r),
        Extraction::Skip("only CREATE and UPDATE are checked")
    );
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
    let invalid = |kind: (&str, &str), object: Value| match extract(&request(
        kind,
        "CREATE",
        object,
        Value::Null,
    )) {
        Extraction::Invalid(msg) => msg,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        invalid(
            ("", "Pod"),
            json!({"kind": "Pod", "spec": {"containers": "nope"}})
        ),
        "cannot decode the Pod: spec.containers: invalid type: string \"nope\", expected a sequence"
    );
    assert_eq!(
        invalid(
            ("apps", "Deployment"),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "a"}, {"image": 5}]}}}})
        ),
        "cannot decode the Deployment: spec.template.spec.containers[1].image: invalid type: integer `5`, expected a string"
    );
    assert_eq!(
        invalid(
            ("batch", "CronJob"),
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"image": {"reference": []}}]}}}}}})
        ),
        "cannot decode the CronJob: spec.jobTemplate.spec.template.spec.volumes[0].image.reference: invalid type: sequence, expected a string"
    );
    assert_eq!(
        invalid(("", "Pod"), json!({"spec": ["x"]})),
        "cannot decode the Pod: spec: invalid type: sequence, expected struct PodSpec"
    );
    assert_eq!(
        invalid(("", "Pod"), json!({"spec": {"containers": [["evil"]]}})),
        "cannot decode the Pod: spec.containers[0]: invalid type: sequence, expected struct Container"
    );
    assert_eq!(
        invalid(("apps", "Deployment"), json!({"spec": {"template": 5}})),
        "cannot decode the Deployment: spec.template: invalid type: integer `5`, expected struct Spec"
    );
    assert_eq!(
        invalid(("", "Pod"), Value::Null),
        "cannot decode the Pod: the object: invalid type: null, expected an object"
    );
}

#[test]
fn metadata_is_decoded_with_its_kubernetes_types() {
    let extracted = |metadata: Value| {
        extract(&request(
            ("", "Pod"),
            "CREATE",
            json!({"metadata": metadata, "spec": {"containers": [{"image": "nginx"}]}}),
            Value::Null,
        ))
    };
    match extracted(json!({"labels": {"app": "web", "tier": "1"}, "managedFields": [{"x": 1}]})) {
        Extraction::Check(w) => {
            assert_eq!(
                w.labels,
                BTreeMap::from([("app".into(), "web".into()), ("tier".into(), "1".into())])
            );
            let metadata: Value = serde_json::from_str(w.metadata_json().unwrap()).unwrap();
            assert_eq!(metadata["managedFields"][0]["x"], 1);
            let spec: Value = serde_json::from_str(w.spec_json().unwrap()).unwrap();
            assert_eq!(spec["containers"][0]["image"], "nginx");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        extracted(json!({"labels": {"tier": 1}})),
        Extraction::Invalid(
            "cannot decode the Pod: metadata.labels.tier: invalid type: integer `1`, expected a string".into()
        )
    );
    assert_eq!(
        extracted(json!(["labels"])),
        Extraction::Invalid(
            "cannot decode the Pod: metadata: invalid type: sequence, expected struct MetadataView"
                .into()
        )
    );
    match extracted(json!({"deletionTimestamp": null, "labels": null})) {
        Extraction::Check(w) => assert_eq!((w.images.len(), w.labels.len()), (1, 0)),
        other => panic!("{other:?}"),
    }
}

/// The SDK's spellings (`sub_resource`, `old_object`) are accepted as well.
#[test]
fn snake_case_aliases() {
    let text = json!({"kind": {"kind": "Pod"}, "operation": "UPDATE", "sub_resource": "status",
                      "object": {"spec": {}}, "old_object": null})
    .to_string();
    let r: AdmissionRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(r.sub_resource, "status");
    assert_eq!(
        extract(&r),
        Extraction::Skip("the subresource holds no image")
    );
}

/// Absent or `null` lists and fields hold no image; fields the policy does not read are not
/// decoded (a quantity that would not parse does not matter).
#[test]
fn absent_null_and_unread_fields() {
    let r = request(
        ("", "Pod"),
        "CREATE",
        json!({"spec": {"initContainers": null, "containers": [{"name": "a", "image": null, "resources": {"limits": {"cpu": {"odd": 1}}}}, {"image": "nginx"}], "volumes": [{"name": "v"}, {"image": null}, {"image": {"pullPolicy": "Always"}}]}}),
        Value::Null,
    );
    assert_eq!(
        images(extract(&r)),
        vec![(
            "spec.containers[1].image".into(),
            "/spec/containers/1/image".into(),
            "nginx".into()
        )]
    );
    for object in [
        json!({}),
        json!({"spec": null}),
        json!({"spec": {"template": null}}),
    ] {
        let r = request(("apps", "Deployment"), "CREATE", object, Value::Null);
        assert_eq!(images(extract(&r)), vec![]);
    }
}
