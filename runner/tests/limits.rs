//! policy-server's limits as `cip-runner run` enforces them (`runner/src/limits.rs`): the
//! execution-time limit answers policy-evaluator's interruption message with code 500, the
//! memory cap turns a `memory.grow` past it into a trap (an internal server error), and a
//! module inside both is answered as before.

mod common;

use std::time::{Duration, Instant};

use cip_runner::cache::CompileCache;
use cip_runner::limits::{HostLimits, INTERRUPTED_MESSAGE};
use cip_runner::module::PolicyModule;
use common::{SETTINGS_OK, Validate, accepted_line, cip_runner, scripted_guest, temp_dir, write};

const ACCEPT: &str = r#"{"accepted":true,"message":null,"code":null,"mutated_object":null,"audit_annotations":null,"warnings":null}"#;

/// A guest doing `validate`, written to a temporary directory with a request and empty
/// settings.
struct Guest {
    module: String,
    request: String,
    settings: String,
}

impl Guest {
    fn new(tag: &str, validate: &Validate<'_>) -> Self {
        let dir = temp_dir(tag);
        let wasm = wat::parse_str(scripted_guest(SETTINGS_OK, validate, false)).expect("valid WAT");
        let module = dir.join("guest.wasm");
        std::fs::write(&module, wasm).expect("write module");
        let request = write(&dir, "request.json", common::POD_REQUEST);
        let settings = write(&dir, "settings.yaml", "{}\n");
        let s = |p: &std::path::Path| p.to_str().expect("utf8").to_string();
        Guest {
            module: s(&module),
            request: s(&request),
            settings: s(&settings),
        }
    }

    /// `cip-runner run` on the guest with `flags`.
    fn run(&self, flags: &[&str]) -> common::Run {
        let mut args = vec!["run", "-r", &self.request, "-s", &self.settings];
        args.extend_from_slice(flags);
        args.push(&self.module);
        cip_runner(&args, None)
    }
}

fn interrupted_line() -> String {
    format!(
        r#"{{"uid":"{}","allowed":false,"status":{{"message":"{INTERRUPTED_MESSAGE}","code":500}},"auditAnnotations":null,"warnings":null}}"#,
        common::POD_UID
    )
}

#[test]
fn a_policy_past_the_timeout_gets_policy_servers_interruption_message() {
    let guest = Guest::new("limits-spin", &Validate::Spin);
    let started = Instant::now();
    let run = guest.run(&["--policy-timeout", "0.3"]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim_end(), interrupted_line());
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

/// An interrupted `wapc_init` is answered as policy-server answers it: the same message.
#[test]
fn an_initialisation_past_the_timeout_gets_the_interruption_message_too() {
    let guest = Guest::new("limits-spin-init", &Validate::Answer(ACCEPT));
    let wat = scripted_guest(SETTINGS_OK, &Validate::Answer(ACCEPT), false).replace(
        r#"(func (export "wapc_init") nop)"#,
        r#"(func (export "wapc_init") (loop $spin (br $spin)))"#,
    );
    std::fs::write(&guest.module, wat::parse_str(wat).expect("valid WAT")).expect("write");
    let run = guest.run(&["--policy-timeout", "0.2"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim_end(), interrupted_line());
}

#[test]
fn the_default_timeout_is_policy_servers_two_seconds() {
    let guest = Guest::new("limits-spin-default", &Validate::Spin);
    let started = Instant::now();
    let run = guest.run(&[]);
    let elapsed = started.elapsed();
    assert_eq!(run.stdout.trim_end(), interrupted_line(), "{run:?}");
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[test]
fn a_policy_inside_the_limits_is_answered_as_before() {
    let guest = Guest::new("limits-fast", &Validate::Answer(ACCEPT));
    for flags in [
        &[][..],
        &["--disable-timeout-protection", "--policy-memory-limit", "0"][..],
    ] {
        let run = guest.run(flags);
        assert_eq!(run.code, Some(0), "{run:?}");
        assert_eq!(run.stdout.trim_end(), accepted_line(common::POD_UID));
    }
}

#[test]
fn growing_past_the_memory_cap_traps_into_an_internal_server_error() {
    // 300 MiB: past the default 256 MiB cap, inside wasm's 4 GiB.
    let grow = Validate::Grow {
        pages: 4800,
        answer: ACCEPT,
    };
    let guest = Guest::new("limits-grow", &grow);
    let run = guest.run(&[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let line: serde_json::Value = serde_json::from_str(run.stdout.trim_end()).expect("json");
    assert_eq!(line["allowed"], false);
    assert_eq!(line["status"]["code"], 500);
    let message = line["status"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("internal server error: Guest call failure: "),
        "{message}"
    );
    // A larger cap, or none, lets it grow.
    for cap in ["512", "0"] {
        let run = guest.run(&["--policy-memory-limit", cap]);
        assert_eq!(
            run.stdout.trim_end(),
            accepted_line(common::POD_UID),
            "{cap}: {run:?}"
        );
    }
}

#[test]
fn a_bad_timeout_is_an_error() {
    let run = Guest::new("limits-bad", &Validate::Answer(ACCEPT)).run(&["--policy-timeout=-1"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr.trim_end(),
        "Error: --policy-timeout -1: expected a number of seconds above 0, at most 86400"
    );
}

/// The library: the limits a module is loaded with apply to each of its instances, and each
/// call gets the whole timeout again (wasmtime-provider sets the deadline before each call).
#[test]
fn each_instance_and_call_gets_the_whole_timeout() {
    let wasm = wat::parse_str(scripted_guest(SETTINGS_OK, &Validate::Spin, false)).expect("WAT");
    let limits = HostLimits {
        policy_timeout: Some(Duration::from_millis(100)),
        memory_limit: None,
    };
    let module =
        PolicyModule::from_bytes_with(&wasm, &CompileCache::disabled(), limits).expect("guest");
    assert_eq!(module.limits(), limits);
    let request: cip_runner::request::AdmissionRequest =
        serde_json::from_str(common::POD_REQUEST).expect("request");
    let settings = cip_runner::settings::PolicySettings::default();
    for _ in 0..2 {
        let host = std::sync::Arc::new(cip_runner::host::Host::new(
            cip_runner::capabilities::HostCapabilities::AllowAll,
            Default::default(),
            cip_runner::host::Backend::Offline,
        ));
        let instance = module.instantiate(host).expect("instance");
        // validate_settings answers at once, inside the deadline.
        assert!(instance.validate_settings(&settings).valid);
        let started = Instant::now();
        let response = instance.validate(&request, &settings);
        let elapsed = started.elapsed();
        let line = response.to_line().expect("line");
        assert_eq!(line, interrupted_line());
        assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    }
}
