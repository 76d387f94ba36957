//! Keyless authorities: each identity of `keyless.identities` is one alternative.
//!
//! - Exact `issuer` + `subject`: one `SigstoreKeylessVerify` call. The host finds the signature
//!   in either format (`.sig` tag or Sigstore bundle).
//! - `issuerRegExp`/`subjectRegExp` (Go RE2, unanchored, as cosign: `pkg/cosign/verify.go`
//!   `CheckCertificatePolicy` L467-L531): the candidate identities are read from the
//!   certificates of the image's cosign signature manifest (`<repo>:sha256-<hex>.sig`, layer annotation
//!   `dev.sigstore.cosign/certificate`), and each (issuer, subject) pair the expressions match is
//!   verified by the host exactly. A Sigstore bundle's certificate cannot be read this way (no
//!   host capability returns the bundle blob), so when the `.sig` manifest does not exist, or
//!   none of its certificates matches, the identity is handed to the host as the checks
//!   [`crate::identity::read`] derives from the expressions (an exact or URL-prefix check that
//!   implies them); an identity that cannot be read that way fails with the reason, on a
//!   bundle-only image.
//!
//! When an identity does not match, the failure says what the signatures' certificates hold,
//! in cosign's words (`verify.go` L528: `none of the expected identities matched what was in the
//! certificate, got subjects [<SANs>] with issuer <issuer>`), or that the certificate could not
//! be read (a bundle-only image).

use super::{AuthorityPass, Checker};
use crate::certificate::{self, CertIdentity};
use crate::cip::{Identity, KeylessRef};
use crate::host::HostError;
use crate::identity::{self, HostCheck, Reading};
use crate::reference::ImageRef;
use serde_json::json;

/// Annotation of a cosign signature layer holding the signing certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";

/// cosign's message when no certificate identity matches (`pkg/cosign/verify.go` L528).
pub const NO_IDENTITY_MATCHED: &str =
    "none of the expected identities matched what was in the certificate";

/// The host's words when signatures exist but none satisfies the identity
/// (`crates/policy-fetcher/src/verify/mod.rs` `verify_signatures_against_config`; recorded in
/// `test_data/sessions/keyless-mismatch.yml`).
const CONSTRAINTS_NOT_SATISFIED: &str = "The following constraints were not satisfied";

/// Most signature layers of a `.sig` manifest read. The manifest and its certificates come
/// from the image's repository, before anything is verified: whoever pushes the image decides
/// how many there are (review finding: 5000 forged certificates made 5000 host calls and a
/// 700 KB message).
pub const MAX_SIGNATURE_LAYERS: usize = 64;

/// Most (issuer, subject) pairs of those certificates verified for one identity, as many as
/// the host checks an identity expression is read as ([`identity::MAX_CHECKS`]).
pub const MAX_CANDIDATE_PAIRS: usize = identity::MAX_CHECKS;

/// Most certificates, and subjects of one certificate, named in a mismatch message.
const MAX_NAMED: usize = 8;

/// What the `.sig` discovery found.
enum Certificates {
    /// The `.sig` signature manifest (its reference) and the identities of its certificates.
    Found(String, Vec<CertIdentity>),
    /// The `.sig` signature manifest (its reference) does not exist; the host's words.
    Missing(String, String),
}

