//! The CUE evaluator (`src/cue`): the input is `<policy>\0<input JSON>` (lossy UTF-8; without
//! a NUL the whole input is the policy). `CuePolicy::compile` and `CuePolicy::evaluate` must not
//! panic, hang or exhaust memory, and:
//! - a compile error is one `line:column: message` line (or the size limit), never empty;
//! - an evaluation error is never empty;
//! - evaluation is deterministic: the same policy and input give the same result twice (the
//!   time budget, 200 ms here, is far above what any accepted input takes).
//!
//! Each compiled policy is evaluated against the input JSON when it parses, against a Pod-like
//! CIP input document, and against `{}`.
#![no_main]

use cluster_image_policy::cue::CuePolicy;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let (policy_bytes, input_bytes) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let source = String::from_utf8_lossy(policy_bytes);
    let policy = match CuePolicy::compile(&source, 200) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.is_empty(), "empty compile error for {source:?}");
            assert!(!e.contains('\n'), "multi-line compile error {e:?}");
            return;
        }
    };
    let mut inputs = vec![
        json!({}),
        json!({
            "authorityMatches": {"authority-0": {"signatures": [{"id": "sha256:00"}]}},
            "image": "ghcr.io/sigstore/timestamp-server@sha256:00",
            "imageAsWritten": "ghcr.io/sigstore/timestamp-server:v1",
            "spec": {"serviceAccount": "default", "containers": [{"name": "a", "image": "x", "securityContext": {"privileged": false}}],
                     "securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]}},
            "metadata": {"name": "p", "labels": {"team": "payments"}},
            "typemeta": {"kind": "Pod", "apiVersion": "v1"},
            "config": {"linux/amd64": {"architecture": "amd64", "config": {"User": "65532"}}}
        }),
    ];
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(input_bytes) {
        inputs.push(v);
    }
    for input in &inputs {
        let first = policy.evaluate(input);
        if let Err(e) = &first {
            assert!(!e.is_empty(), "empty evaluation error for {source:?}");
            if e.contains("time budget") {
                continue;
            }
        }
        let second = policy.evaluate(input);
        if !matches!(&second, Err(e) if e.contains("time budget")) {
            assert_eq!(first, second, "non-deterministic evaluation of {source:?}");
        }
    }
});
