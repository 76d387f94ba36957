//! The benchmark harness (`cip-runner bench`): it runs, its figures are sane,
//! and the host-call counter counts replayed calls. No timing assertions:
//! performance is measured by `make bench`, not by tests.

mod common;

use std::sync::Arc;

use cip_runner::bench::{
    Call, ModuleFigures, Sampling, Scenario, distinct_images, measure, standard_scenarios,
};
use cip_runner::cache::CompileCache;
use cip_runner::capabilities::HostCapabilities;
use cip_runner::host::{Backend, Host};
use cip_runner::module::PolicyModule;
use cip_runner::replay::{Exchange, RecordedResponse, Replayer};
use cip_runner::request::AdmissionRequest;
use cip_runner::settings::PolicySettings;
use common::{
    POD_REQUEST, SETTINGS_OK, Validate, cip_runner, noop_wasm, scripted_guest, temp_dir,
    test_cache_dir, workspace_root, write,
};

const TINY: Sampling = Sampling {
    fresh: 5,
    reused: 7,
    warmup: 2,
};

fn noop() -> PolicyModule {
    PolicyModule::load_with_cache(noop_wasm(), &CompileCache::at(test_cache_dir()))
        .expect("noop module")
}

fn pod_request() -> AdmissionRequest {
    AdmissionRequest::from_json(serde_json::from_str(POD_REQUEST).expect("json")).expect("request")
}

fn settings() -> PolicySettings {
    PolicySettings::from_json_str(r#"{"policies":[{"kind":"ClusterImagePolicy"}]}"#)
        .expect("settings")
}

fn assert_sane(f: &ModuleFigures, sampling: &Sampling) {
    for (what, s, n) in [
        ("fresh", f.fresh, sampling.fresh),
        ("reused", f.reused, sampling.reused),
        ("instantiate", f.instantiate, sampling.fresh),
    ] {
        assert_eq!(s.samples, n, "{what}: {f:?}");
        assert!(s.median_us > 0.0, "{what}: {f:?}");
        assert!(s.p95_us >= s.median_us, "{what}: {f:?}");
    }
}

#[test]
fn tiny_run_on_the_noop_module_gives_sane_figures() {
    let module = noop();
    let scenario = Scenario {
        id: "noop".into(),
        title: "noop".into(),
        call: Call::Validate {
            request: Box::new(pod_request()),
            settings: settings(),
            expect_allowed: Some(true),
        },
        session: None,
        expected_host_calls: Some(0),
    };
    let r = measure(&module, &module, &scenario, &TINY).expect("measure");
    assert_sane(&r.policy, &TINY);
    assert_sane(&r.floor, &TINY);
    assert_eq!(r.policy.outcome, "allowed");
    assert_eq!(r.policy.host_calls, (0, 0));
    assert!(r.fresh_ratio() > 0.0 && r.fresh_ratio().is_finite());
    assert!(r.reused_ratio() > 0.0 && r.reused_ratio().is_finite());

    let scenario = Scenario {
        id: "noop-settings".into(),
        title: "noop settings".into(),
        call: Call::ValidateSettings {
            settings: settings(),
        },
        session: None,
        expected_host_calls: None,
    };
    let r = measure(&module, &module, &scenario, &TINY).expect("measure");
    assert_sane(&r.policy, &TINY);
    assert_eq!(r.policy.outcome, "valid");
}

#[test]
fn an_unexpected_answer_stops_the_measurement() {
    let module = noop();
    let scenario = Scenario {
        id: "expects-denial".into(),
        title: "the noop module accepts; denial expected".into(),
        call: Call::Validate {
            request: Box::new(pod_request()),
            settings: settings(),
            expect_allowed: Some(false),
        },
        session: None,
        expected_host_calls: None,
    };
    let e = measure(&module, &module, &scenario, &TINY).expect_err("unexpected answer");
    assert!(
        format!("{e:#}").contains("unexpected answer: allowed"),
        "{e:#}"
    );
}

const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";

const ACCEPT: &str = r#"{"accepted":true,"message":null,"code":null,"mutated_object":null,"audit_annotations":null,"warnings":null}"#;

/// A guest whose `validate` makes one `oci/v2/verify` call and answers with
/// the host's payload, and a session answering that call with an acceptance.
fn one_call_guest_and_session() -> (PolicyModule, Vec<Exchange>) {
    let payload = serde_json::json!({
        "type": "SigstorePubKeyVerify",
        "image": "127.0.0.1:5000/demo/app:signed",
        "pub_keys": [K1],
        "annotations": null,
    })
    .to_string();
    let wat = scripted_guest(
        SETTINGS_OK,
        &Validate::HostCall {
            namespace: "oci",
            operation: "v2/verify",
            payload: &payload,
        },
        false,
    );
    let bytes = wat::parse_str(&wat).expect("valid WAT");
    let module =
        PolicyModule::from_bytes_with_cache(&bytes, &CompileCache::disabled()).expect("guest");
    let request = format!(
        "!SigstorePubKeyVerify\nimage: 127.0.0.1:5000/demo/app:signed\npub_keys:\n- |\n{}annotations: null\n",
        K1.lines().map(|l| format!("  {l}\n")).collect::<String>()
    );
    let exchange = Exchange {
        request,
        response: RecordedResponse::Success {
            payload: ACCEPT.into(),
        },
    };
    (module, vec![exchange])
}

#[test]
fn host_calls_are_counted_per_request_from_the_replayed_session() {
    let (guest, session) = one_call_guest_and_session();
    let noop = noop();
    let scenario = |expected| Scenario {
        id: "one-call".into(),
        title: "one replayed host call".into(),
        call: Call::Validate {
            request: Box::new(pod_request()),
            settings: settings(),
            expect_allowed: Some(true),
        },
        session: Some(session.clone()),
        expected_host_calls: expected,
    };
    // Every request (fresh or reused) gets its own copy of the session: the
    // single recorded exchange answers each of them.
    let r = measure(&guest, &noop, &scenario(Some(1)), &TINY).expect("measure");
    assert_eq!(r.policy.host_calls, (1, 1));
    assert_eq!(r.floor.host_calls, (0, 0));
    assert_eq!(r.policy.outcome, "allowed");
    assert_sane(&r.policy, &TINY);

    let e = measure(&guest, &noop, &scenario(Some(2)), &TINY).expect_err("wrong count");
    assert!(
        format!("{e:#}").contains("1 host-capability calls in one request, expected 2"),
        "{e:#}"
    );
}

#[test]
fn the_host_counts_capability_calls_but_not_logging() {
    let (_, session) = one_call_guest_and_session();
    let host = Arc::new(Host::new(
        HostCapabilities::AllowAll,
        Default::default(),
        Backend::Replay(Replayer::from_exchanges(session).expect("session")),
    ));
    let payload = serde_json::json!({
        "type": "SigstorePubKeyVerify",
        "image": "127.0.0.1:5000/demo/app:signed",
        "pub_keys": [K1],
        "annotations": null,
    })
    .to_string();
    assert_eq!(host.capability_calls(), 0);
    host.call("kubewarden", "tracing", "log", b"{}")
        .expect("logging");
    assert_eq!(host.capability_calls(), 0);
    host.call("kubewarden", "oci", "v2/verify", payload.as_bytes())
        .expect("replayed");
    assert_eq!(host.capability_calls(), 1);
    // Exhausted session: still a call the guest made.
    host.call("kubewarden", "oci", "v2/verify", payload.as_bytes())
        .expect_err("exhausted");
    assert_eq!(host.capability_calls(), 2);
}

#[test]
fn standard_scenarios_load_and_expect_one_call_per_distinct_image() {
    let scenarios = standard_scenarios(&workspace_root()).expect("scenarios");
    let ids: Vec<&str> = scenarios.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "seed",
            "static-20",
            "rego-20",
            "key-3",
            "settings-50",
            "cue-20"
        ]
    );
    let key = &scenarios[3];
    assert_eq!(key.expected_host_calls, Some(3));
    assert_eq!(key.session.as_ref().map(Vec::len), Some(3));
    let Call::Validate { request, .. } = &key.call else {
        panic!("validate")
    };
    assert_eq!(
        distinct_images(request).into_iter().collect::<Vec<_>>(),
        [
            "127.0.0.1:5000/demo/app:signed",
            "127.0.0.1:5000/demo/app:unsigned",
            "127.0.0.1:5000/demo/multi:v1"
        ]
    );
    let Call::Validate { request, .. } = &scenarios[1].call else {
        panic!("validate")
    };
    assert_eq!(distinct_images(request).len(), 5);
}

