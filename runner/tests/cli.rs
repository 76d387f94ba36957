//! End-to-end behaviour of the `cip-runner` binary with scripted WAT guests:
//! exact output lines, exit codes, and the exact host-error texts a guest
//! receives (the scripted guest fails `validate` with the host's error text,
//! so it shows up as `internal server error: Guest call failure: <text>`).

mod common;

use std::path::{Path, PathBuf};

use common::{
    POD_REQUEST, POD_UID, SETTINGS_OK, Validate, accepted_line, cip_runner, scripted_guest,
    temp_dir, write,
};

const UNSIGNED_V2: &str = r#"{"type":"SigstorePubKeyVerify","image":"127.0.0.1:5000/demo/app:unsigned","pub_keys":["-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n"],"annotations":null}"#;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Writes the guest and the Pod request; returns (dir, guest, request).
fn setup(tag: &str, settings_answer: &str, validate: &Validate<'_>) -> (PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let guest = write(
        &dir,
        "guest.wat",
        &scripted_guest(settings_answer, validate, false),
    );
    let request = write(&dir, "request.json", POD_REQUEST);
    (dir, guest, request)
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

fn unsigned_call() -> Validate<'static> {
    Validate::HostCall {
        namespace: "oci",
        operation: "v2/verify",
        payload: UNSIGNED_V2,
    }
}

#[test]
fn recorded_error_is_sent_as_callback_evaluation_failure() {
    let (_d, guest, request) = setup("recorded-error", SETTINGS_OK, &unsigned_call());
    let session = data("unsigned.yml");
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            "--replay-host-capabilities-interactions",
            s(&session),
            s(&guest),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        internal_error_line(
            "Callback evaluation failure: no signatures found for image: 127.0.0.1:5000/demo/app:unsigned "
        )
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn replay_mismatch_text() {
    let (_d, guest, request) = setup("mismatch", SETTINGS_OK, &unsigned_call());
    let session = data("signed.yml");
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            "--replay-host-capabilities-interactions",
            s(&session),
            s(&guest),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let key = r#"["-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n"]"#;
    assert_eq!(
        run.stdout,
        internal_error_line(&format!(
            r#"Callback evaluation failure: Replay error: unexpected request. Was expecting SigstorePubKeyVerify {{ image: "127.0.0.1:5000/demo/app:signed", pub_keys: {key}, annotations: None }}, got SigstorePubKeyVerify {{ image: "127.0.0.1:5000/demo/app:unsigned", pub_keys: {key}, annotations: None }} instead"#
        ))
    );
}

#[test]
fn exhausted_session_text() {
    let (dir, guest, request) = setup("exhausted", SETTINGS_OK, &unsigned_call());
    let session = write(&dir, "empty.yml", "[]\n");
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            "--replay-host-capabilities-interactions",
            s(&session),
            s(&guest),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        internal_error_line("Callback evaluation failure: the list of recorded responses is empty")
    );
}

#[test]
fn without_session_host_calls_fail_with_an_explanation() {
    let (_d, guest, request) = setup(
        "offline",
        SETTINGS_OK,
        &Validate::HostCall {
            namespace: "oci",
            operation: "v1/manifest_digest",
            payload: r#""ghcr.io/acme/nginx:1.27""#,
        },
    );
    let run = cip_runner(&["run", "-r", s(&request), s(&guest)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        internal_error_line(
            r#"Callback evaluation failure: cip-runner does not contact OCI registries, Sigstore, DNS or Kubernetes; answer this host capability request with --replay-host-capabilities-interactions FILE (request: OciManifestDigest { image: "ghcr.io/acme/nginx:1.27" })"#
        )
    );
}

#[test]
fn denied_capability_text() {
    let (_d, guest, request) = setup("denied", SETTINGS_OK, &unsigned_call());
    let session = data("unsigned.yml");
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            "--replay-host-capabilities-interactions",
            s(&session),
            s(&guest),
            "--allowed-host-capabilities",
            "oci/v1/*",
            "crypto/v1/is_certificate_trusted",
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        internal_error_line(
            "Policy has not been granted access to the 'oci/v2/verify' host capability. The violation has been reported."
        )
    );
    // The denied call never reached the session.
    assert!(
        run.stderr
            .contains("1 of the recorded exchanges have not been replayed"),
        "{}",
        run.stderr
    );
}

#[test]
fn replayed_success_payload_reaches_the_guest() {
    let dir = temp_dir("replay-ok");
    let session = write(
        &dir,
        "session.yml",
        "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: ghcr.io/acme/nginx:1.27\n  response:\n    type: Success\n    payload: '{\"accepted\":false,\"message\":\"digest sha256:abc\",\"code\":418}'\n",
    );
    let guest = write(
        &dir,
        "guest.wat",
        &scripted_guest(
            SETTINGS_OK,
            &Validate::HostCall {
                namespace: "oci",
                operation: "v1/manifest_digest",
                payload: r#""ghcr.io/acme/nginx:1.27""#,
            },
            false,
        ),
    );
    let request = write(&dir, "request.json", POD_REQUEST);
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            "--replay-host-capabilities-interactions",
            s(&session),
            "--allowed-host-capabilities",
            "oci/v1/manifest_digest",
            "--",
            s(&guest),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            r#"{{"uid":"{POD_UID}","allowed":false,"status":{{"message":"digest sha256:abc","code":418}},"auditAnnotations":null,"warnings":null}}"#
        ) + "\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn kubernetes_capabilities_need_context_aware_metadata() {
    let (_d, guest, request) = setup(
        "k8s",
        SETTINGS_OK,
        &Validate::HostCall {
            namespace: "kubernetes",
            operation: "get_resource",
            payload: r#"{"api_version":"v1","kind":"Namespace","name":"default","namespace":null,"disable_cache":false}"#,
        },
    );
    let run = cip_runner(
        &["run", "-r", s(&request), "--allow-context-aware", s(&guest)],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        internal_error_line(
            "Policy has not been granted access to Kubernetes v1/Namespace resources. The violation has been reported."
        )
    );
    assert!(
        run.stderr.contains("Policy is not annotated"),
        "{}",
        run.stderr
    );
}

