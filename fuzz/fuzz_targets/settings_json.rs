//! Arbitrary bytes as the settings document: `validate_settings` must answer, and a refusal
//! must carry a message. Settings that validate are then used for one `validate` call (a Pod
//! with a few images, the scripted host answering plausible successes): valid settings must
//! never make the policy panic either.
#![no_main]

use cluster_image_policy::settings::validate_settings_payload;
use cluster_image_policy_fuzz::{ScriptedHost, check_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match validate_settings_payload(data) {
        Err(message) => assert!(!message.is_empty(), "a settings error without a message"),
        Ok(()) => {
            let Ok(settings) = serde_json::from_slice::<serde_json::Value>(data) else {
                return; // empty settings: the defaults
            };
            let payload = serde_json::json!({
                "settings": settings,
                "request": {
                    "uid": "fuzz",
                    "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "operation": "CREATE",
                    "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"tier": "db"}},
                               "spec": {"containers": [
                                   {"name": "a", "image": "nginx"},
                                   {"name": "b", "image": "cgr.dev/chainguard/nginx:latest"},
                                   {"name": "c", "image": "127.0.0.1:5000/demo/app:signed"},
                                   {"name": "d", "image": "ghcr.io/foo@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350"}]}}
                }
            })
            .to_string();
            let response = cluster_image_policy::validate_with_host(
                payload.as_bytes(),
                &ScriptedHost::new(&[]),
            );
            check_response(&response, payload.as_bytes());
        }
    }
});
