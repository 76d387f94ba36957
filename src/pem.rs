//! PEM public keys as found in `key.data`: one or more `PUBLIC KEY` blocks.
//!
//! Upstream parses `key.data` with sigstore's `cryptoutils.UnmarshalPEMToPublicKey` and, when
//! verifying, accepts any one of several keys (`pkg/webhook/validation.go` L39-63). Each block
//! is kept byte for byte as written (plus a final newline), because the host compares the key
//! strings of recorded sessions exactly.
//!
//! What is not a public key gets a reason that says what it is instead ([`check`]): not PEM,
//! a private key (never shown back, see [`KeyDataError::private`]), a certificate, the base64
//! of a PEM block (a Secret's value pasted), a key body without its PEM lines, a placeholder
//! (`...`, `<your key>`). Upstream's `UnmarshalPEMToPublicKey` (sigstore/sigstore
//! `pkg/cryptoutils/publickey.go` L50-64) also takes PKCS#1 `RSA PUBLIC KEY` blocks; the host
//! reads the key with sigstore-rs, which decodes a SubjectPublicKeyInfo only
//! (`CosignVerificationKey::try_from_pem`/`try_from_der`, `src/crypto/verification_key.rs`
//! L151-164), so such a block is refused here, with the command that converts it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const END: &str = "-----END PUBLIC KEY-----";

/// Why `key.data` is not one or more PEM public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDataError {
    /// What the data is instead and what to do, one line; never quotes the data.
    pub reason: String,
    /// The data holds private key material: it must not be shown back in any message.
    pub private: bool,
}

impl std::fmt::Display for KeyDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl KeyDataError {
    fn new(reason: impl Into<String>) -> Self {
        KeyDataError {
            reason: reason.into(),
            private: false,
        }
    }
}

/// What stands for key data that holds a private key, in messages.
pub const PRIVATE_KEY_SHOWN_AS: &str = "<private key, not shown>";

/// Splits `data` into its PEM public keys, each `-----BEGIN PUBLIC KEY-----…-----END PUBLIC
/// KEY-----\n` exactly as written.
///
/// Errors: [`KeyDataError::reason`] (see [`check`]).
pub fn public_keys(data: &str) -> Result<Vec<String>, String> {
    check(data).map_err(|e| e.reason)
}

/// [`public_keys`], with the reason of a failure and whether the data is private.
///
/// Errors, checked in this order: private key material anywhere (a `PRIVATE KEY` PEM label, or
/// base64 whose decoding is a private key PEM block or DER private key); empty; a placeholder
/// (`...`, `…`, `<…>`, `${…}`, `{{…}}`, `REPLACE_ME`-like words); base64 of a PEM block; a
/// base64 key body without its PEM lines; no PEM block at all; then, block by block: text
/// outside the blocks, a `CERTIFICATE`, `RSA PUBLIC KEY` or other block, no `-----END PUBLIC
/// KEY-----` line, a body that is not base64, a body that is not a DER SubjectPublicKeyInfo.
pub fn check(data: &str) -> Result<Vec<String>, KeyDataError> {
    match split_blocks(data) {
        Ok(keys) => Ok(keys),
        Err(error) => Err(diagnose(data).unwrap_or(error)),
    }
}

/// `data` for a message: itself, or [`PRIVATE_KEY_SHOWN_AS`] when it holds a private key.
pub fn shown(data: &str) -> &str {
    if private_material(data).is_some() {
        PRIVATE_KEY_SHOWN_AS
    } else {
        data
    }
}

/// The PEM blocks, each a valid public key; the first problem otherwise.
fn split_blocks(data: &str) -> Result<Vec<String>, KeyDataError> {
    let mut keys = Vec::new();
    let mut rest = data;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        if !trimmed.starts_with(BEGIN) {
            return Err(match trimmed.strip_prefix("-----BEGIN ") {
                Some(label) => other_block(label.split("-----").next().unwrap_or("")),
                None => KeyDataError::new(format!(
                    "text outside the PEM blocks: key.data holds only \"{BEGIN}\" … \"{END}\" blocks"
                )),
            });
        }
        let end = trimmed
            .find(END)
            .ok_or_else(|| KeyDataError::new(format!("the PEM block has no \"{END}\" line")))?;
        let block = &trimmed[..end + END.len()];
        let parsed = ::pem::parse(block).map_err(|e| {
            KeyDataError::new(format!(
                "the PEM block's body is not base64 ({e}): is it cut short or edited?"
            ))
        })?;
        spki::SubjectPublicKeyInfoRef::try_from(parsed.contents()).map_err(|e| {
            KeyDataError::new(format!(
                "the PEM block does not hold a public key (not a DER SubjectPublicKeyInfo: {e}): is it cut short or edited?"
            ))
        })?;
        keys.push(format!("{block}\n"));
        rest = &trimmed[end + END.len()..];
    }
    if keys.is_empty() {
        return Err(KeyDataError::new(
            "empty: paste the public key in PEM format (the contents of cosign.pub)",
        ));
    }
    Ok(keys)
}

