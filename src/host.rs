//! Kubewarden host capabilities behind one trait: [`SdkHost`] calls the real host through
//! `kubewarden-policy-sdk`; tests use a fake implementing [`Host`].
//!
//! Every capability answers `Ok` or a [`HostError`] carrying the host's words. The host reports
//! a failed verification as an error (`is_trusted: false` never happens), so callers treat
//! every `Err` as "not verified" (`../shared/reference/kubewarden.md` §1.4).

use kubewarden_policy_sdk::host_capabilities::{kubernetes, oci, verification};
use serde_json::Value;

/// A host capability failed; the message is the host's, trimmed of transport noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl HostError {
    /// Keeps the host's own words from an SDK error text: drops the SDK's `error invoking host
    /// capability <op>: ` prefix, wapc-guest's `Host error: `, the host's `Callback evaluation
    /// failure: `, and any `Stack backtrace:` section a host running with `RUST_BACKTRACE`
    /// appends, then trims whitespace.
    pub fn from_sdk_text(text: &str) -> HostError {
        let mut body = text.trim_start();
        if let Some(rest) = body.strip_prefix("error invoking host capability ")
            && let Some((_, after)) = rest.split_once(": ")
        {
            body = after;
        }
        body = body.strip_prefix("Host error: ").unwrap_or(body);
        body = body
            .strip_prefix("Callback evaluation failure: ")
            .unwrap_or(body);
        if let Some(at) = body.find("Stack backtrace:") {
            body = &body[..at];
        }
        HostError(body.trim().to_string())
    }
}

/// The host capabilities the policy uses. Images are passed exactly as written in the
/// resource (the host normalises them itself).
pub trait Host {
    /// `oci/v1/manifest_digest`: the digest (`sha256:<hex>`) the reference resolves to (the
    /// index digest for multi-platform images).
    fn manifest_digest(&self, image: &str) -> Result<String, HostError>;

    /// `oci/v2/verify` with `SigstorePubKeyVerify` and exactly one key: the digest verified.
    fn verify_pub_key(&self, image: &str, pem_key: &str) -> Result<String, HostError>;

    /// `oci/v2/verify` with `SigstoreKeylessVerify` and exactly one identity: the digest verified.
    fn verify_keyless_exact(
        &self,
        image: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<String, HostError>;

    /// `oci/v2/verify` with `SigstoreKeylessPrefixVerify` and exactly one identity: the digest
    /// verified. The host requires the issuer to be `issuer` and the certificate's subject to
    /// start with `url_prefix` as its URL parser serialises it (a `/` appended when missing);
    /// `url_prefix` must parse as a URL, or the host's callback task panics
    /// (`crate::identity` only produces canonical ones).
    fn verify_keyless_prefix(
        &self,
        image: &str,
        issuer: &str,
        url_prefix: &str,
    ) -> Result<String, HostError>;

    /// `oci/v1/oci_manifest`: the manifest or index JSON.
    fn oci_manifest(&self, image: &str) -> Result<Value, HostError>;

    /// `oci/v1/oci_manifest_config`: `{"manifest", "digest", "config"}` of an image manifest (the
    /// host picks its own platform when the reference is an index).
    fn manifest_and_config(&self, image: &str) -> Result<Value, HostError>;

    /// `kubernetes/get_resource` (context-aware): the object, e.g. a `v1` `Secret`.
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Value, HostError>;
}

/// Memoises another [`Host`] for one admission request, so that each distinct call (same
/// capability, image, key or identity) reaches the host once however many containers, CIPs or
/// authorities ask it. Errors are memoised too: the request sees one consistent answer.
pub struct CachedHost<'a> {
    inner: &'a dyn Host,
    text: std::cell::RefCell<std::collections::HashMap<String, Result<String, HostError>>>,
    json: std::cell::RefCell<std::collections::HashMap<String, Result<Value, HostError>>>,
}