impl Checker<'_> {
    pub(super) fn check_keyless(
        &self,
        keyless: &KeylessRef,
        image: &ImageRef,
    ) -> Result<AuthorityPass, String> {
        let mut failures: Vec<String> = Vec::new();
        let mut certificates: Option<Result<Certificates, String>> = None;
        for identity in &keyless.identities {
            if let (Some(issuer), Some(subject)) = (&identity.issuer, &identity.subject) {
                match self.host.verify_keyless_exact(image.raw(), issuer, subject) {
                    Ok(digest) => return Ok(pass(Some(subject), issuer, digest)),
                    Err(HostError(e)) => {
                        let mismatch = e.contains(CONSTRAINTS_NOT_SATISFIED);
                        failures.push(e);
                        if mismatch {
                            let certs =
                                certificates.get_or_insert_with(|| self.certificates(image));
                            failures.extend(found(certs.as_ref().map_err(String::as_str)));
                        }
                    }
                }
                continue;
            }
            if let Err(e) = re2_syntax(identity) {
                failures.push(e);
                continue;
            }
            let certs = match certificates.get_or_insert_with(|| self.certificates(image)) {
                Ok(certs) => &*certs,
                Err(e) => {
                    failures.push(e.clone());
                    continue;
                }
            };
            if let Certificates::Found(_, identities) = certs {
                let pairs = match self.matching_pairs(identity, identities) {
                    Ok(pairs) => pairs,
                    Err(e) => {
                        failures.push(e);
                        continue;
                    }
                };
                if pairs.len() > MAX_CANDIDATE_PAIRS {
                    failures.push(format!(
                        "the signature manifest holds {} certificate identities that match the identity; at most {MAX_CANDIDATE_PAIRS} are verified (whoever pushes the image decides how many there are): none was verified",
                        pairs.len()
                    ));
                    continue;
                }
                if !pairs.is_empty() {
                    for (issuer, subject) in pairs {
                        match self
                            .host
                            .verify_keyless_exact(image.raw(), &issuer, &subject)
                        {
                            Ok(digest) => return Ok(pass(Some(&subject), &issuer, digest)),
                            Err(e) => failures.push(e.0),
                        }
                    }
                    continue;
                }
                failures.extend(found(Ok(certs)));
                failures.push(expected(identity));
            }
            // No certificate the module can read satisfies the identity; a bundle may hold
            // one: ask the host, when it can check the identity itself.
            match (identity::read(identity), certs) {
                (Ok(reading), _) => match self.verify_reading(image, &reading) {
                    Ok(pass) => return Ok(pass),
                    Err(errors) => {
                        failures.extend(errors);
                        if let Certificates::Missing(..) = certs {
                            failures.extend(found(Ok(certs)));
                        }
                        failures.push(checked_as(identity, &reading));
                    }
                },
                (Err(_), Certificates::Found(..)) => {}
                (Err(reason), Certificates::Missing(manifest, host)) => {
                    failures.push(bundle_only(manifest, host, &reason));
                }
            }
        }
        let mut unique: Vec<String> = Vec::new();
        for failure in failures {
            if !unique.contains(&failure) {
                unique.push(failure);
            }
        }
        Err(unique.join("\n"))
    }

    /// Asks the host each check of `reading`, the first verified one passing.
    fn verify_reading(
        &self,
        image: &ImageRef,
        reading: &Reading,
    ) -> Result<AuthorityPass, Vec<String>> {
        let mut errors = Vec::new();
        for check in &reading.checks {
            let answer = match check {
                HostCheck::Exact { issuer, subject } => self
                    .host
                    .verify_keyless_exact(image.raw(), issuer, subject)
                    .map(|digest| pass(Some(subject), issuer, digest)),
                HostCheck::UrlPrefix { issuer, url_prefix } => self
                    .host
                    .verify_keyless_prefix(image.raw(), issuer, url_prefix)
                    .map(|digest| pass(None, issuer, digest)),
            };
            match answer {
                Ok(pass) => return Ok(pass),
                Err(e) => errors.push(e.0),
            }
        }
        Err(errors)
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
            .or_insert_with(|| identity::go_regex(re))
            .clone()?;
        Ok(Box::new(move |s: &str| compiled.is_match(s)))
    }

    /// Reads the identities of the certificates in the image's cosign signature manifest.
    /// `Err`: the host's words when the digest cannot be resolved or the manifest read fails
    /// for another reason than its absence.
    fn certificates(&self, image: &ImageRef) -> Result<Certificates, String> {
        let digest = match image.digest() {
            Some(d) => d.to_string(),
            None => self.host.manifest_digest(image.raw()).map_err(|e| e.0)?,
        };
        let Some((algorithm, hex)) = digest.split_once(':') else {
            return Err(format!("the host returned an invalid digest {digest:?}"));
        };
        let reference = format!("{}:{algorithm}-{hex}.sig", image.name_as_written());
        let manifest = match self.host.oci_manifest(&reference) {
            Ok(manifest) => manifest,
            Err(HostError(e)) if is_missing(&e) => return Ok(Certificates::Missing(reference, e)),
            Err(HostError(e)) => return Err(e),
        };
        let layers = manifest["layers"].as_array().map_or(0, Vec::len);
        if layers > MAX_SIGNATURE_LAYERS {
            return Err(format!(
                "the signature manifest {reference} has {layers} layers (one per signature); at most {MAX_SIGNATURE_LAYERS} are read"
            ));
        }
        let mut identities = Vec::new();
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            if let Some(pem) = layer["annotations"][CERTIFICATE_ANNOTATION].as_str()
                && let Ok(identity) = certificate::identity_from_pem(pem)
            {
                identities.push(identity);
            }
        }
        Ok(Certificates::Found(reference, identities))
    }
}

/// A passing keyless authority's `authorityMatches` entry; `subject` is `None` when the host
/// checked a URL prefix (it does not return the certificate's subject).
fn pass(subject: Option<&String>, issuer: &str, digest: String) -> AuthorityPass {
    let signature = match subject {
        Some(subject) => json!({"subject": subject, "issuer": issuer}),
        None => json!({"issuer": issuer}),
    };
    AuthorityPass {
        matches: json!({ "signatures": [signature] }),
        digest: Some(digest),
    }
}

/// The registry's answer for a tag that does not exist, as the host relays it: distribution's
/// `manifest unknown` (recorded in `test_data/sessions/bundle-sigmanifest-missing.yml`), other
/// registries' `not found`, or a bare 404 (oci-client `ServerError`, `code: 404`). A
/// misreading only changes which message a failure gets: the host still verifies every check.
fn is_missing(host_error: &str) -> bool {
    let e = host_error.to_ascii_lowercase();
    e.contains("manifest unknown") || e.contains("not found") || e.contains("code: 404")
}

