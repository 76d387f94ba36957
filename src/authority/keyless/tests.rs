use super::*;
use crate::authority::UNSEEN_SIGNATURES;
use crate::authority::tests::{img, keyless_authority};
use crate::certificate::tests::ALICE;
use crate::host::fake::FakeHost;

const ISSUER: &str = "https://accounts.example.com";
const KL_IMG: &str = "127.0.0.1:5000/keyless/app:v1";
const KL_D: &str = "sha256:54d7a68826810e6b10a084c2058086101483de45bd698c380d34a69dddfab10e";
const KL_SIG: &str = "127.0.0.1:5000/keyless/app:sha256-54d7a68826810e6b10a084c2058086101483de45bd698c380d34a69dddfab10e.sig";

/// The bundle-only image of `test_data/sessions/bundle-*.yml`, its digest and `.sig` tag.
const V3: &str = "127.0.0.1:5000/keyless/v3gha:v2";
const V3_D: &str = "sha256:ae7857d673c0693dd86bbfc4e4ab802bca32b6b16cb51d7b07674b9ef3b2e866";
const V3_SIG: &str = "127.0.0.1:5000/keyless/v3gha:sha256-ae7857d673c0693dd86bbfc4e4ab802bca32b6b16cb51d7b07674b9ef3b2e866.sig";
const GHA: &str = "https://token.actions.githubusercontent.com";

/// The host's texts, from the recordings in `test_data/sessions/`.
const SIG_MISSING: &str = "Fail to interact with OCI registry: Registry error: url http://127.0.0.1:5000/v2/keyless/v3gha/manifests/sha256-ae7857d673c0693dd86bbfc4e4ab802bca32b6b16cb51d7b07674b9ef3b2e866.sig, envelope: OCI API errors: [OCI API error: manifest unknown]";
const BOB_MISMATCH: &str = "Image verification failed: missing signatures\nThe following constraints were not satisfied:\nkind: genericIssuer\nissuer: https://accounts.example.com\nsubject: !equal bob@example.com\nannotations: null";
const EVIL_MISMATCH: &str = "Image verification failed: missing signatures\nThe following constraints were not satisfied:\nkind: genericIssuer\nissuer: https://token.actions.githubusercontent.com\nsubject: !urlPrefix https://github.com/evil/\nannotations: null";

fn exact(issuer: &str, subject: &str) -> Identity {
    Identity {
        issuer: Some(issuer.into()),
        subject: Some(subject.into()),
        ..Default::default()
    }
}

fn subject_re(issuer: &str, re: &str) -> Identity {
    Identity {
        issuer: Some(issuer.into()),
        subject_reg_exp: Some(re.into()),
        ..Default::default()
    }
}

fn sig_manifest(certs: &[&str]) -> String {
    let layers: Vec<_> = certs
        .iter()
        .map(|c| json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "annotations": {CERTIFICATE_ANNOTATION: c}}))
        .collect();
    json!({"schemaVersion": 2, "layers": layers}).to_string()
}

/// The `.sig` image `keyless/app:v1`, signed by alice.
fn sig_image() -> FakeHost {
    FakeHost::default()
        .answer(&format!("manifest_digest {KL_IMG}"), Ok(KL_D))
        .answer(
            &format!("oci_manifest {KL_SIG}"),
            Ok(&sig_manifest(&[ALICE])),
        )
        .answer(
            &format!("verify_keyless_exact {KL_IMG} {ISSUER} alice@example.com"),
            Ok(KL_D),
        )
        .answer(
            &format!("verify_keyless_exact {KL_IMG} {ISSUER} bob@example.com"),
            Err(BOB_MISMATCH),
        )
}

/// The bundle-only image `keyless/v3gha:v2`, signed in GitHub Actions by acme/widgets.
fn bundle_image() -> FakeHost {
    FakeHost::default()
        .answer(&format!("manifest_digest {V3}"), Ok(V3_D))
        .answer(&format!("oci_manifest {V3_SIG}"), Err(SIG_MISSING))
        .answer(
            &format!("verify_keyless_prefix {V3} {GHA} https://github.com/acme/widgets/"),
            Ok(V3_D),
        )
        .answer(
            &format!("verify_keyless_prefix {V3} {GHA} https://github.com/evil/"),
            Err(EVIL_MISMATCH),
        )
}

fn failure(image: &str, message: &str) -> Result<AuthorityPass, String> {
    Err(format!(
        "signature keyless validation failed for authority kl for {image}: {message}"
    ))
}

fn alice_found() -> String {
    format!("{NO_IDENTITY_MATCHED}, got subjects [alice@example.com] with issuer {ISSUER}")
}