impl<'a> CachedHost<'a> {
    /// Wraps `inner` with an empty cache.
    pub fn new(inner: &'a dyn Host) -> Self {
        CachedHost {
            inner,
            text: Default::default(),
            json: Default::default(),
        }
    }

    fn text(
        &self,
        key: String,
        call: impl FnOnce() -> Result<String, HostError>,
    ) -> Result<String, HostError> {
        if let Some(answer) = self.text.borrow().get(&key) {
            return answer.clone();
        }
        let answer = call();
        self.text.borrow_mut().insert(key, answer.clone());
        answer
    }

    fn json(
        &self,
        key: String,
        call: impl FnOnce() -> Result<Value, HostError>,
    ) -> Result<Value, HostError> {
        if let Some(answer) = self.json.borrow().get(&key) {
            return answer.clone();
        }
        let answer = call();
        self.json.borrow_mut().insert(key, answer.clone());
        answer
    }
}

impl Host for CachedHost<'_> {
    fn manifest_digest(&self, image: &str) -> Result<String, HostError> {
        self.text(format!("digest\0{image}"), || {
            self.inner.manifest_digest(image)
        })
    }
    fn verify_pub_key(&self, image: &str, pem_key: &str) -> Result<String, HostError> {
        self.text(format!("key\0{image}\0{pem_key}"), || {
            self.inner.verify_pub_key(image, pem_key)
        })
    }
    fn verify_keyless_exact(
        &self,
        image: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<String, HostError> {
        self.text(format!("keyless\0{image}\0{issuer}\0{subject}"), || {
            self.inner.verify_keyless_exact(image, issuer, subject)
        })
    }
    fn verify_keyless_prefix(
        &self,
        image: &str,
        issuer: &str,
        url_prefix: &str,
    ) -> Result<String, HostError> {
        self.text(format!("prefix\0{image}\0{issuer}\0{url_prefix}"), || {
            self.inner.verify_keyless_prefix(image, issuer, url_prefix)
        })
    }
    fn oci_manifest(&self, image: &str) -> Result<Value, HostError> {
        self.json(format!("manifest\0{image}"), || {
            self.inner.oci_manifest(image)
        })
    }
    fn manifest_and_config(&self, image: &str) -> Result<Value, HostError> {
        self.json(format!("config\0{image}"), || {
            self.inner.manifest_and_config(image)
        })
    }
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Value, HostError> {
        let ns = namespace.unwrap_or("");
        self.json(
            format!("resource\0{api_version}\0{kind}\0{ns}\0{name}"),
            || self.inner.get_resource(api_version, kind, name, namespace),
        )
    }
}

/// The host capabilities [`SdkHost`] calls, as `namespace/operation` (what metadata.yml's
/// `hostCapabilities` must list).
pub const CAPABILITIES: [&str; 5] = [
    "oci/v1/manifest_digest",
    "oci/v1/oci_manifest",
    "oci/v1/oci_manifest_config",
    "oci/v2/verify",
    "kubernetes/get_resource",
];

/// The Kubernetes resources [`SdkHost::get_resource`] reads (`apiVersion`, `kind`): what
/// metadata.yml's `contextAwareResources` must list.
pub const CONTEXT_AWARE_RESOURCES: [(&str, &str); 2] = [("v1", "Secret"), ("v1", "ConfigMap")];

/// The real host, through `kubewarden-policy-sdk`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SdkHost;

fn sdk_err(e: kubewarden_policy_sdk::error::Error) -> HostError {
    HostError::from_sdk_text(&e.to_string())
}

impl Host for SdkHost {
    fn manifest_digest(&self, image: &str) -> Result<String, HostError> {
        oci::get_manifest_digest(image)
            .map(|r| r.digest)
            .map_err(sdk_err)
    }

    fn verify_pub_key(&self, image: &str, pem_key: &str) -> Result<String, HostError> {
        verified(verification::verify_pub_keys_image(
            image,
            vec![pem_key.to_string()],
            None,
        ))
    }

