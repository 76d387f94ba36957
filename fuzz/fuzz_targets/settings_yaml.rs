//! Settings as users write them: the input is parsed as YAML (yaml_serde 0.10, as kwctl does)
//! into JSON, then given to `validate_settings`, which must answer, a refusal with a message.
//! Inputs that are not YAML, or not representable as JSON, are skipped.
#![no_main]

use cluster_image_policy::settings::validate_settings_payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = serde_yaml::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Ok(json) = serde_json::to_vec(&value) else {
        return;
    };
    if let Err(message) = validate_settings_payload(&json) {
        assert!(!message.is_empty(), "a settings error without a message");
    }
});
