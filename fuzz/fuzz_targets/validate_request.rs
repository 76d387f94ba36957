//! The whole `validate` path with fixed, realistic settings and a fuzzed admission request,
//! every host capability answered by the input (see `cluster_image_policy_fuzz` for the layout).
//! Invariants: `validate_with_host` returns; a rejection has a non-empty message; a response
//! with a mutated object is an acceptance; the response serialises.
#![no_main]

use cluster_image_policy_fuzz::{Case, ScriptedHost, check_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(case) = Case::split(data) else {
        return;
    };
    let payload = case.payload();
    let host = ScriptedHost::new(case.host_script);
    let response = cluster_image_policy::validate_with_host(&payload, &host);
    check_response(&response, &payload);
});
