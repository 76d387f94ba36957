//! The identity a Fulcio certificate carries: its OIDC issuer and its subjects.
//!
//! Used only to *choose* which exact (issuer, subject) pairs to ask the host to verify when a
//! keyless identity is given as `issuerRegExp`/`subjectRegExp`; the host always does the
//! cryptographic verification. Fulcio's certificate profile
//! (sigstore/fulcio `docs/oid-info.md`): the issuer is the extension `1.3.6.1.4.1.57264.1.8`
//! (a DER UTF8String) or the deprecated `1.3.6.1.4.1.57264.1.1` (the raw string); the subjects
//! are the SubjectAltName's email addresses, URIs and `1.3.6.1.4.1.57264.1.7` other-names.
//! Upstream (cosign `pkg/cosign/verify.go` `validateCertIdentity`) matches the subject against
//! every SAN, so every SAN is a candidate.

use der::asn1::Utf8StringRef;
use der::{Decode, oid::ObjectIdentifier};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_OTHERNAME_USERNAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// The identity of one signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// The OIDC issuer, when the certificate has Fulcio's issuer extension.
    pub issuer: Option<String>,
    /// SAN emails, URIs and Fulcio usernames, in certificate order.
    pub subjects: Vec<String>,
}

/// Reads the identity of a PEM certificate.
///
/// Errors: the PEM or DER does not decode as an X.509 certificate, or its SAN extension is
/// malformed.
pub fn identity_from_pem(pem: &str) -> Result<CertIdentity, String> {
    use der::DecodePem;
    let cert = Certificate::from_pem(pem.trim().as_bytes())
        .map_err(|e| format!("invalid certificate: {e}"))?;
    let mut identity = CertIdentity {
        issuer: None,
        subjects: Vec::new(),
    };
    let mut issuer_v1 = None;
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        let value = ext.extn_value.as_bytes();
        if ext.extn_id == OID_ISSUER_V2 {
            let s = Utf8StringRef::from_der(value)
                .map_err(|e| format!("invalid issuer extension: {e}"))?;
            identity.issuer = Some(s.as_str().to_string());
        } else if ext.extn_id == OID_ISSUER_V1 {
            issuer_v1 = Some(String::from_utf8_lossy(value).into_owned());
        } else if ext.extn_id == OID_SAN {
            let san = SubjectAltName::from_der(value)
                .map_err(|e| format!("invalid SubjectAltName: {e}"))?;
            for name in san.0 {
                match name {
                    GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                        identity.subjects.push(s.to_string());
                    }
                    GeneralName::OtherName(other) if other.type_id == OID_OTHERNAME_USERNAME => {
                        if let Ok(s) = other.value.decode_as::<Utf8StringRef<'_>>() {
                            identity.subjects.push(s.as_str().to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if identity.issuer.is_none() {
        identity.issuer = issuer_v1;
    }
    Ok(identity)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The leaf certificate of `../shared/fixtures/sessions/keyless-sigmanifest.yml`.
    pub const ALICE: &str = "-----BEGIN CERTIFICATE-----\nMIIByzCCAXKgAwIBAgIUEavIMiKpwWeDmFLgFc5JkvWzxdQwCgYIKoZIzj0EAwIw\nMzEUMBIGA1UECgwLY29uZm9ybWFuY2UxGzAZBgNVBAMMEmNvbmZvcm1hbmNlLWZ1\nbGNpbzAeFw0yNjExMjkwOTA4MDZaFw0yNjExMjkwOTIzMDZaMAAwWTATBgcqhkjO\nPQIBBggqhkjOPQMBBwNCAAT0IZ3X6vx/7pltXMxNv7uMQNy7A9Usn6vp1yMNP5wv\nb+4sBF9/AxbR0jJxQAOO19p/B6v5f1Z5w5RBT+76L5AOo4GWMIGTMA4GA1UdDwEB\n/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAzAfBgNVHREBAf8EFTATgRFhbGlj\nZUBleGFtcGxlLmNvbTAfBgNVHSMEGDAWgBRoyF3MMIeBi7I4VvuXFAROKq/xNTAq\nBgorBgEEAYO/MAEBBBxodHRwczovL2FjY291bnRzLmV4YW1wbGUuY29tMAoGCCqG\nSM49BAMCA0cAMEQCIAWcQKbG+DeCusmjRS88IsNqRIwMvE0EbWLM2OWozyTxAiAA\nkhilZ3RB7cfDHJQOi2NG9zYSxRDRuZNnuPltinS8mQ==\n-----END CERTIFICATE-----\n";

    #[test]
    fn reads_fulcio_identity() {
        assert_eq!(
            identity_from_pem(ALICE).unwrap(),
            CertIdentity {
                issuer: Some("https://accounts.example.com".into()),
                subjects: vec!["alice@example.com".into()],
            }
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(identity_from_pem("").is_err());
        assert!(
            identity_from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