fn unreadable(sig: &str) -> String {
    format!(
        "the signing certificate could not be read: {sig} does not exist, so the image's signatures, if any, are Sigstore bundles (OCI referrers), whose certificate no host capability returns to policies"
    )
}

#[test]
fn exact_identities_any_of() {
    let host = sig_image();
    let c = Checker::new(&host);
    let a = keyless_authority(vec![
        exact(ISSUER, "bob@example.com"),
        exact(ISSUER, "alice@example.com"),
    ]);
    assert_eq!(
        c.check(&a, &img(KL_IMG)),
        Ok(AuthorityPass {
            matches: json!({"signatures": [{"subject": "alice@example.com", "issuer": ISSUER}]}),
            digest: Some(KL_D.into())
        })
    );
}

/// Issue 10: a mismatch says what the certificate holds, read from the `.sig` manifest.
#[test]
fn exact_mismatch_says_what_the_certificate_holds() {
    let host = sig_image();
    let c = Checker::new(&host);
    let only_bob = keyless_authority(vec![exact(ISSUER, "bob@example.com")]);
    assert_eq!(
        c.check(&only_bob, &img(KL_IMG)),
        failure(KL_IMG, &format!("{BOB_MISMATCH}\n{}", alice_found()))
    );
    assert_eq!(
        host.calls(),
        vec![
            format!("verify_keyless_exact {KL_IMG} {ISSUER} bob@example.com"),
            format!("manifest_digest {KL_IMG}"),
            format!("oci_manifest {KL_SIG}"),
        ]
    );
    // On a bundle-only image, the certificate cannot be read.
    let host = bundle_image().answer(
        &format!("verify_keyless_exact {V3} {GHA} https://github.com/evil/x"),
        Err(EVIL_MISMATCH),
    );
    let a = keyless_authority(vec![exact(GHA, "https://github.com/evil/x")]);
    assert_eq!(
        Checker::new(&host).check(&a, &img(V3)),
        failure(V3, &format!("{EVIL_MISMATCH}\n{}", unreadable(V3_SIG)))
    );
    // No signature at all: nothing to read, no discovery.
    let host = FakeHost::default().answer(
        &format!("verify_keyless_exact {V3} {GHA} x"),
        Err("no signatures found for image: 127.0.0.1:5000/keyless/v3gha:v2 "),
    );
    let a = keyless_authority(vec![exact(GHA, "x")]);
    assert_eq!(
        Checker::new(&host).check(&a, &img(V3)),
        failure(
            V3,
            &format!("no signatures found for image: {V3}\n{UNSEEN_SIGNATURES}")
        )
    );
    assert_eq!(host.calls().len(), 1);
}

#[test]
fn regexp_reads_certificates_then_verifies_exactly() {
    let host = sig_image();
    let c = Checker::new(&host);
    let a = keyless_authority(vec![Identity {
        issuer_reg_exp: Some("accounts\\.example".into()),
        subject_reg_exp: Some("@example\\.com$".into()),
        ..Default::default()
    }]);
    assert_eq!(
        c.check(&a, &img(KL_IMG)),
        Ok(AuthorityPass {
            matches: json!({"signatures": [{"subject": "alice@example.com", "issuer": ISSUER}]}),
            digest: Some(KL_D.into())
        })
    );
    assert_eq!(
        host.calls(),
        vec![
            format!("manifest_digest {KL_IMG}"),
            format!("oci_manifest {KL_SIG}"),
            format!("verify_keyless_exact {KL_IMG} {ISSUER} alice@example.com"),
        ]
    );
}

/// Issue 10: cosign's words with what was found, next to what was expected; an identity the
/// host cannot check itself asks nothing more.
#[test]
fn regexp_mismatch_on_sig_image() {
    let host = sig_image();
    let c = Checker::new(&host);
    let nobody = keyless_authority(vec![subject_re(ISSUER, "^bob@")]);
    assert_eq!(
        c.check(&nobody, &img(KL_IMG)),
        failure(
            KL_IMG,
            &format!(
                "{}\nexpected: issuer {ISSUER}, subject matching ^bob@",
                alice_found()
            )
        )
    );
    assert_eq!(host.calls().len(), 2);
    // One the host can check is asked too: a bundle may hold bob's signature.
    let host = sig_image();
    let bob = keyless_authority(vec![subject_re(ISSUER, r"^bob@example\.com$")]);
    assert_eq!(
        Checker::new(&host).check(&bob, &img(KL_IMG)),
        failure(
            KL_IMG,
            &format!(
                "{}\nexpected: issuer {ISSUER}, subject matching ^bob@example\\.com$\n{BOB_MISMATCH}\nissuer {ISSUER}, subject matching ^bob@example\\.com$ was checked by the host as: issuer {ISSUER} and subject bob@example.com",
                alice_found()
            )
        )
    );
    assert_eq!(
        host.calls().last().map(String::as_str),
        Some(format!("verify_keyless_exact {KL_IMG} {ISSUER} bob@example.com").as_str())
    );
    // Two identities, one certificate: the certificate is said once.
    let host = sig_image();
    let two = keyless_authority(vec![
        subject_re(ISSUER, "^bob@"),
        subject_re(ISSUER, "^carol@"),
    ]);
    let e = Checker::new(&host).check(&two, &img(KL_IMG)).unwrap_err();
    assert_eq!(e.matches(NO_IDENTITY_MATCHED).count(), 1, "{e}");
    assert!(
        e.ends_with("expected: issuer https://accounts.example.com, subject matching ^carol@"),
        "{e}"
    );
}

