//! `cip-runner request` end to end: a manifest becomes an AdmissionRequest that `run` (on the
//! real annotated module) decides as it decides the project's recorded requests.

mod common;

use common::{annotated_policy, cip_runner, temp_dir, workspace_root, write};

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// `request` on test_data/manifests/deployment.yaml, then `run` with the seed scenario's step 3:
/// the Deployment's pod template runs `…:latest`, which disallow-latest-tag denies, at the
/// template's path.
#[test]
fn a_deployment_manifest_is_checked_like_an_admission_request() {
    let manifest = workspace_root().join("test_data/manifests/deployment.yaml");
    let request = cip_runner(&["request", s(&manifest)], None);
    assert_eq!(request.code, Some(0), "{request:?}");
    let value: serde_json::Value = serde_json::from_str(&request.stdout).expect("JSON");
    assert_eq!(
        value["kind"],
        serde_json::json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert_eq!(value["resource"]["resource"], "deployments");
    assert_eq!(value["namespace"], "shop");
    assert_eq!(
        value["object"]["spec"]["template"]["spec"]["containers"][0]["image"],
        "cgr.dev/chainguard/nginx:latest"
    );

    let dir = temp_dir("request");
    let path = write(&dir, "request.json", &request.stdout);
    let settings = workspace_root().join("test_data/settings/seed-step3.yaml");
    let run = cip_runner(
        &[
            "run",
            "--request-path",
            s(&path),
            "--settings-path",
            s(&settings),
            s(annotated_policy()),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let response: serde_json::Value = serde_json::from_str(&run.stdout).expect("response");
    assert_eq!(response["uid"], "request-from-manifest");
    assert_eq!(response["allowed"], false);
    assert_eq!(
        response["status"]["message"],
        "validation failed: failed policy: disallow-latest-tag: spec.template.spec.containers[0].image\ncgr.dev/chainguard/nginx:latest failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"
    );
}

#[test]
fn errors_exit_1() {
    let dir = temp_dir("request-errors");
    let two = write(
        &dir,
        "two.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
    );
    let run = cip_runner(&["request", s(&two)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "Error: {} holds 2 objects (Pod/a, Pod/b): choose one with --object KIND/NAME\n",
            s(&two)
        )
    );
    let run = cip_runner(
        &["request", "--object", "Pod/b", "-"],
        Some(&std::fs::read_to_string(&two).expect("read")),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("\"name\": \"b\""), "{}", run.stdout);
}