#[test]
fn bench_subcommand_writes_its_block_and_keeps_the_rest_of_the_file() {
    let dir = temp_dir("bench-cli");
    let output = write(
        &dir,
        "BENCHMARKS.md",
        "# Benchmarks\n\n<!-- results:begin -->\nold\n<!-- results:end -->\n\nAnalysis.\n",
    );
    let noop = noop_wasm().to_str().expect("utf8");
    let root = workspace_root();
    // The noop module stands in for the policy: it accepts the seed Pod and
    // any settings, as those two scenarios expect.
    let run = cip_runner(
        &[
            "bench",
            "--policy",
            noop,
            "--noop",
            noop,
            "--root",
            root.to_str().expect("utf8"),
            "--fresh",
            "2",
            "--reused",
            "3",
            "--warmup",
            "0",
            "--scenario",
            "seed",
            "--scenario",
            "settings-50",
            "--output",
            output.to_str().expect("utf8"),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let text = std::fs::read_to_string(&output).expect("output");
    assert!(
        text.starts_with("# Benchmarks\n\n<!-- results:begin -->\n## Results ("),
        "{text}"
    );
    assert!(
        text.ends_with("<!-- results:end -->\n\nAnalysis.\n"),
        "{text}"
    );
    assert!(!text.contains("\nold\n"), "{text}");
    assert!(text.contains("| **seed** | policy |"), "{text}");
    assert!(text.contains("| **settings-50** | policy |"), "{text}");
    assert!(
        text.contains(&format!(
            "| module size ≤ {} bytes |",
            cip_runner::bench::MAX_MODULE_BYTES
        )),
        "{text}"
    );
    assert!(
        run.stderr.contains("bench: target holds: module size"),
        "{run:?}"
    );

    let run = cip_runner(
        &[
            "bench",
            "--policy",
            noop,
            "--noop",
            noop,
            "--root",
            root.to_str().expect("utf8"),
            "--scenario",
            "nope",
        ],
        None,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("unknown scenario \"nope\""), "{run:?}");
}
