//! `cip-runner annotate` end to end: the real noop-policy module and scripted
//! WAT guests (compiled to binary: annotate, like kwctl, needs a binary
//! module) are annotated by the binary, the `io.kubewarden.metadata` section
//! is read back, and the annotated modules are run.

mod common;

use std::path::{Path, PathBuf};

use cip_runner::module::METADATA_SECTION;
use cip_runner::wasm;
use common::{
    POD_REQUEST, POD_UID, SETTINGS_OK, Validate, accepted_line, cip_runner, noop_wasm,
    scripted_guest, temp_dir, write,
};
use serde_json::json;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The metadata of the tests: one Pod rule, ConfigMap and Secret readable.
const METADATA: &str = r#"
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE", "UPDATE"]
mutating: false
contextAware: false   # legacy key, ignored as by kwctl
contextAwareResources:
  - apiVersion: v1
    kind: Secret
  - apiVersion: v1
    kind: ConfigMap
annotations:
  io.kubewarden.policy.title: noop
  io.kubewarden.kwctl: overwritten
"#;

const README: &str = "# noop\n\nAccepts everything.\n";

/// Runs `annotate` on `wasm` with `metadata` (and the README when `usage`);
/// returns the run and the output path.
fn annotate(dir: &Path, wasm: &Path, metadata: &str, usage: bool) -> (common::Run, PathBuf) {
    let meta = write(dir, "metadata.yml", metadata);
    let readme = write(dir, "README.md", README);
    let out = dir.join("annotated.wasm");
    let mut args = vec!["annotate", "-m", s(&meta), "-o", s(&out)];
    if usage {
        args.extend(["-u", s(&readme)]);
    }
    args.push(s(wasm));
    (cip_runner(&args, None), out)
}

/// The JSON of the module's metadata section (there must be exactly one).
fn metadata_of(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).expect("read annotated module");
    let sections: Vec<_> = wasm::sections(&bytes)
        .expect("wasm")
        .into_iter()
        .filter(|sec| sec.id == 0 && sec.name == METADATA_SECTION)
        .collect();
    assert_eq!(sections.len(), 1, "one metadata section");
    serde_json::from_slice(&bytes[sections[0].payload.clone()]).expect("metadata JSON")
}

/// A scripted guest, as a binary module.
fn guest_wasm(dir: &Path, validate: &Validate<'_>) -> PathBuf {
    let wat = scripted_guest(SETTINGS_OK, validate, false);
    let bytes = wat::parse_str(&wat).expect("valid WAT");
    let path = dir.join("guest.wasm");
    std::fs::write(&path, bytes).expect("write guest");
    path
}

fn get_resource(kind: &str) -> String {
    format!(
        r#"{{"api_version":"v1","kind":"{kind}","name":"trust","namespace":"default","disable_cache":false}}"#
    )
}

fn internal_error_line(message: &str) -> String {
    let message = serde_json::to_string(&format!(
        "internal server error: Guest call failure: {message}"
    ))
    .expect("json string");
    format!(
        r#"{{"uid":"{POD_UID}","allowed":false,"status":{{"message":{message},"code":500}},"auditAnnotations":null,"warnings":null}}"#
    ) + "\n"
}