#[test]
fn mutation_is_printed_as_a_json_patch() {
    let mutated = r#"{"accepted":true,"mutated_object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nginx","namespace":"default"},"spec":{"containers":[{"name":"nginx","image":"ghcr.io/acme/nginx:1.27@sha256:abc"}]}}}"#;
    let (_d, guest, request) = setup("mutate", SETTINGS_OK, &Validate::Answer(mutated));
    let run = cip_runner(&["run", "-r", s(&request), s(&guest)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    // base64 of [{"op":"replace","path":"/spec/containers/0/image","value":"ghcr.io/acme/nginx:1.27@sha256:abc"}]
    assert_eq!(
        run.stdout,
        format!(
            r#"{{"uid":"{POD_UID}","allowed":true,"patchType":"JSONPatch","patch":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zcGVjL2NvbnRhaW5lcnMvMC9pbWFnZSIsInZhbHVlIjoiZ2hjci5pby9hY21lL25naW54OjEuMjdAc2hhMjU2OmFiYyJ9XQ==","auditAnnotations":null,"warnings":null}}"#
        ) + "\n"
    );
}

#[test]
fn invalid_settings_exit_1_with_kwctls_message() {
    let (_d, guest, request) = setup(
        "bad-settings",
        r#"{"valid":false,"message":"images must not be empty"}"#,
        &Validate::Answer(r#"{"accepted":true}"#),
    );
    let run = cip_runner(&["run", "-r", s(&request), s(&guest)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "Error: Provided settings are not valid: images must not be empty\n"
    );
    // validate-settings says the same, with the same exit code, so that it can gate a CI job.
    let vs = cip_runner(&["validate-settings", s(&guest)], None);
    assert_eq!(vs.code, Some(1), "{vs:?}");
    assert_eq!(vs.stdout, "");
    assert_eq!(
        vs.stderr,
        "Error: Provided settings are not valid: images must not be empty\n"
    );
}

#[test]
fn trap_in_validate_is_an_internal_server_error() {
    let (_d, guest, request) = setup("trap", SETTINGS_OK, &Validate::Trap);
    let run = cip_runner(&["run", "-r", s(&request), s(&guest)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    let prefix = format!(
        r#"{{"uid":"{POD_UID}","allowed":false,"status":{{"message":"internal server error: Guest call failure: "#
    );
    assert!(run.stdout.starts_with(&prefix), "{}", run.stdout);
    // wasmtime-provider keeps only the trap's top-level text (as under kwctl).
    assert!(
        run.stdout
            .contains("error while executing at wasm backtrace"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("\",\"code\":500},\"auditAnnotations\":null,\"warnings\":null}\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn trap_in_init_or_unloadable_module_exit_1() {
    let dir = temp_dir("init-trap");
    let guest = write(
        &dir,
        "guest.wat",
        &scripted_guest(SETTINGS_OK, &Validate::Answer("{}"), true),
    );
    let request = write(&dir, "request.json", POD_REQUEST);
    let run = cip_runner(&["run", "-r", s(&request), s(&guest)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.starts_with("Error: cannot build Wapc host: "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");

    let garbage = write(&dir, "garbage.wasm", "not wasm at all");
    let run = cip_runner(&["run", "-r", s(&request), s(&garbage)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("cannot load policy module"),
        "{}",
        run.stderr
    );

    let run = cip_runner(&["run", "-r", s(&request), "/nonexistent/p.wasm"], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("cannot read policy module /nonexistent/p.wasm"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_inputs_exit_1() {
    let (dir, guest, request) = setup(
        "bad-inputs",
        SETTINGS_OK,
        &Validate::Answer(r#"{"accepted":true}"#),
    );
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            s(&guest),
            "--allowed-host-capabilities",
            "oci",
        ],
        None,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "Error: Invalid host capabilities pattern: invalid pattern \"oci\": not a complete capability path; use \"oci/*\" to allow all capabilities under it\n"
    );

    let run = cip_runner(&["run", "-r", "/nonexistent/r.json", s(&guest)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with("Error: Error opening request file /nonexistent/r.json; "),
        "{}",
        run.stderr
    );

    let incomplete = write(&dir, "incomplete.json", r#"{"uid":"x"}"#);
    let run = cip_runner(&["run", "-r", s(&incomplete), s(&guest)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "Error: cannot build AdmissionRequest object from given input: missing field `kind`\n"
    );

    let bad_session = write(
        &dir,
        "bad.yml",
        "- request: '!Nope {}'\n  response: {type: Success, payload: ''}\n",
    );
    let run = cip_runner(
        &[
            "run",
            "-r",
            s(&request),
            "--replay-host-capabilities-interactions",
            s(&bad_session),
            s(&guest),
        ],
        None,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("exchange #0"), "{}", run.stderr);

    // The accepting guest still works with the same inputs otherwise.
    let run = cip_runner(&["run", "-r", s(&request), s(&guest)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", accepted_line(POD_UID)));
}