    fn verify_keyless_exact(
        &self,
        image: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<String, HostError> {
        let identity = verification::KeylessInfo {
            issuer: issuer.to_string(),
            subject: subject.to_string(),
        };
        verified(verification::verify_keyless_exact_match(
            image,
            vec![identity],
            None,
        ))
    }

    fn verify_keyless_prefix(
        &self,
        image: &str,
        issuer: &str,
        url_prefix: &str,
    ) -> Result<String, HostError> {
        let identity = verification::KeylessPrefixInfo {
            issuer: issuer.to_string(),
            url_prefix: url_prefix.to_string(),
        };
        verified(verification::verify_keyless_prefix_match(
            image,
            vec![identity],
            None,
        ))
    }

    fn oci_manifest(&self, image: &str) -> Result<Value, HostError> {
        let manifest = oci::get_manifest(image).map_err(sdk_err)?;
        serde_json::to_value(&manifest)
            .map_err(|e| HostError(format!("cannot encode the manifest: {e}")))
    }

    fn manifest_and_config(&self, image: &str) -> Result<Value, HostError> {
        let response = oci::get_manifest_and_config(image).map_err(sdk_err)?;
        serde_json::to_value(&response)
            .map_err(|e| HostError(format!("cannot encode the configuration: {e}")))
    }
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Value, HostError> {
        let request = kubernetes::GetResourceRequest {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            disable_cache: false,
            field_masks: None,
        };
        kubernetes::get_resource::<Value>(&request).map_err(sdk_err)
    }
}

/// The digest of an `oci/v2/verify` answer. `is_trusted: false` is not expected from the host;
/// it is a failure anyway.
fn verified(
    answer: Result<verification::VerificationResponse, kubewarden_policy_sdk::error::Error>,
) -> Result<String, HostError> {
    let r = answer.map_err(sdk_err)?;
    if r.is_trusted {
        Ok(r.digest)
    } else {
        Err(HostError("the host answered is_trusted: false".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_transport_noise() {
        let text = "error invoking host capability oci.verify: Host error: Callback evaluation failure: Image verification failed: missing signatures\nThe following constraints were not satisfied:\nkind: pubKey\n\nStack backtrace:\n   0: anyhow::error\n   1: foo\n";
        assert_eq!(
            HostError::from_sdk_text(text).0,
            "Image verification failed: missing signatures\nThe following constraints were not satisfied:\nkind: pubKey"
        );
        assert_eq!(HostError::from_sdk_text("Host error: boom ").0, "boom");
        let denied = "error invoking host capability kubernetes.get_resource: Host error: Policy has not been granted access to Kubernetes v1/ConfigMap resources. The violation has been reported.";
        assert_eq!(
            HostError::from_sdk_text(denied).0,
            "Policy has not been granted access to Kubernetes v1/ConfigMap resources. The violation has been reported."
        );
        let nested = "Callback evaluation failure: upstream said: Callback evaluation failure: x";
        assert_eq!(
            HostError::from_sdk_text(nested).0,
            "upstream said: Callback evaluation failure: x"
        );
    }
}

/// A scripted [`Host`] for tests and fuzzing: answers from a table, records every call.
pub mod fake {
    use super::{Host, HostError};
    use serde_json::Value;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Answers keyed by call: `manifest_digest <image>`, `verify_pub_key <image> <pem>`,
    /// `verify_keyless_exact <image> <issuer> <subject>`,
    /// `verify_keyless_prefix <image> <issuer> <url_prefix>`, `oci_manifest <image>`,
    /// `manifest_and_config <image>`,
    /// `get_resource <apiVersion> <kind> <namespace>/<name>`. An
    /// unscripted call fails with `no fake answer for <call>`.
    #[derive(Debug, Default)]
    pub struct FakeHost {
        answers: HashMap<String, Result<String, String>>,
        calls: RefCell<Vec<String>>,
        /// How long each call takes (a slow registry); none by default.
        delay: std::time::Duration,
    }

    impl FakeHost {
        /// Scripts the answer to `call`: `Ok(payload)` (a digest, or manifest JSON) or
        /// `Err(host message)`.
        pub fn answer(mut self, call: &str, result: Result<&str, &str>) -> Self {
            self.answers.insert(
                call.to_string(),
                result.map(String::from).map_err(String::from),
            );
            self
        }

        /// Makes every call take `delay` of wall time, as a slow registry would.
        pub fn delay(mut self, delay: std::time::Duration) -> Self {
            self.delay = delay;
            self
        }

        /// Every call made so far, in order.
        pub fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }

        fn call(&self, key: String) -> Result<String, HostError> {
            self.calls.borrow_mut().push(key.clone());
            std::thread::sleep(self.delay);
            match self.answers.get(&key) {
                Some(Ok(payload)) => Ok(payload.clone()),
                Some(Err(message)) => Err(HostError::from_sdk_text(message)),
                None => Err(HostError(format!("no fake answer for {key}"))),
            }
        }
    }

    impl Host for FakeHost {
        fn manifest_digest(&self, image: &str) -> Result<String, HostError> {
            self.call(format!("manifest_digest {image}"))
        }
        fn verify_pub_key(&self, image: &str, pem_key: &str) -> Result<String, HostError> {
            self.call(format!("verify_pub_key {image} {pem_key}"))
        }
        fn verify_keyless_exact(
            &self,
            image: &str,
            issuer: &str,
            subject: &str,
        ) -> Result<String, HostError> {
            self.call(format!("verify_keyless_exact {image} {issuer} {subject}"))
        }
        fn verify_keyless_prefix(
            &self,
            image: &str,
            issuer: &str,
            url_prefix: &str,
        ) -> Result<String, HostError> {
            self.call(format!(
                "verify_keyless_prefix {image} {issuer} {url_prefix}"
            ))
        }
        fn oci_manifest(&self, image: &str) -> Result<Value, HostError> {
            let text = self.call(format!("oci_manifest {image}"))?;
            serde_json::from_str(&text)
                .map_err(|e| HostError(format!("invalid manifest JSON: {e}")))
        }
        fn manifest_and_config(&self, image: &str) -> Result<Value, HostError> {
            let text = self.call(format!("manifest_and_config {image}"))?;
            serde_json::from_str(&text)
                .map_err(|e| HostError(format!("invalid configuration JSON: {e}")))
        }
        fn get_resource(
            &self,
            api_version: &str,
            kind: &str,
            name: &str,
            namespace: Option<&str>,
        ) -> Result<Value, HostError> {
            let ns = namespace.unwrap_or("");
            let text = self.call(format!("get_resource {api_version} {kind} {ns}/{name}"))?;
            serde_json::from_str(&text)
                .map_err(|e| HostError(format!("invalid resource JSON: {e}")))
        }
    }

    #[test]
    fn cached_host_asks_once() {
        let fake = FakeHost::default()
            .answer("manifest_digest a", Ok("sha256:1"))
            .answer("verify_pub_key a K", Err("no signatures found"));
        let cached = super::CachedHost::new(&fake);
        for _ in 0..3 {
            assert_eq!(cached.manifest_digest("a"), Ok("sha256:1".into()));
            assert_eq!(
                cached.verify_pub_key("a", "K"),
                Err(HostError("no signatures found".into()))
            );
        }
        assert_eq!(
            cached.verify_keyless_exact("a", "i", "s"),
            Err(HostError(
                "no fake answer for verify_keyless_exact a i s".into()
            ))
        );
        for _ in 0..2 {
            assert_eq!(
                cached.verify_keyless_prefix("a", "i", "https://x/"),
                Err(HostError(
                    "no fake answer for verify_keyless_prefix a i https://x/".into()
                ))
            );
        }
        assert_eq!(
            fake.calls(),
            vec![
                "manifest_digest a",
                "verify_pub_key a K",
                "verify_keyless_exact a i s",
                "verify_keyless_prefix a i https://x/",
            ]
        );
    }
}