#[test]
fn annotated_noop_has_kwctls_metadata_and_still_runs() {
    let dir = temp_dir("annotate-noop");
    let (run, out) = annotate(&dir, noop_wasm(), METADATA, true);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");

    let expected = json!({
        "protocolVersion": "v1",
        "rules": [{
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "operations": ["CREATE", "UPDATE"]
        }],
        "annotations": {
            "io.kubewarden.kwctl": format!("cip-runner {}", env!("CARGO_PKG_VERSION")),
            "io.kubewarden.policy.title": "noop",
            "io.kubewarden.policy.usage": README
        },
        "mutating": false,
        "backgroundAudit": true,
        "executionMode": "kubewarden-wapc",
        "policyType": "kubernetes",
        "contextAwareResources": [
            {"apiVersion": "v1", "kind": "ConfigMap"},
            {"apiVersion": "v1", "kind": "Secret"}
        ]
    });
    assert_eq!(metadata_of(&out), expected);

    // Only the section was added: the rest of the module is byte for byte
    // the input.
    let annotated = std::fs::read(&out).expect("read");
    let original = std::fs::read(noop_wasm()).expect("read");
    assert_eq!(
        wasm::without_custom_section(&annotated, METADATA_SECTION).expect("strip"),
        original
    );

    // The runner reads it back.
    let meta = cip_runner::module::PolicyModule::from_bytes_with_cache(
        &annotated,
        &cip_runner::cache::CompileCache::disabled(),
    )
    .expect("load");
    let kinds: Vec<&str> = meta
        .metadata()
        .expect("annotated")
        .context_aware_resources
        .iter()
        .map(|r| r.kind.as_str())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Secret"]);

    let request = write(&dir, "request.json", POD_REQUEST);
    let run = cip_runner(
        &["run", "-r", s(&request), "--allow-context-aware", s(&out)],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", accepted_line(POD_UID)));
    assert_eq!(run.stderr, "");
}

#[test]
fn annotating_again_replaces_the_section() {
    let dir = temp_dir("annotate-twice");
    let (run, first) = annotate(&dir, noop_wasm(), METADATA, true);
    assert_eq!(run.code, Some(0), "{run:?}");
    let again = dir.join("again");
    std::fs::create_dir_all(&again).expect("mkdir");
    let (run, second) = annotate(
        &again,
        &first,
        "rules: []\nmutating: true\nbackgroundAudit: false\nminimumKubewardenVersion: 1.10.0\n",
        false,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        metadata_of(&second),
        json!({
            "protocolVersion": "v1",
            "rules": [],
            "annotations": {
                "io.kubewarden.kwctl": format!("cip-runner {}", env!("CARGO_PKG_VERSION"))
            },
            "mutating": true,
            "backgroundAudit": false,
            "executionMode": "kubewarden-wapc",
            "policyType": "kubernetes",
            "contextAwareResources": [],
            "minimumKubewardenVersion": "1.10.0"
        })
    );
}

#[test]
fn allow_context_aware_grants_the_annotated_resources() {
    let session_for = |kind: &str| {
        format!(
            "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    api_version: v1\n    kind: {kind}\n    name: trust\n    namespace: default\n    disable_cache: false\n  response:\n    type: Success\n    payload: '{{\"accepted\":false,\"message\":\"read {kind}\",\"code\":418}}'\n"
        )
    };
    for kind in ["ConfigMap", "Secret"] {
        let dir = temp_dir("annotate-k8s");
        let payload = get_resource(kind);
        let guest = guest_wasm(
            &dir,
            &Validate::HostCall {
                namespace: "kubernetes",
                operation: "get_resource",
                payload: &payload,
            },
        );
        let metadata = format!("{METADATA}hostCapabilities: [kubernetes/get_resource]\n");
        let (run, annotated) = annotate(&dir, &guest, &metadata, false);
        assert_eq!(run.code, Some(0), "{run:?}");
        // The scanner finds `kubernetes` + `get_resource`: as declared.
        assert_eq!(run.stderr, "");
        let request = write(&dir, "request.json", POD_REQUEST);
        let session = write(&dir, "session.yml", &session_for(kind));

        let run = cip_runner(
            &[
                "run",
                "-r",
                s(&request),
                "--allow-context-aware",
                "--replay-host-capabilities-interactions",
                s(&session),
                s(&annotated),
            ],
            None,
        );
        assert_eq!(run.code, Some(0), "{run:?}");
        assert_eq!(
            run.stdout,
            format!(
                r#"{{"uid":"{POD_UID}","allowed":false,"status":{{"message":"read {kind}","code":418}},"auditAnnotations":null,"warnings":null}}"#
            ) + "\n"
        );
        assert_eq!(run.stderr, "");

        // Without the flag, the same module is refused the read.
        let run = cip_runner(&["run", "-r", s(&request), s(&annotated)], None);
        assert_eq!(run.code, Some(0), "{run:?}");
        assert_eq!(
            run.stdout,
            internal_error_line(&format!(
                "Policy has not been granted access to Kubernetes v1/{kind} resources. The violation has been reported."
            ))
        );
    }

    // A kind that is not listed stays refused, flag or not.
    let dir = temp_dir("annotate-k8s-pod");
    let payload = get_resource("Pod");
    let guest = guest_wasm(
        &dir,
        &Validate::HostCall {
            namespace: "kubernetes",
            operation: "get_resource",
            payload: &payload,
        },
    );
    let (run, annotated) = annotate(&dir, &guest, METADATA, false);
    assert_eq!(run.code, Some(0), "{run:?}");
    let request = write(&dir, "request.json", POD_REQUEST);
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            "--allow-context-aware",
            s(&annotated),
        ],
        None,
    );
    assert_eq!(
        run.stdout,
        internal_error_line(
            "Policy has not been granted access to Kubernetes v1/Pod resources. The violation has been reported."
        )
    );
}