/// The reason for a block labelled `label` where a `PUBLIC KEY` block belongs.
fn other_block(label: &str) -> KeyDataError {
    KeyDataError::new(match label {
        "CERTIFICATE" => "a certificate, not a public key: give its public key instead (`openssl x509 -in cert.pem -pubkey -noout` prints it)".to_string(),
        "RSA PUBLIC KEY" => "an \"RSA PUBLIC KEY\" (PKCS#1) block: the host verifies with \"PUBLIC KEY\" (SubjectPublicKeyInfo) blocks only; convert it with `openssl rsa -RSAPublicKey_in -in key.pem -pubout`".to_string(),
        other => format!("a \"{other}\" PEM block, not a \"PUBLIC KEY\" block"),
    })
}

/// The whole-data diagnoses that come before the block-by-block ones (see [`check`]); `None`
/// when the data is PEM and the block-by-block reason stands.
fn diagnose(data: &str) -> Option<KeyDataError> {
    if let Some(what) = private_material(data) {
        return Some(KeyDataError {
            reason: format!(
                "{what}: the policy needs only the public key (`cosign public-key --key cosign.key` prints it, or use cosign.pub); never put a private key in a policy, and treat this one as exposed"
            ),
            private: true,
        });
    }
    if data.trim().is_empty() {
        return None;
    }
    if let Some(token) = placeholder(data) {
        return Some(KeyDataError::new(format!(
            "a placeholder ({token}), not a key: replace it with the public key in PEM format (the contents of cosign.pub)"
        )));
    }
    if let Some(decoded) = base64_decoded(data) {
        if String::from_utf8_lossy(&decoded).contains("-----BEGIN ") {
            return Some(KeyDataError::new(
                "base64 of a PEM block (as a Secret's data holds it), not the PEM text: decode it first (`base64 -d`) and paste the result",
            ));
        }
        if spki::SubjectPublicKeyInfoRef::try_from(decoded.as_slice()).is_ok() {
            return Some(KeyDataError::new(format!(
                "the base64 body of a public key without its PEM lines: put it between a \"{BEGIN}\" line and an \"{END}\" line"
            )));
        }
    }
    if !data.contains("-----BEGIN ") {
        return Some(KeyDataError::new(format!(
            "not PEM: a public key in PEM format starts with a \"{BEGIN}\" line (the contents of cosign.pub)"
        )));
    }
    None
}

/// What private key material `data` holds, if any: `a private key (a "-----BEGIN EC PRIVATE
/// KEY-----" block)`, `base64 of a private key PEM block`, `a private key (base64 DER)`.
fn private_material(data: &str) -> Option<String> {
    if let Some(label) = private_label(data) {
        return Some(format!(
            "a private key (a \"-----BEGIN {label}-----\" block)"
        ));
    }
    let decoded = base64_decoded(data)?;
    if private_label(&String::from_utf8_lossy(&decoded)).is_some() {
        return Some("base64 of a private key PEM block".to_string());
    }
    der_private_key(&decoded).then(|| "a private key (base64 DER)".to_string())
}

/// The first PEM label that names a private key (`PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED
/// SIGSTORE PRIVATE KEY`, …), or just `PRIVATE KEY` when the words appear outside a label.
fn private_label(text: &str) -> Option<&str> {
    for (start, _) in text.match_indices("-----BEGIN ") {
        let label = text[start + 11..].split("-----").next().unwrap_or("");
        if label.contains("PRIVATE") {
            return Some(label);
        }
    }
    text.to_ascii_uppercase()
        .contains("PRIVATE KEY")
        .then_some("PRIVATE KEY")
}

