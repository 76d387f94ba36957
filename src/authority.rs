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
//! - keyless: each identity is one alternative. Exact `issuer` + `subject` is one
//!   `verify_keyless_exact_match` call. With `issuerRegExp`/`subjectRegExp` (RE2, unanchored, as
//!   cosign), the candidate identities are read from the certificates in the image's cosign
//!   signature manifest (`<repo>:sha256-<hex>.sig`, layer annotation
//!   `dev.sigstore.cosign/certificate`), and the pairs matching the expressions are then
//!   verified by the host, exactly: `{"signatures": [{"subject", "issuer"}]}` /
//!   `signature keyless validation failed for authority <name> for <image>: <error>`.
//!
//! The host always does the cryptography; the module only chooses what to ask.

use crate::certificate::{self, CertIdentity};
use crate::cip::{Authority, Identity, KeyRef, KeylessRef, SecretRef};
use crate::host::Host;
use crate::pem;
use crate::reference::ImageRef;
use regex::Regex;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;

/// Annotation of a cosign signature layer holding the signing certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";

/// cosign's message when no certificate identity matches (`pkg/cosign/verify.go`).
pub const NO_IDENTITY_MATCHED: &str =
    "none of the expected identities matched what was in the certificate";

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
                    "signature key validation failed for authority {name} for {}: {e}",
                    image.raw()
                )
            });
        }
        if let Some(keyless) = &authority.keyless {
            return self.check_keyless(keyless, image).map_err(|e| {
                format!(
                    "signature keyless validation failed for authority {name} for {}: {e}",
                    image.raw()
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

    fn check_keyless(
        &self,
        keyless: &KeylessRef,
        image: &ImageRef,
    ) -> Result<AuthorityPass, String> {
        let mut failures: Vec<String> = Vec::new();
        let mut certificates: Option<Result<Vec<CertIdentity>, String>> = None;
        for identity in &keyless.identities {
            let pairs = match (&identity.issuer, &identity.subject) {
                (Some(issuer), Some(subject)) => vec![(issuer.clone(), subject.clone())],
                _ => {
                    let certs =
                        certificates.get_or_insert_with(|| self.signature_identities(image));
                    match certs {
                        Ok(certs) => match self.matching_pairs(identity, certs) {
                            Ok(pairs) => pairs,
                            Err(e) => {
                                failures.push(e);
                                continue;
                            }
                        },
                        Err(e) => {
                            failures.push(e.clone());
                            continue;
                        }
                    }
                }
            };
            if pairs.is_empty() {
                failures.push(NO_IDENTITY_MATCHED.to_string());
            }
            for (issuer, subject) in pairs {
                match self
                    .host
                    .verify_keyless_exact(image.raw(), &issuer, &subject)
                {
                    Ok(digest) => {
                        return Ok(AuthorityPass {
                            matches: json!({"signatures": [{"subject": subject, "issuer": issuer}]}),
                            digest: Some(digest),
                        });
                    }
                    Err(e) => failures.push(e.0),
                }
            }
        }
        failures.dedup();
        Err(failures.join("\n"))
    }

    /// The (issuer, subject) pairs of `certs` satisfying `identity`'s exact values or
    /// expressions, without duplicates, in certificate order.
    fn matching_pairs(
        &self,
        identity: &Identity,
        certs: &[CertIdentity],
    ) -> Result<Vec<(String, String)>, String> {
        let issuer_ok = self.predicate(&identity.issuer, &identity.issuer_reg_exp)?;
        let subject_ok = self.predicate(&identity.subject, &identity.subject_reg_exp)?;
        let mut pairs: Vec<(String, String)> = Vec::new();
        for cert in certs {
            let Some(issuer) = &cert.issuer else { continue };
            if !issuer_ok(issuer) {
                continue;
            }
            for subject in &cert.subjects {
                let pair = (issuer.clone(), subject.clone());
                if subject_ok(subject) && !pairs.contains(&pair) {
                    pairs.push(pair);
                }
            }
        }
        Ok(pairs)
    }

    /// `exact` equality, else the unanchored expression `re`, else anything.
    #[allow(clippy::type_complexity)]
    fn predicate(
        &self,
        exact: &Option<String>,
        re: &Option<String>,
    ) -> Result<Box<dyn Fn(&str) -> bool>, String> {
        if let Some(exact) = exact.clone() {
            return Ok(Box::new(move |s: &str| s == exact));
        }
        let Some(re) = re else {
            return Ok(Box::new(|_: &str| true));
        };
        let compiled = self
            .regexes
            .borrow_mut()
            .entry(re.clone())
            .or_insert_with(|| Regex::new(re).map_err(|e| format!("regex is invalid: {e}")))
            .clone()?;
        Ok(Box::new(move |s: &str| compiled.is_match(s)))
    }

    /// The identities of the certificates in the image's cosign signature manifest.
    fn signature_identities(&self, image: &ImageRef) -> Result<Vec<CertIdentity>, String> {
        let digest = match image.digest() {
            Some(d) => d.to_string(),
            None => self.host.manifest_digest(image.raw()).map_err(|e| e.0)?,
        };
        let Some((algorithm, hex)) = digest.split_once(':') else {
            return Err(format!("the host returned an invalid digest {digest:?}"));
        };
        let signatures = format!("{}:{algorithm}-{hex}.sig", image.name_as_written());
        let manifest = self.host.oci_manifest(&signatures).map_err(|e| e.0)?;
        let mut identities = Vec::new();
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            if let Some(pem) = layer["annotations"][CERTIFICATE_ANNOTATION].as_str()
                && let Ok(identity) = certificate::identity_from_pem(pem)
            {
                identities.push(identity);
            }
        }
        Ok(identities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::tests::ALICE;
    use crate::cip::StaticRef;
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

    fn keyless_authority(identities: Vec<Identity>) -> Authority {
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

    fn img(s: &str) -> ImageRef {
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

    fn exact(issuer: &str, subject: &str) -> Identity {
        Identity {
            issuer: Some(issuer.into()),
            subject: Some(subject.into()),
            ..Default::default()
        }
    }

    const KL_IMG: &str = "127.0.0.1:5000/keyless/app:v1";
    const KL_D: &str = "sha256:54d7a68826810e6b10a084c2058086101483de45bd698c380d34a69dddfab10e";

    fn sig_manifest() -> String {
        json!({"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "annotations": {CERTIFICATE_ANNOTATION: ALICE}}]}).to_string()
    }

    #[test]
    fn keyless_exact_any_identity() {
        let host = FakeHost::default()
            .answer(
                &format!(
                    "verify_keyless_exact {KL_IMG} https://accounts.example.com bob@example.com"
                ),
                Err("Image verification failed: missing signatures"),
            )
            .answer(
                &format!(
                    "verify_keyless_exact {KL_IMG} https://accounts.example.com alice@example.com"
                ),
                Ok(KL_D),
            );
        let c = Checker::new(&host);
        let a = keyless_authority(vec![
            exact("https://accounts.example.com", "bob@example.com"),
            exact("https://accounts.example.com", "alice@example.com"),
        ]);
        assert_eq!(
            c.check(&a, &img(KL_IMG)),
            Ok(AuthorityPass {
                matches: json!({"signatures": [{"subject": "alice@example.com", "issuer": "https://accounts.example.com"}]}),
                digest: Some(KL_D.into())
            })
        );
        let only_bob = keyless_authority(vec![exact(
            "https://accounts.example.com",
            "bob@example.com",
        )]);
        assert_eq!(
            c.check(&only_bob, &img(KL_IMG)),
            Err(format!(
                "signature keyless validation failed for authority kl for {KL_IMG}: Image verification failed: missing signatures"
            ))
        );
    }

    #[test]
    fn keyless_regexp_reads_certificates_then_verifies_exactly() {
        let host = FakeHost::default()
            .answer(&format!("manifest_digest {KL_IMG}"), Ok(KL_D))
            .answer(
                &format!(
                    "oci_manifest 127.0.0.1:5000/keyless/app:sha256-{}.sig",
                    &KL_D[7..]
                ),
                Ok(&sig_manifest()),
            )
            .answer(
                &format!(
                    "verify_keyless_exact {KL_IMG} https://accounts.example.com alice@example.com"
                ),
                Ok(KL_D),
            );
        let c = Checker::new(&host);
        let a = keyless_authority(vec![Identity {
            issuer_reg_exp: Some("accounts\\.example".into()),
            subject_reg_exp: Some("@example\\.com$".into()),
            ..Default::default()
        }]);
        assert_eq!(
            c.check(&a, &img(KL_IMG)).unwrap().digest.as_deref(),
            Some(KL_D)
        );
        assert_eq!(
            host.calls(),
            vec![
                format!("manifest_digest {KL_IMG}"),
                format!(
                    "oci_manifest 127.0.0.1:5000/keyless/app:sha256-{}.sig",
                    &KL_D[7..]
                ),
                format!(
                    "verify_keyless_exact {KL_IMG} https://accounts.example.com alice@example.com"
                ),
            ]
        );
        let nobody = keyless_authority(vec![Identity {
            issuer: Some("https://accounts.example.com".into()),
            subject_reg_exp: Some("^bob@".into()),
            ..Default::default()
        }]);
        assert_eq!(
            c.check(&nobody, &img(KL_IMG)),
            Err(format!(
                "signature keyless validation failed for authority kl for {KL_IMG}: {NO_IDENTITY_MATCHED}"
            ))
        );
    }

    #[test]
    fn keyless_regexp_on_pinned_image_skips_resolution() {
        let pinned = format!("127.0.0.1:5000/keyless/app:v1@{KL_D}");
        let host = FakeHost::default().answer(
            &format!(
                "oci_manifest 127.0.0.1:5000/keyless/app:sha256-{}.sig",
                &KL_D[7..]
            ),
            Err("manifest unknown"),
        );
        let c = Checker::new(&host);
        let a = keyless_authority(vec![Identity {
            issuer_reg_exp: Some(".*".into()),
            subject_reg_exp: Some(".*".into()),
            ..Default::default()
        }]);
        assert_eq!(
            c.check(&a, &img(&pinned)),
            Err(format!(
                "signature keyless validation failed for authority kl for {pinned}: manifest unknown"
            ))
        );
        assert_eq!(host.calls().len(), 1);
    }
}