#[test]
fn host_capability_mismatches_are_warned_about() {
    let dir = temp_dir("annotate-warn-noop");
    let metadata = format!("{METADATA}hostCapabilities: [oci/v2/verify]\n");
    let (run, _) = annotate(&dir, noop_wasm(), &metadata, false);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        "WARN cip_runner::annotate: host capabilities declared in metadata but not detected in the policy capabilities={\"oci/v2/verify\"}\n"
    );

    let dir = temp_dir("annotate-warn-guest");
    let payload = get_resource("ConfigMap");
    let guest = guest_wasm(
        &dir,
        &Validate::HostCall {
            namespace: "kubernetes",
            operation: "get_resource",
            payload: &payload,
        },
    );
    let (run, _) = annotate(&dir, &guest, METADATA, false);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr,
        "WARN cip_runner::annotate: host capabilities used by the policy but not declared in metadata capabilities={\"kubernetes/get_resource\"}\n"
    );
}

#[test]
fn bad_inputs_exit_1_and_write_nothing() {
    let dir = temp_dir("annotate-bad");
    let cases: Vec<(String, &str)> = vec![
        (
            METADATA.replace(r#"["CREATE", "UPDATE"]"#, r#"["*", "CREATE"]"#),
            "Error: Metadata is invalid: rules[0].operations: No other elements can be defined when '*' is used\n",
        ),
        (
            METADATA.replace(r#"["CREATE", "UPDATE"]"#, "[]"),
            "Error: Metadata is invalid: rules[0].operations: must not be empty\n",
        ),
        (
            "mutating: false\n".to_owned(),
            "Error: Error unmarshalling metadata missing field `rules`\n",
        ),
        (
            format!("{METADATA}executionMode: opa\n"),
            "Error: Wrong value inside of policy's metadata for 'executionMode'. The policy has not been created using Rego\n",
        ),
    ];
    for (metadata, stderr) in cases {
        let (run, out) = annotate(&dir, noop_wasm(), &metadata, false);
        assert_eq!(run.code, Some(1), "{run:?}");
        assert_eq!(run.stderr, stderr);
        assert!(!out.exists());
    }

    let (run, _) = annotate(&dir, &dir.join("missing.wasm"), METADATA, false);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "Error: Error reading wasm file: No such file or directory (os error 2)\n"
    );

    let wat = write(&dir, "text.wat", "(module)");
    let (run, _) = annotate(&dir, &wat, METADATA, false);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.starts_with("Error: Error parsing wasm module: "),
        "{}",
        run.stderr
    );

    // A binary module that is not a waPC policy.
    let empty = dir.join("empty.wasm");
    std::fs::write(&empty, wat::parse_str("(module)").expect("wat")).expect("write");
    let (run, out) = annotate(&dir, &empty, METADATA, false);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with("Error: Error while detecting Kubewarden protocol version: "),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
}