/// Whether DER `bytes` have the shape of a private key: a SEQUENCE whose first element is an
/// INTEGER (the version of PKCS#8, SEC1 and PKCS#1 private keys), other than a PKCS#1 public
/// key's two INTEGERs. A SubjectPublicKeyInfo and a certificate start with a SEQUENCE instead.
fn der_private_key(bytes: &[u8]) -> bool {
    use der::{Decode, Tag, Tagged};
    let Ok(elements) = Vec::<der::asn1::AnyRef<'_>>::from_der(bytes) else {
        return false;
    };
    let integers = elements.iter().filter(|e| e.tag() == Tag::Integer).count();
    elements.first().is_some_and(|e| e.tag() == Tag::Integer)
        && !(elements.len() == 2 && integers == 2)
}

/// `data` without whitespace, base64-decoded (with or without padding), when it is base64 of
/// at least 16 bytes.
fn base64_decoded(data: &str) -> Option<Vec<u8>> {
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 20 {
        return None;
    }
    STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .ok()
}

/// The placeholder in `data`, outside its `-----…-----` lines: `...`, `…`, `<…>`, `${`, `{{`, or a
/// word such as `REPLACE` on a line that also has a space or `_` (a base64 line has neither).
fn placeholder(data: &str) -> Option<String> {
    let body: Vec<&str> = data
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for line in &body {
        for token in ["...", "…", "${", "{{"] {
            if line.contains(token) {
                return Some(format!("`{token}`"));
            }
        }
        if let Some(open) = line.find('<')
            && let Some(close) = line[open..].find('>')
        {
            let token: String = line[open..open + close + 1].chars().take(40).collect();
            return Some(format!("`{token}`"));
        }
        let upper = line.to_ascii_uppercase();
        if line.contains([' ', '_'])
            && let Some(word) = [
                "REPLACE",
                "YOUR",
                "INSERT",
                "TODO",
                "CHANGEME",
                "PLACEHOLDER",
            ]
            .into_iter()
            .find(|w| upper.contains(w))
        {
            return Some(format!("the word {word}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";
    pub const K2: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFB2vRB56GkNlssONMXhgnaP6ukgc\nOR0gBt+icXhzHA7QOKpKbI5TGx9nd/9tbOilk8LqsvBfkhd97c4lANfL1A==\n-----END PUBLIC KEY-----\n";

    /// A throwaway P-256 private key (`openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256`, PKCS#8), made for this test and never used for anything: the tests check it is never shown back.
    const PRIVATE_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKLyq20EZskOvsybi\nzC4ekCme0ZJ9qKlOjH/MsAkvVAChRANCAAQSUGcq+cIuMv8O1+fWePA4FeyuOqw4\n9yZZI09RRY4pi+lqjEEQhe+UUUHnsTldu0Z+pE2b7/guAxpn8N9EZ37z\n-----END PRIVATE KEY-----\n";

    fn reason(data: &str) -> String {
        check(data).expect_err("not a public key").reason
    }

    #[test]
    fn splits_several_keys_exactly() {
        assert_eq!(public_keys(K1).unwrap(), vec![K1.to_string()]);
        let both = format!("{K2}{K1}");
        assert_eq!(
            public_keys(&both).unwrap(),
            vec![K2.to_string(), K1.to_string()]
        );
        let no_final_newline = K1.trim_end();
        assert_eq!(public_keys(no_final_newline).unwrap(), vec![K1.to_string()]);
        assert_eq!(shown(K1), K1);
    }

    #[test]
    fn rejects_non_keys() {
        assert!(public_keys("").is_err());
        assert!(public_keys("hello").is_err());
        assert!(
            public_keys("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err()
        );
        assert!(public_keys("-----BEGIN PUBLIC KEY-----\nMFkw").is_err());
        let cert = K1.replace("PUBLIC KEY", "CERTIFICATE");
        assert!(public_keys(&cert).is_err());
    }

    #[test]
    fn says_what_the_data_is_instead() {
        assert_eq!(
            reason("  \n"),
            "empty: paste the public key in PEM format (the contents of cosign.pub)"
        );
        assert_eq!(
            reason("notakey"),
            "not PEM: a public key in PEM format starts with a \"-----BEGIN PUBLIC KEY-----\" line (the contents of cosign.pub)"
        );
        assert_eq!(
            reason(&K1.replace("PUBLIC KEY", "CERTIFICATE")),
            "a certificate, not a public key: give its public key instead (`openssl x509 -in cert.pem -pubkey -noout` prints it)"
        );
        assert_eq!(
            reason(&K1.replace("PUBLIC KEY", "RSA PUBLIC KEY")),
            "an \"RSA PUBLIC KEY\" (PKCS#1) block: the host verifies with \"PUBLIC KEY\" (SubjectPublicKeyInfo) blocks only; convert it with `openssl rsa -RSAPublicKey_in -in key.pem -pubout`"
        );
        assert_eq!(
            reason(&K1.replace("PUBLIC KEY", "PGP PUBLIC KEY BLOCK")),
            "a \"PGP PUBLIC KEY BLOCK\" PEM block, not a \"PUBLIC KEY\" block"
        );
        assert_eq!(
            reason(&format!("my release key:\n{K1}")),
            "text outside the PEM blocks: key.data holds only \"-----BEGIN PUBLIC KEY-----\" … \"-----END PUBLIC KEY-----\" blocks"
        );
        assert_eq!(
            reason(
                "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n"
            ),
            "the PEM block has no \"-----END PUBLIC KEY-----\" line"
        );
        assert!(
            reason("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").starts_with(
                "the PEM block does not hold a public key (not a DER SubjectPublicKeyInfo: "
            ),
        );
        assert!(
            reason("-----BEGIN PUBLIC KEY-----\nMFkw*EwYH\n-----END PUBLIC KEY-----\n")
                .starts_with("the PEM block's body is not base64 ("),
        );
        // A Secret's value pasted: base64 of the PEM text.
        assert_eq!(
            reason(&STANDARD.encode(K1)),
            "base64 of a PEM block (as a Secret's data holds it), not the PEM text: decode it first (`base64 -d`) and paste the result"
        );
        // The body alone.
        let body: String = K1.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(
            reason(&body),
            "the base64 body of a public key without its PEM lines: put it between a \"-----BEGIN PUBLIC KEY-----\" line and an \"-----END PUBLIC KEY-----\" line"
        );
    }

    /// Placeholders as documentation writes them; the first is `key.data` of Chainguard's
    /// `custom-key-attestation-sbom-spdxjson` example (chainguard-dev/edu
    /// `content/open-source/sigstore/policy-controller/policies/chainguard-enforce-policy-examples.md`
    /// 0a857b7746261ff1f0dbefd6258a819c1bdb75b2).
    #[test]
    fn placeholders() {
        for (data, token) in [
            (
                "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n",
                "`...`",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\nMFkw…\n-----END PUBLIC KEY-----\n",
                "`…`",
            ),
            ("<your key>", "`<your key>`"),
            (
                "-----BEGIN PUBLIC KEY-----\n<PUBLIC_KEY>\n-----END PUBLIC KEY-----",
                "`<PUBLIC_KEY>`",
            ),
            ("${COSIGN_PUBLIC_KEY}", "`${`"),
            ("{{ .Values.cosignKey }}", "`{{`"),
            ("REPLACE_WITH_YOUR_KEY", "the word REPLACE"),
            (
                "-----BEGIN PUBLIC KEY-----\npaste your key here\n-----END PUBLIC KEY-----",
                "the word YOUR",
            ),
        ] {
            assert_eq!(
                reason(data),
                format!(
                    "a placeholder ({token}), not a key: replace it with the public key in PEM format (the contents of cosign.pub)"
                ),
                "{data:?}"
            );
        }
    }

    /// A private key, as PEM, base64 of the PEM, or base64 DER: said so, never shown.
    #[test]
    fn private_keys_are_named_and_never_shown() {
        let der: String = PRIVATE_PKCS8
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        for (data, what) in [
            (
                PRIVATE_PKCS8.to_string(),
                "a private key (a \"-----BEGIN PRIVATE KEY-----\" block)",
            ),
            (
                PRIVATE_PKCS8.replace("PRIVATE KEY", "EC PRIVATE KEY"),
                "a private key (a \"-----BEGIN EC PRIVATE KEY-----\" block)",
            ),
            (
                format!("{K1}{PRIVATE_PKCS8}"),
                "a private key (a \"-----BEGIN PRIVATE KEY-----\" block)",
            ),
            (
                STANDARD.encode(PRIVATE_PKCS8),
                "base64 of a private key PEM block",
            ),
            (der, "a private key (base64 DER)"),
        ] {
            let error = check(&data).expect_err("private");
            assert!(error.private, "{data:?}");
            assert_eq!(
                error.reason,
                format!(
                    "{what}: the policy needs only the public key (`cosign public-key --key cosign.key` prints it, or use cosign.pub); never put a private key in a policy, and treat this one as exposed"
                )
            );
            assert_eq!(shown(&data), PRIVATE_KEY_SHOWN_AS);
        }
        // A public key's base64 body is not taken for a private one.
        let body: String = K1.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(shown(&body), body);
    }
}
