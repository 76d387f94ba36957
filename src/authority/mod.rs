//! Authorities: one authority of a CIP checked against one image, through the host.
//!
//! Source: `sigstore/policy-controller` `pkg/webhook/validator.go` L545-627 (authority
//! results), L826-870 (signature verification and its messages). A passing authority yields
//! its entry of the Rego input's `authorityMatches`; a failing one yields upstream's message:
//!
//! - static: `{"static": true}` / `disallowed by static policy: <message>`;
//! - key: one `verify_pub_keys_image` host call per PEM key (the host requires every key of one
//!   call to have signed; upstream accepts any one), the first passing key passes the
//!   authority: `{"signatures": [{}]}` / `signature key validation failed for authority <name>
//!   for <image>: <host error>`;
//! - keyless ([`keyless`]): `{"signatures": [{"subject", "issuer"}]}` /
//!   `signature keyless validation failed for authority <name> for <image>: <error>`.
//!
//! The host verifies both signature formats, cosign's legacy `.sig` tag and the Sigstore
//! bundles cosign v3 writes as OCI referrers (Kubewarden 1.36+, sigstore-rs 0.14
//! `trusted_signature_layers`); nothing here depends on which one a signature uses, except
//! reading certificates for identity regexps ([`keyless`]). When the host finds no signature
//! it can verify, the failure gets one more line, [`UNSEEN_SIGNATURES`], after the host's words.
//!
//! The host always does the cryptography; the module only chooses what to ask.

mod keyless;

use crate::cip::{Authority, KeyRef, SecretRef};
use crate::host::Host;
use crate::pem;
use crate::reference::ImageRef;
use regex::Regex;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;

/// The host's words when it found no signature it can verify (kubewarden-controller
/// `crates/policy-fetcher/src/verify/mod.rs` `fetch_sigstore_remote_data`; recorded in
/// `test_data/sessions/unsigned.yml` and `bundle-key-unsupported.yml`).
pub const NO_SIGNATURES_FOUND: &str = "no signatures found";

/// The line added after a host's [`NO_SIGNATURES_FOUND`]: what the host skips (sigstore-rs 0.14
/// `SignatureLayer::from_sigstore_bundle`, `../shared/reference/upstream-2026-12.md` §1.1).
pub const UNSEEN_SIGNATURES: &str = "this host cannot see every kind of signature: Kubewarden 1.36+ (sigstore-rs 0.14) skips Sigstore bundles signed with a key (cosign v3 sign --key), bundles with a Rekor v2 entry and timestamp-only bundles, and Kubewarden before 1.36 sees no bundle at all: sign keyless, or with a key in the legacy format (cosign sign --key … --new-bundle-format=false)";

/// A passing authority: its `authorityMatches` entry and, for signature authorities, the
/// digest the host verified.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorityPass {
    /// `authorityMatches[<name>]`.
    pub matches: Value,
    /// `sha256:<hex>` verified by the host, when a signature was checked.
    pub digest: Option<String>,
}

/// Checks authorities against images for one request, compiling each identity expression once.
pub struct Checker<'a> {
    host: &'a dyn Host,
    regexes: RefCell<HashMap<String, Result<Regex, String>>>,
}

impl<'a> Checker<'a> {
    /// A checker calling `host` (wrap it in a [`crate::host::CachedHost`] to ask each distinct
    /// question once).
    pub fn new(host: &'a dyn Host) -> Self {
        Checker {
            host,
            regexes: RefCell::new(HashMap::new()),
        }
    }

    /// Checks `authority` against `image`. `Err` is the failure message.
    pub fn check(&self, authority: &Authority, image: &ImageRef) -> Result<AuthorityPass, String> {
        let name = authority.name();
        if let Some(st) = &authority.static_ {
            return match st.action.as_str() {
                "pass" => Ok(AuthorityPass {
                    matches: json!({"static": true}),
                    digest: None,
                }),
                "fail" => Err(format!(
                    "disallowed by static policy: {}",
                    st.message.as_deref().unwrap_or("")
                )),
                other => Err(format!("unsupported static action {other:?}")),
            };
        }
        if let Some(key) = &authority.key {
            return self.check_key(key, name, image).map_err(|e| {
                format!(
                    "signature key validation failed for authority {name} for {}: {}",
                    image.raw(),
                    with_unseen_signatures(e)
                )
            });
        }
        if let Some(keyless) = &authority.keyless {
            return self.check_keyless(keyless, image).map_err(|e| {
                format!(
                    "signature keyless validation failed for authority {name} for {}: {}",
                    image.raw(),
                    with_unseen_signatures(e)
                )
            });
        }
        Err(format!("failed to process authority: {name}"))
    }

