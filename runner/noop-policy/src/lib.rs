//! `noop-policy`: the smallest useful Kubewarden waPC policy.
//!
//! It accepts every request and every settings object, and reports protocol
//! version `v1`. It is the floor for benchmarks (the cost of the waPC
//! round-trip alone) and a fixture for `cip-runner`'s own tests.
//!
//! The answers are the exact bytes the Kubewarden Rust SDK (0.17.3) would
//! produce:
//! - `validate` → `accept_request()` (SDK `src/lib.rs`), i.e. a serialized
//!   `ValidationResponse` (SDK `src/response.rs`) with every optional field null;
//! - `validate_settings` → a serialized `SettingsValidationResponse`
//!   (SDK `src/settings.rs`) with `valid: true`;
//! - `protocol_version` → `protocol_version_guest` (SDK `src/metadata.rs`),
//!   the JSON string `"v1"`.
//!
//! No serde: the responses are constant, so they are static byte strings.

use wapc_guest::{CallResult, register_function};

/// `ValidationResponse { accepted: true, .. }` as serialized by the SDK.
const ACCEPT: &[u8] = br#"{"accepted":true,"message":null,"code":null,"mutated_object":null,"audit_annotations":null,"warnings":null}"#;

/// `SettingsValidationResponse { valid: true, message: None }` as serialized by the SDK.
const SETTINGS_VALID: &[u8] = br#"{"valid":true,"message":null}"#;

/// `ProtocolVersion::V1` as serialized by the SDK.
const PROTOCOL_V1: &[u8] = br#""v1""#;

/// waPC entry point: registers the three functions a Kubewarden host calls.
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version);
}

/// Accepts any request; the payload is not even parsed.
fn validate(_payload: &[u8]) -> CallResult {
    Ok(ACCEPT.to_vec())
}

/// Accepts any settings; the payload is not even parsed.
fn validate_settings(_payload: &[u8]) -> CallResult {
    Ok(SETTINGS_VALID.to_vec())
}

/// Reports waPC protocol version `v1`.
fn protocol_version(_payload: &[u8]) -> CallResult {
    Ok(PROTOCOL_V1.to_vec())
}