#[test]
fn key_signed_sig_manifest_holds_no_certificate() {
    let key_only = json!({"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "annotations": {"dev.cosignproject.cosign/signature": "MEUC"}}]}).to_string();
    let host = bundle_image().answer(&format!("oci_manifest {V3_SIG}"), Ok(&key_only));
    let a = keyless_authority(vec![subject_re(GHA, r"^https://github\.com/acme/widgets/")]);
    // The manifest holds key signatures only: the keyless bundle is asked for by prefix.
    assert_eq!(
        Checker::new(&host).check(&a, &img(V3)),
        Ok(AuthorityPass {
            matches: json!({"signatures": [{"issuer": GHA}]}),
            digest: Some(V3_D.into())
        })
    );
}

#[test]
fn bundle_only_image_url_prefix() {
    let host = bundle_image();
    let c = Checker::new(&host);
    let a = keyless_authority(vec![subject_re(GHA, r"^https://github\.com/acme/widgets/")]);
    assert_eq!(
        c.check(&a, &img(V3)),
        Ok(AuthorityPass {
            matches: json!({"signatures": [{"issuer": GHA}]}),
            digest: Some(V3_D.into())
        })
    );
    assert_eq!(
        host.calls(),
        vec![
            format!("manifest_digest {V3}"),
            format!("oci_manifest {V3_SIG}"),
            format!("verify_keyless_prefix {V3} {GHA} https://github.com/acme/widgets/"),
        ]
    );
    // A GitHub Actions expression as people write it (unanchored, unescaped dots): narrowed.
    let a = keyless_authority(vec![Identity {
        issuer_reg_exp: Some(r"^https://token\.actions\.githubusercontent\.com$".into()),
        subject_reg_exp: Some("https://github.com/acme/widgets/.*".into()),
        ..Default::default()
    }]);
    assert!(c.check(&a, &img(V3)).is_ok());
}

#[test]
fn bundle_only_image_url_prefix_mismatch() {
    let host = bundle_image();
    let a = keyless_authority(vec![subject_re(GHA, "https://github.com/evil/")]);
    assert_eq!(
        Checker::new(&host).check(&a, &img(V3)),
        failure(
            V3,
            &format!(
                "{EVIL_MISMATCH}\n{}\nissuer {GHA}, subject matching https://github.com/evil/ was checked by the host as: issuer {GHA} and a subject starting with https://github.com/evil/ (narrower than the expressions: unanchored, read as anchored at the start with ^; an unescaped . read as a literal dot)",
                unreadable(V3_SIG)
            )
        )
    );
}

#[test]
fn bundle_only_image_untranslatable_regexp() {
    let host = bundle_image();
    let a = keyless_authority(vec![subject_re(GHA, r"^https://github\.com/acme/[a-z]+/")]);
    let e = Checker::new(&host).check(&a, &img(V3)).unwrap_err();
    assert_eq!(
        e,
        format!(
            "signature keyless validation failed for authority kl for {V3}: {V3_SIG} does not exist ({SIG_MISSING}): the image has only Sigstore bundle signatures (cosign v3's default), if any, and no host capability returns a bundle's certificate, so identity regexps need .sig signatures or a shape the host checks itself, and subjectRegExp ^https://github\\.com/acme/[a-z]+/: after the literal text \"https://github.com/acme/\" it constrains the subject further, which the host cannot check: it compares an exact subject, or a URL prefix followed by anything. Write the subject as an anchored URL prefix ending in / (subjectRegExp: ^https://github\\.com/acme/) or an anchored text (^…$), with an exact issuer, or sign with cosign sign --new-bundle-format=false"
        )
    );
    assert_eq!(host.calls().len(), 2, "no verification asked");
}

#[test]
fn pinned_images_skip_resolution_and_other_errors_are_the_hosts() {
    let pinned = format!("127.0.0.1:5000/keyless/app:v1@{KL_D}");
    let host = FakeHost::default().answer(
        &format!("oci_manifest {KL_SIG}"),
        Err("Not authorized: url https://127.0.0.1:5000/v2/keyless/app/manifests/x"),
    );
    let a = keyless_authority(vec![subject_re(ISSUER, r"^alice@example\.com$")]);
    assert_eq!(
        Checker::new(&host).check(&a, &img(&pinned)),
        failure(
            &pinned,
            "Not authorized: url https://127.0.0.1:5000/v2/keyless/app/manifests/x"
        )
    );
    assert_eq!(host.calls(), vec![format!("oci_manifest {KL_SIG}")]);
}

/// What Go reads differently is refused before any host call, on `.sig` images too.
#[test]
fn go_syntax_is_checked_before_discovery() {
    let host = sig_image();
    let a = keyless_authority(vec![subject_re(ISSUER, "^alice@example\\.com{1, 2}$")]);
    let e = Checker::new(&host).check(&a, &img(KL_IMG)).unwrap_err();
    assert!(
        e.contains("subjectRegExp ^alice@example\\.com{1, 2}$: {1, 2}: a counted repetition must be written"),
        "{e}"
    );
    assert!(host.calls().is_empty());
}

#[test]
fn certificate_texts_are_printed_without_control_characters() {
    assert_eq!(printable("alice@example.com"), "alice@example.com");
    assert_eq!(
        printable("a\nvalidation failed: b\u{7}"),
        "a\\nvalidation failed: b\\u{7}"
    );
}

/// ALICE with its SAN `alice@example.com` replaced by `a<n:04>@example.com` (same length, so
/// the DER stays well formed; the signature no longer verifies, which this module never checks:
/// the host does).
fn cert_for(n: usize) -> String {
    use base64::Engine as _;
    let body: String = ALICE.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let at = der
        .windows(17)
        .position(|w| w == b"alice@example.com")
        .unwrap();
    der[at..at + 17].copy_from_slice(format!("a{n:04}@example.com").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Review finding: the certificates of a `.sig` manifest are read before anything is verified,
/// so whoever pushes the image chose how many host calls one admission made (5000 forged
/// certificates: 5000 calls, a 700 KB message). At most 8 candidate identities are verified,
/// at most 64 layers read, and the message names at most 8 certificates.
#[test]
fn forged_certificates_cannot_multiply_host_calls() {
    let host_with = |n: usize| {
        let certs: Vec<String> = (0..n).map(cert_for).collect();
        let refs: Vec<&str> = certs.iter().map(String::as_str).collect();
        FakeHost::default()
            .answer(&format!("manifest_digest {KL_IMG}"), Ok(KL_D))
            .answer(&format!("oci_manifest {KL_SIG}"), Ok(&sig_manifest(&refs)))
    };
    assert_eq!(
        identity_from_pem_subjects(&cert_for(7)),
        vec!["a0007@example.com"]
    );
    let anyone = keyless_authority(vec![subject_re(ISSUER, "@example\\.com$")]);
    // Eight candidates: each is asked (and here refused by the fake host).
    let host = host_with(8);
    assert!(Checker::new(&host).check(&anyone, &img(KL_IMG)).is_err());
    assert_eq!(host.calls().len(), 2 + 8);
    // Nine: none is asked.
    let host = host_with(9);
    let e = Checker::new(&host)
        .check(&anyone, &img(KL_IMG))
        .unwrap_err();
    assert!(
        e.contains("the signature manifest holds 9 certificate identities that match the identity; at most 8 are verified"),
        "{e}"
    );
    assert_eq!(host.calls().len(), 2, "{:?}", host.calls());
    // Over 64 layers: not read at all.
    let host = host_with(65);
    let e = Checker::new(&host)
        .check(&anyone, &img(KL_IMG))
        .unwrap_err();
    assert!(
        e.contains(&format!(
            "the signature manifest {KL_SIG} has 65 layers (one per signature); at most 64 are read"
        )),
        "{e}"
    );
    // A mismatch names at most 8 certificates.
    let host = host_with(40);
    let nobody = keyless_authority(vec![subject_re(ISSUER, "^bob@")]);
    let e = Checker::new(&host)
        .check(&nobody, &img(KL_IMG))
        .unwrap_err();
    assert_eq!(e.matches(NO_IDENTITY_MATCHED).count(), 8, "{e}");
    assert!(e.contains("and 32 more certificates"), "{e}");
    assert!(e.len() < 2000, "{} bytes", e.len());
}

fn identity_from_pem_subjects(pem: &str) -> Vec<String> {
    crate::certificate::identity_from_pem(pem).unwrap().subjects
}