    fn check_key(
        &self,
        key: &KeyRef,
        name: &str,
        image: &ImageRef,
    ) -> Result<AuthorityPass, String> {
        let keys = match (&key.data, &key.secret_ref) {
            (Some(data), _) => pem::public_keys(data)
                .map_err(|e| format!("there are no public keys for authority {name}: {e}"))?,
            (None, Some(secret)) => self.keys_from_secret(secret)?,
            (None, None) => return Err(format!("there are no public keys for authority {name}")),
        };
        let mut failures = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match self.host.verify_pub_key(image.raw(), k) {
                Ok(digest) => {
                    return Ok(AuthorityPass {
                        matches: json!({"signatures": [{}]}),
                        digest: Some(digest),
                    });
                }
                Err(e) if keys.len() == 1 => failures.push(e.0),
                Err(e) => failures.push(format!("key {} of {}: {}", i + 1, keys.len(), e.0)),
            }
        }
        Err(failures.join("\n"))
    }

    /// Reads `key.secretRef` with upstream's rules (`pkg/reconciler/clusterimagepolicy`
    /// L233-264): exactly one data entry, holding PEM public keys.
    fn keys_from_secret(&self, secret: &SecretRef) -> Result<Vec<String>, String> {
        let name = secret.name.as_deref().unwrap_or("");
        let object = self
            .host
            .get_resource("v1", "Secret", name, secret.namespace.as_deref())
            .map_err(|e| format!("cannot read secret {name:?}: {e}"))?;
        let decoded: k8s_openapi::api::core::v1::Secret = serde_json::from_value(object)
            .map_err(|e| format!("cannot decode secret {name:?}: {e}"))?;
        let data = decoded.data.unwrap_or_default();
        let mut entries = data.values();
        match (entries.next(), entries.next()) {
            (None, _) => Err(format!("secret {name:?} contains no data")),
            (Some(_), Some(_)) => Err(format!(
                "secret {name:?} contains multiple data entries, only one is supported"
            )),
            (Some(bytes), None) => {
                let text = String::from_utf8(bytes.0.clone())
                    .map_err(|_| format!("secret {name:?} contains an invalid public key"))?;
                pem::public_keys(&text)
                    .map_err(|_| format!("secret {name:?} contains an invalid public key"))
            }
        }
    }
}