/// The identity's expressions in Go RE2 syntax ([`identity::check_re2_syntax`]).
fn re2_syntax(identity: &Identity) -> Result<(), String> {
    for (field, re) in [
        ("issuerRegExp", &identity.issuer_reg_exp),
        ("subjectRegExp", &identity.subject_reg_exp),
    ] {
        if let Some(re) = re {
            identity::check_re2_syntax(re).map_err(|e| format!("{field} {re}: {e}"))?;
        }
    }
    Ok(())
}

/// What the signatures' certificates hold, one line per distinct certificate identity, in
/// cosign's words; or why they could not be read.
fn found(certs: Result<&Certificates, &str>) -> Vec<String> {
    match certs {
        Ok(Certificates::Found(manifest, identities)) if identities.is_empty() => vec![format!(
            "the signature manifest {manifest} holds no certificate: its signatures are key signatures"
        )],
        Ok(Certificates::Found(_, identities)) => {
            let mut lines: Vec<String> = Vec::new();
            for cert in identities {
                let mut subjects: Vec<String> = cert
                    .subjects
                    .iter()
                    .take(MAX_NAMED)
                    .map(|s| printable(s))
                    .collect();
                if cert.subjects.len() > MAX_NAMED {
                    subjects.push(format!("and {} more", cert.subjects.len() - MAX_NAMED));
                }
                let line = format!(
                    "{NO_IDENTITY_MATCHED}, got subjects [{}] with issuer {}",
                    subjects.join(", "),
                    printable(cert.issuer.as_deref().unwrap_or(""))
                );
                if !lines.contains(&line) {
                    lines.push(line);
                }
            }
            if lines.len() > MAX_NAMED {
                let more = lines.len() - MAX_NAMED;
                lines.truncate(MAX_NAMED);
                lines.push(format!("and {more} more certificates"));
            }
            lines
        }
        Ok(Certificates::Missing(manifest, _)) => vec![format!(
            "the signing certificate could not be read: {manifest} does not exist, so the image's signatures, if any, are Sigstore bundles (OCI referrers), whose certificate no host capability returns to policies"
        )],
        Err(e) => vec![format!("the signing certificate could not be read: {e}")],
    }
}

/// `text` with control characters escaped (`\n` as `\\n`), cut after 256 characters: the
/// certificates of a `.sig` manifest are read before the host verifies anything, so their
/// texts may be anyone's.
fn printable(text: &str) -> String {
    const MAX_CHARS: usize = 256;
    let mut out: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect();
    if text.chars().count() > MAX_CHARS {
        out.push('…');
    }
    out
}

/// What `identity` expects, next to what was found.
fn expected(identity: &Identity) -> String {
    let part = |exact: &Option<String>, re: &Option<String>| match (exact, re) {
        (Some(exact), _) => exact.clone(),
        (None, Some(re)) => format!("matching {re}"),
        (None, None) => "any".to_string(),
    };
    format!(
        "expected: issuer {}, subject {}",
        part(&identity.issuer, &identity.issuer_reg_exp),
        part(&identity.subject, &identity.subject_reg_exp)
    )
}

/// How the host checked `identity` (for a failure).
fn checked_as(identity: &Identity, reading: &Reading) -> String {
    let checks: Vec<String> = reading
        .checks
        .iter()
        .map(|check| match check {
            HostCheck::Exact { issuer, subject } => {
                format!("issuer {issuer} and subject {subject}")
            }
            HostCheck::UrlPrefix { issuer, url_prefix } => {
                format!("issuer {issuer} and a subject starting with {url_prefix}")
            }
        })
        .collect();
    let narrowed = if reading.narrowings.is_empty() {
        String::new()
    } else {
        let how: Vec<&str> = reading.narrowings.iter().map(|n| n.describe()).collect();
        format!(" (narrower than the expressions: {})", how.join("; "))
    };
    format!(
        "{} was checked by the host as: {}{narrowed}",
        expected(identity).trim_start_matches("expected: "),
        checks.join(", or ")
    )
}

/// The failure of an identity regexp the host cannot check itself, on a bundle-only image.
fn bundle_only(manifest: &str, host: &str, reason: &str) -> String {
    format!(
        "{manifest} does not exist ({host}): the image has only Sigstore bundle signatures (cosign v3's default), if any, and no host capability returns a bundle's certificate, so identity regexps need .sig signatures or a shape the host checks itself, and {reason}. Write the subject as an anchored URL prefix ending in / (subjectRegExp: ^https://github\\.com/acme/) or an anchored text (^…$), with an exact issuer, or sign with cosign sign --new-bundle-format=false"
    )
}

#[cfg(test)]
mod tests;
