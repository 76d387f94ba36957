//! Prints what `validate_request` does with input files: the payload sent, the number of host
//! calls, and the response. `cargo run --example show_case -- corpus/validate_request/seed-…`
//! (without instrumentation, so a panic shows its plain backtrace with `RUST_BACKTRACE=1`).

use cluster_image_policy_fuzz::{Case, ScriptedHost, check_response, settings_choices};

fn main() {
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).unwrap();
        let Some(case) = Case::split(&data) else {
            println!("{path}: too short");
            continue;
        };
        let payload = case.payload();
        let host = ScriptedHost::new(case.host_script);
        let response = cluster_image_policy::validate_with_host(&payload, &host);
        println!(
            "== {path}\nmode {} settings {} host calls {}\npayload: {}\nresponse: {}",
            case.mode,
            settings_choices()[case.settings].0,
            host.calls.get(),
            String::from_utf8_lossy(&payload),
            serde_json::to_string(&response).unwrap()
        );
        check_response(&response, &payload);
    }
}
