//! Recorded host-capability sessions (`--replay-host-capabilities-interactions`).
//!
//! The file format is kwctl's, byte for byte
//! (kubewarden-controller `crates/kwctl/src/callback_handler/proxy.rs` L14-26):
//! a YAML sequence of
//!
//! ```yaml
//! - type: Exchange              # optional on read
//!   request: |                  # a YAML document in a string: a tagged CallbackRequestType
//!     !OciManifestDigest
//!     image: ghcr.io/x/y:1.0
//!   response:
//!     type: Success             # or: type: Error
//!     payload: '{"digest":"sha256:..."}'   # Error has `message: ...` instead
//! ```
//!
//! parsed with the YAML crate kwctl uses (`yaml_serde` 0.10).
//!
//! Replay semantics are kwctl's `produce_recorded_response` (proxy.rs
//! L203-228): exchanges are consumed in order; each incoming request must
//! `==` the recorded one (decoded values are compared, not text); a mismatch
//! or an exhausted list is an error sent back to the guest; leftovers are only
//! a warning. One deliberate difference: kwctl parses the file and each
//! recorded request lazily and panics on bad YAML; this runner parses
//! everything up front and fails with exit code 1 instead (stricter, so a test
//! that passes here passes with kwctl too).

use std::collections::VecDeque;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

use crate::callback_request::CallbackRequestType;

/// The recorded answer (upstream `Response`, proxy.rs L14-19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RecordedResponse {
    /// The JSON bytes the host returned to the guest.
    Success {
        /// Exact response payload (a JSON document as a string).
        payload: String,
    },
    /// The host failed; `message` is the error text (`anyhow` Display).
    Error {
        /// Error text.
        message: String,
    },
}

/// One recorded request/response pair (upstream `Exchange`, proxy.rs L21-26).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
pub struct Exchange {
    /// The request as a YAML string (`!Variant` + fields).
    pub request: String,
    /// The recorded answer.
    pub response: RecordedResponse,
}

/// A session ready to replay: each exchange's request already decoded.
/// Cloning gives a fresh copy without parsing again (the benchmark replays
/// one copy per request).
#[derive(Debug, Clone)]
pub struct Replayer {
    exchanges: VecDeque<(CallbackRequestType, RecordedResponse)>,
}