/// `failure` with [`UNSEEN_SIGNATURES`] on a last line when the host said it found no
/// signature (once, however many host calls said so).
fn with_unseen_signatures(failure: String) -> String {
    if failure.contains(NO_SIGNATURES_FOUND) {
        format!("{failure}\n{UNSEEN_SIGNATURES}")
    } else {
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cip::{Identity, KeylessRef, StaticRef};
    use crate::host::fake::FakeHost;

    const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";
    const K2: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFB2vRB56GkNlssONMXhgnaP6ukgc\nOR0gBt+icXhzHA7QOKpKbI5TGx9nd/9tbOilk8LqsvBfkhd97c4lANfL1A==\n-----END PUBLIC KEY-----\n";
    const D: &str = "sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32";
    const IMG: &str = "127.0.0.1:5000/demo/app:signed";

    fn static_authority(action: &str, message: Option<&str>) -> Authority {
        Authority {
            name: Some("authority-0".into()),
            static_: Some(StaticRef {
                action: action.into(),
                message: message.map(String::from),
            }),
            ..Default::default()
        }
    }

    fn key_authority(data: &str) -> Authority {
        Authority {
            name: Some("k".into()),
            key: Some(KeyRef {
                data: Some(data.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(super) fn keyless_authority(identities: Vec<Identity>) -> Authority {
        Authority {
            name: Some("kl".into()),
            keyless: Some(KeylessRef {
                identities,
                url: Some("https://fulcio.sigstore.dev".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(super) fn img(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn static_pass_and_fail() {
        let host = FakeHost::default();
        let c = Checker::new(&host);
        assert_eq!(
            c.check(&static_authority("pass", None), &img("nginx")),
            Ok(AuthorityPass {
                matches: json!({"static": true}),
                digest: None
            })
        );
        assert_eq!(
            c.check(&static_authority("fail", Some("no way")), &img("nginx")),
            Err("disallowed by static policy: no way".into())
        );
        assert_eq!(
            c.check(&static_authority("fail", None), &img("nginx")),
            Err("disallowed by static policy: ".into())
        );
        assert_eq!(
            c.check(&static_authority("maybe", None), &img("nginx")),
            Err("unsupported static action \"maybe\"".into())
        );
        assert_eq!(
            c.check(
                &Authority {
                    name: Some("x".into()),
                    ..Default::default()
                },
                &img("nginx")
            ),
            Err("failed to process authority: x".into())
        );
        assert!(host.calls().is_empty());
    }

    #[test]
    fn key_any_of_several_keys() {
        let host = FakeHost::default()
            .answer(
                &format!("verify_pub_key {IMG} {K2}"),
                Err("Image verification failed: missing signatures"),
            )
            .answer(&format!("verify_pub_key {IMG} {K1}"), Ok(D));
        let c = Checker::new(&host);
        let pass = c
            .check(&key_authority(&format!("{K2}{K1}")), &img(IMG))
            .unwrap();
        assert_eq!(
            pass,
            AuthorityPass {
                matches: json!({"signatures": [{}]}),
                digest: Some(D.into())
            }
        );
        assert_eq!(host.calls().len(), 2);
    }

    #[test]
    fn key_failure_messages() {
        let host = FakeHost::default().answer(
            &format!("verify_pub_key {IMG} {K2}"),
            Err("Image verification failed: missing signatures"),
        );
        let c = Checker::new(&host);
        assert_eq!(
            c.check(&key_authority(K2), &img(IMG)),
            Err(format!(
                "signature key validation failed for authority k for {IMG}: Image verification failed: missing signatures"
            ))
        );
        assert_eq!(
            c.check(&key_authority(&format!("{K2}{K1}")), &img(IMG)),
            Err(format!(
                "signature key validation failed for authority k for {IMG}: key 1 of 2: Image verification failed: missing signatures\nkey 2 of 2: no fake answer for verify_pub_key {IMG} {K1}"
            ))
        );
    }

    /// A cosign v3 key-signed image (a Sigstore bundle the host skips): the host's words
    /// first (`test_data/sessions/bundle-key-unsupported.yml`), then what the host cannot see.
    #[test]
    fn no_signatures_found_names_what_the_host_cannot_see() {
        let v3 = "127.0.0.1:5000/demo/v3key:v1";
        let host = FakeHost::default().answer(
            &format!("verify_pub_key {v3} {K1}"),
            Err(&format!("no signatures found for image: {v3} ")),
        );
        let c = Checker::new(&host);
        assert_eq!(
            c.check(&key_authority(K1), &img(v3)),
            Err(format!(
                "signature key validation failed for authority k for {v3}: no signatures found for image: {v3}\n{UNSEEN_SIGNATURES}"
            ))
        );
        // Once, however many keys the host said it for; not for other failures.
        let host = FakeHost::default()
            .answer(
                &format!("verify_pub_key {v3} {K1}"),
                Err("no signatures found for image: x"),
            )
            .answer(
                &format!("verify_pub_key {v3} {K2}"),
                Err("no signatures found for image: x"),
            );
        let e = Checker::new(&host)
            .check(&key_authority(&format!("{K1}{K2}")), &img(v3))
            .unwrap_err();
        assert_eq!(e.matches(UNSEEN_SIGNATURES).count(), 1);
        assert!(e.ends_with(UNSEEN_SIGNATURES), "{e}");
        let host = FakeHost::default().answer(
            &format!("verify_pub_key {IMG} {K2}"),
            Err("Image verification failed: missing signatures"),
        );
        let e = Checker::new(&host)
            .check(&key_authority(K2), &img(IMG))
            .unwrap_err();
        assert!(!e.contains(UNSEEN_SIGNATURES), "{e}");
        let keyless = keyless_authority(vec![Identity {
            issuer: Some("https://accounts.example.com".into()),
            subject: Some("alice@example.com".into()),
            ..Default::default()
        }]);
        let host = FakeHost::default().answer(
            &format!("verify_keyless_exact {v3} https://accounts.example.com alice@example.com"),
            Err(&format!("no signatures found for image: {v3} ")),
        );
        let e = Checker::new(&host).check(&keyless, &img(v3)).unwrap_err();
        assert!(
            e.ends_with(&format!(
                "no signatures found for image: {v3}\n{UNSEEN_SIGNATURES}"
            )),
            "{e}"
        );
    }

    #[test]
    fn key_from_secret() {
        let secret = |data: Value| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data})
                .to_string()
        };
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let authority = |ns: &str| Authority {
            name: Some("k".into()),
            key: Some(KeyRef {
                secret_ref: Some(SecretRef {
                    name: Some("s".into()),
                    namespace: Some(ns.into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let host = FakeHost::default()
            .answer(
                "get_resource v1 Secret ok/s",
                Ok(&secret(json!({"cosign.pub": b64(K1)}))),
            )
            .answer("get_resource v1 Secret empty/s", Ok(&secret(json!({}))))
            .answer(
                "get_resource v1 Secret two/s",
                Ok(&secret(json!({"a": b64(K1), "b": b64(K2)}))),
            )
            .answer(
                "get_resource v1 Secret bad/s",
                Ok(&secret(json!({"a": b64("hello")}))),
            )
            .answer(&format!("verify_pub_key {IMG} {K1}"), Ok(D));
        let c = Checker::new(&host);
        assert_eq!(
            c.check(&authority("ok"), &img(IMG))
                .unwrap()
                .digest
                .as_deref(),
            Some(D)
        );
        let prefix = format!("signature key validation failed for authority k for {IMG}: ");
        assert_eq!(
            c.check(&authority("empty"), &img(IMG)),
            Err(format!("{prefix}secret \"s\" contains no data"))
        );
        assert_eq!(
            c.check(&authority("two"), &img(IMG)),
            Err(format!(
                "{prefix}secret \"s\" contains multiple data entries, only one is supported"
            ))
        );
        assert_eq!(
            c.check(&authority("bad"), &img(IMG)),
            Err(format!(
                "{prefix}secret \"s\" contains an invalid public key"
            ))
        );
        assert_eq!(
            c.check(&authority("missing"), &img(IMG)),
            Err(format!(
                "{prefix}cannot read secret \"s\": no fake answer for get_resource v1 Secret missing/s"
            ))
        );
    }
}
