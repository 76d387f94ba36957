//! End-to-end: the real `noop-policy` wasm32-wasip1 module (built by the test
//! through cargo when missing or stale) run by the `cip-runner` binary.

mod common;

use common::{POD_REQUEST, POD_UID, accepted_line, cip_runner, noop_wasm, temp_dir, write};

#[test]
fn run_prints_exactly_kwctls_accept_line() {
    let dir = temp_dir("noop-run");
    let request = write(&dir, "request.json", POD_REQUEST);
    let wasm = noop_wasm().to_str().expect("utf8 path");
    let run = cip_runner(
        &[
            "run",
            "--request-path",
            request.to_str().expect("utf8"),
            wasm,
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", accepted_line(POD_UID)));
    assert_eq!(run.stderr, "");
}

#[test]
fn run_reads_an_admission_review_from_stdin_with_settings() {
    let review = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{POD_REQUEST}}}"#
    );
    let run = cip_runner(
        &[
            "run",
            "-r",
            "-",
            "--settings-json",
            r#"{"anything":[1,2]}"#,
            noop_wasm().to_str().expect("utf8 path"),
        ],
        Some(&review),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", accepted_line(POD_UID)));
}

#[test]
fn validate_settings_subcommand_prints_the_guest_answer() {
    let dir = temp_dir("noop-settings");
    let settings = write(&dir, "settings.yaml", "images:\n  - glob: '**'\n");
    let run = cip_runner(
        &[
            "validate-settings",
            "--settings-path",
            settings.to_str().expect("utf8"),
            noop_wasm().to_str().expect("utf8 path"),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "{\"valid\":true,\"message\":null}\n");
}

#[test]
fn unused_replay_exchanges_only_warn() {
    let dir = temp_dir("noop-leftover");
    let request = write(&dir, "request.json", POD_REQUEST);
    let session = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/signed.yml");
    let run = cip_runner(
        &[
            "run",
            "--request-path",
            request.to_str().expect("utf8"),
            "--replay-host-capabilities-interactions",
            session.to_str().expect("utf8"),
            noop_wasm().to_str().expect("utf8 path"),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{}\n", accepted_line(POD_UID)));
    assert!(
        run.stderr
            .contains("1 of the recorded exchanges have not been replayed"),
        "{}",
        run.stderr
    );
}