/// Why a replayed call failed. `Display` gives kwctl's texts (proxy.rs
/// L208, L220-224); the host wraps them as `Callback evaluation failure: ...`.
#[derive(Debug)]
pub enum ReplayError {
    /// No exchange left: `the list of recorded responses is empty`.
    Exhausted,
    /// The next exchange is for another request:
    /// `Replay error: unexpected request. Was expecting {expected:?}, got {got:?} instead`.
    Mismatch {
        /// The recorded request (consumed anyway, as in kwctl).
        expected: Box<CallbackRequestType>,
        /// What the guest asked for.
        got: Box<CallbackRequestType>,
    },
    /// The recorded response is an error: its message, verbatim.
    Recorded(String),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exhausted => write!(f, "the list of recorded responses is empty"),
            Self::Mismatch { expected, got } => write!(
                f,
                "Replay error: unexpected request. Was expecting {expected:?}, got {got:?} instead"
            ),
            Self::Recorded(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for ReplayError {}

impl Replayer {
    /// Parses a session file's text.
    ///
    /// # Errors
    /// When the text is not a YAML sequence of exchanges, or when a recorded
    /// `request` is not a known `!Variant` (the error names the exchange index).
    pub fn parse(text: &str) -> Result<Self> {
        let exchanges: Vec<Exchange> =
            serde_yaml::from_str(text).context("cannot deserialize the recorded exchanges")?;
        Self::from_exchanges(exchanges)
    }

    /// Builds a replayer from already-deserialized exchanges.
    ///
    /// # Errors
    /// When a recorded `request` is not a known `!Variant`.
    pub fn from_exchanges(exchanges: Vec<Exchange>) -> Result<Self> {
        let exchanges = exchanges
            .into_iter()
            .enumerate()
            .map(|(i, exchange)| {
                let request = CallbackRequestType::from_yaml(&exchange.request).with_context(|| {
                    format!(
                        "cannot deserialize the request of exchange #{i} into `CallbackRequestType`: {:?}",
                        exchange.request
                    )
                })?;
                Ok((request, exchange.response))
            })
            .collect::<Result<VecDeque<_>>>()?;
        Ok(Self { exchanges })
    }

    /// Reads and parses a session file.
    ///
    /// # Errors
    /// When the file cannot be read or parsed (see [`Replayer::parse`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow!("Cannot open host capabilities interactions file {path:?}: {e}")
        })?;
        Self::parse(&text)
            .with_context(|| format!("invalid host capabilities interactions file {path:?}"))
    }

    /// Answers one guest request from the next recorded exchange.
    ///
    /// The exchange is consumed even when it does not match (as upstream's
    /// `pop_front`).
    ///
    /// # Errors
    /// [`ReplayError`]: exhausted list, mismatch, or a recorded error.
    pub fn answer(&mut self, request: &CallbackRequestType) -> Result<Vec<u8>, ReplayError> {
        let (expected, response) = self.exchanges.pop_front().ok_or(ReplayError::Exhausted)?;
        if &expected != request {
            return Err(ReplayError::Mismatch {
                expected: Box::new(expected),
                got: Box::new(request.clone()),
            });
        }
        match response {
            RecordedResponse::Success { payload } => Ok(payload.into_bytes()),
            RecordedResponse::Error { message } => Err(ReplayError::Recorded(message)),
        }
    }

    /// How many exchanges have not been replayed.
    pub fn remaining(&self) -> usize {
        self.exchanges.len()
    }

    /// The requests not replayed, in order.
    pub fn leftovers(&self) -> impl Iterator<Item = &CallbackRequestType> {
        self.exchanges.iter().map(|(r, _)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback_request::KeylessInfo;

    fn data(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
    }

    const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";

    fn pub_key_req(image: &str) -> CallbackRequestType {
        CallbackRequestType::SigstorePubKeyVerify {
            image: image.into(),
            pub_keys: vec![K1.into()],
            annotations: None,
        }
    }

    #[test]
    fn signed_session_replays_success_payload() {
        let mut r = Replayer::parse(&data("signed.yml")).expect("parse");
        assert_eq!(r.remaining(), 1);
        let payload = r
            .answer(&pub_key_req("127.0.0.1:5000/demo/app:signed"))
            .expect("recorded success");
        assert_eq!(
            String::from_utf8(payload).expect("utf8"),
            r#"{"is_trusted":true,"digest":"sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32"}"#
        );
        assert_eq!(r.remaining(), 0);
        let err = r
            .answer(&pub_key_req("127.0.0.1:5000/demo/app:signed"))
            .expect_err("exhausted");
        assert_eq!(err.to_string(), "the list of recorded responses is empty");
    }

    #[test]
    fn unsigned_session_replays_recorded_error_verbatim() {
        let mut r = Replayer::parse(&data("unsigned.yml")).expect("parse");
        let err = r
            .answer(&pub_key_req("127.0.0.1:5000/demo/app:unsigned"))
            .expect_err("recorded error");
        assert_eq!(
            err.to_string(),
            "no signatures found for image: 127.0.0.1:5000/demo/app:unsigned "
        );
    }

    #[test]
    fn keyless_exact_session() {
        let mut r = Replayer::parse(&data("keyless-exact.yml")).expect("parse");
        let req = CallbackRequestType::SigstoreKeylessVerify {
            image: "127.0.0.1:5000/keyless/app:v1".into(),
            keyless: vec![KeylessInfo {
                issuer: "https://accounts.example.com".into(),
                subject: "alice@example.com".into(),
            }],
            annotations: None,
        };
        let payload = r.answer(&req).expect("success");
        assert!(String::from_utf8_lossy(&payload).contains("sha256:54d7a688"));
    }

    #[test]
    fn oci_missing_session_in_order() {
        let mut r = Replayer::parse(&data("oci-missing.yml")).expect("parse");
        assert_eq!(r.remaining(), 2);
        let digest = CallbackRequestType::OciManifestDigest {
            image: "127.0.0.1:5000/demo/app:nope".into(),
        };
        let manifest = CallbackRequestType::OciManifest {
            image: "127.0.0.1:5000/demo/app:nope".into(),
        };
        let err = r.answer(&digest).expect_err("recorded error");
        assert!(err.to_string().starts_with("Fail to interact with OCI registry: Registry error: url http://127.0.0.1:5000/v2/demo/app/manifests/nope"));
        let err = r.answer(&manifest).expect_err("recorded error");
        assert!(matches!(err, ReplayError::Recorded(_)));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn out_of_order_request_is_a_mismatch_and_consumes_the_exchange() {
        let mut r = Replayer::parse(&data("oci-missing.yml")).expect("parse");
        let manifest = CallbackRequestType::OciManifest {
            image: "127.0.0.1:5000/demo/app:nope".into(),
        };
        let err = r.answer(&manifest).expect_err("mismatch");
        assert_eq!(
            err.to_string(),
            r#"Replay error: unexpected request. Was expecting OciManifestDigest { image: "127.0.0.1:5000/demo/app:nope" }, got OciManifest { image: "127.0.0.1:5000/demo/app:nope" } instead"#
        );
        assert_eq!(r.remaining(), 1);
    }

    #[test]
    fn strict_equality_on_image_keys_and_annotations() {
        // Not normalized: a different spelling of the same image is a mismatch.
        let mut r = Replayer::parse(&data("signed.yml")).expect("parse");
        assert!(matches!(
            r.answer(&pub_key_req("127.0.0.1:5000/demo/app:signed@sha256:00")),
            Err(ReplayError::Mismatch { .. })
        ));
        // The PEM must match byte for byte (trailing newline included).
        let mut r = Replayer::parse(&data("signed.yml")).expect("parse");
        let req = CallbackRequestType::SigstorePubKeyVerify {
            image: "127.0.0.1:5000/demo/app:signed".into(),
            pub_keys: vec![K1.trim_end().into()],
            annotations: None,
        };
        assert!(matches!(r.answer(&req), Err(ReplayError::Mismatch { .. })));
        // `annotations: null` differs from an empty map.
        let mut r = Replayer::parse(&data("signed.yml")).expect("parse");
        let req = CallbackRequestType::SigstorePubKeyVerify {
            image: "127.0.0.1:5000/demo/app:signed".into(),
            pub_keys: vec![K1.into()],
            annotations: Some(Default::default()),
        };
        assert!(matches!(r.answer(&req), Err(ReplayError::Mismatch { .. })));
    }

    #[test]
    fn type_exchange_is_optional_and_missing_options_are_none() {
        let text = "- request: |\n    !SigstorePubKeyVerify\n    image: a\n    pub_keys: []\n  response:\n    type: Success\n    payload: '{}'\n";
        let mut r = Replayer::parse(text).expect("parse");
        let req = CallbackRequestType::SigstorePubKeyVerify {
            image: "a".into(),
            pub_keys: vec![],
            annotations: None,
        };
        assert_eq!(r.answer(&req).expect("success"), b"{}");
    }

    #[test]
    fn annotation_order_does_not_matter() {
        let text = "- type: Exchange\n  request: |\n    !SigstorePubKeyVerify\n    image: a\n    pub_keys: []\n    annotations:\n      z: '1'\n      a: '2'\n  response: {type: Success, payload: 'ok'}\n";
        let mut r = Replayer::parse(text).expect("parse");
        let req = CallbackRequestType::decode(
            "oci",
            "v2/verify",
            br#"{"type":"SigstorePubKeyVerify","image":"a","pub_keys":[],"annotations":{"a":"2","z":"1"}}"#,
        )
        .expect("decode");
        assert_eq!(r.answer(&req).expect("success"), b"ok");
    }

    #[test]
    fn bad_files_are_rejected_up_front() {
        let e = Replayer::parse(
            "- request: '!NoSuchVariant {}'\n  response: {type: Success, payload: ''}\n",
        )
        .expect_err("unknown variant");
        assert!(format!("{e:#}").contains("exchange #0"), "{e:#}");
        assert!(Replayer::parse("not: a sequence").is_err());
        assert!(
            Replayer::parse("- request: '!DNSLookupHost {host: x}'\n  response: {type: Maybe}\n")
                .is_err()
        );
        let e = Replayer::load(Path::new("/nonexistent/session.yml")).expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("Cannot open host capabilities interactions file")
        );
    }

    #[test]
    fn every_shared_session_parses() {
        for name in [
            "signed.yml",
            "unsigned.yml",
            "keyless-exact.yml",
            "oci-missing.yml",
            "oci-single.yml",
            "key-wrong.yml",
        ] {
            let r = Replayer::parse(&data(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(r.remaining() > 0, "{name}");
        }
    }
}
