use super::*;
use Narrowing::*;

const GHA: &str = "https://token.actions.githubusercontent.com";

fn subject_re(re: &str) -> Result<Reading, String> {
    read(&Identity {
        issuer: Some(GHA.into()),
        subject_reg_exp: Some(re.into()),
        ..Default::default()
    })
}

fn prefix(p: &str) -> HostCheck {
    HostCheck::UrlPrefix {
        issuer: GHA.into(),
        url_prefix: p.into(),
    }
}

fn exact(s: &str) -> HostCheck {
    HostCheck::Exact {
        issuer: GHA.into(),
        subject: s.into(),
    }
}

fn reading(checks: Vec<HostCheck>, narrowings: Vec<Narrowing>) -> Result<Reading, String> {
    Ok(Reading { checks, narrowings })
}

/// What the host admits for `checks`: issuer equal, subject equal or starting with the prefix.
fn host_admits(checks: &[HostCheck], issuer: &str, subject: &str) -> bool {
    checks.iter().any(|c| match c {
        HostCheck::Exact {
            issuer: i,
            subject: s,
        } => i == issuer && s == subject,
        HostCheck::UrlPrefix {
            issuer: i,
            url_prefix,
        } => i == issuer && subject.starts_with(url_prefix.as_str()),
    })
}

/// Subjects an attacker could get a certificate for, or that a policy means to admit.
const SUBJECTS: &[&str] = &[
    "https://github.com/acme/widgets/.github/workflows/release.yml@refs/tags/v2",
    "https://github.com/acme/",
    "https://github.com/acme",
    "https://github.com/acme-evil/widgets/.github/workflows/x.yml@refs/heads/main",
    "https://github.com/acmE/widgets/",
    "https://githubXcom/acme/widgets/",
    "https://evil.example/?https://github.com/acme/",
    "https://evil.example/https://github.com/acme/widgets/",
    "https://github.com/acme/\nhttps://evil/",
    "x\nhttps://github.com/acme/widgets/",
    "https://github.com/beta/gadgets/",
    "https://www.github.com/acme/w/",
    "HTTPS://GITHUB.COM/ACME/",
    "alice@example.com",
    "evil-alice@example.com",
    "alice@example.com.evil",
    "https://gitlab.com/acme/x/",
    "",
];

/// The reading never admits what cosign's unanchored match denies (the `regex` crate stands in
/// for Go's RE2 on these ASCII subjects: the syntax differences are refused by `re2`), and
/// admits exactly the same when it has no narrowing.
fn assert_sound(re: &str) -> Reading {
    let r = subject_re(re).unwrap_or_else(|e| panic!("{re}: {e}"));
    let upstream = regex::Regex::new(re).unwrap();
    for s in SUBJECTS {
        let ours = host_admits(&r.checks, GHA, s);
        let theirs = upstream.is_match(s);
        assert!(
            !ours || theirs,
            "{re} would admit {s:?}, which cosign denies"
        );
        if r.narrowings.is_empty() {
            assert_eq!(
                ours, theirs,
                "{re} is read as equivalent but differs on {s:?}"
            );
        }
    }
    r
}

#[test]
fn anchored_url_prefixes_are_equivalent() {
    for re in [
        r"^https://github\.com/acme/",
        r"\Ahttps://github\.com/acme/",
        r"^https://github\.com/acme/.*",
        r"^https://github\.com/acme/.*?",
        r"^https://github\.com/acme/[a-z]*",
        r"^https://github\.com/acme/(widgets)?",
        r"^(https://github\.com/acme/)",
        r"^https:\/\/github\.com\/acme\/",
        r"^https://github[.]com/acme/",
        r"^https://github\x2ecom/acme/",
        r".*^https://github\.com/acme/",
    ] {
        let r = assert_sound(re);
        assert_eq!(
            Ok(r),
            reading(vec![prefix("https://github.com/acme/")], vec![]),
            "{re}"
        );
    }
}

#[test]
fn alternations_become_several_checks() {
    let both = vec![
        prefix("https://github.com/acme/"),
        prefix("https://github.com/beta/"),
    ];
    for re in [
        r"^https://github\.com/(acme|beta)/",
        r"^https://github\.com/acme/|^https://github\.com/beta/",
        r"^(https://github\.com/acme/|https://github\.com/beta/)",
        r"^https://github\.com/(?:acme|beta)/.*",
    ] {
        let r = assert_sound(re);
        assert_eq!(Ok(r), reading(both.clone(), vec![]), "{re}");
    }
    let r = assert_sound(r"^https://(www\.)?github\.com/acme/");
    assert_eq!(
        r.checks,
        vec![
            prefix("https://github.com/acme/"),
            prefix("https://www.github.com/acme/")
        ]
    );
    // A prefix another one covers is dropped.
    let r = assert_sound(r"^https://github\.com/acme/(widgets/)?");
    assert_eq!(r.checks, vec![prefix("https://github.com/acme/")]);
    // Small classes are alternatives.
    let r = assert_sound(r"^https://github\.com/acme[12]/");
    assert_eq!(
        r.checks,
        vec![
            prefix("https://github.com/acme1/"),
            prefix("https://github.com/acme2/")
        ]
    );
    // One alternative the host cannot check refuses the whole identity.
    let e = subject_re(r"^https://github\.com/acme/|^[a-z]+@acme\.com$").unwrap_err();
    assert!(e.contains("it does not start with literal text"), "{e}");
    let e = subject_re(r"^https://github\.com/(a|b|c)(d|e|f)/").unwrap_err();
    assert!(e.contains("9 alternatives: at most 8"), "{e}");
}

#[test]
fn anchored_literals_are_exact_subjects() {
    for (re, subject) in [
        (r"^alice@example\.com$", "alice@example.com"),
        (r"\Aalice@example\.com\z", "alice@example.com"),
        (
            r"^https://github\.com/acme/widgets/\.github/workflows/release\.yml@refs/tags/v2$",
            "https://github.com/acme/widgets/.github/workflows/release.yml@refs/tags/v2",
        ),
        (r"^(alice)@example\.com()$", "alice@example.com"),
    ] {
        let r = assert_sound(re);
        assert_eq!(Ok(r), reading(vec![exact(subject)], vec![]), "{re}");
    }
    let r = assert_sound(r"^(alice|bob)@example\.com$");
    assert_eq!(
        r.checks,
        vec![exact("alice@example.com"), exact("bob@example.com")]
    );
    // Exact subjects and prefixes mix; the exact one a prefix covers is dropped.
    let r = assert_sound(r"^https://github\.com/acme/$|^https://github\.com/acme/|^bob@x\.io$");
    assert_eq!(
        r.checks,
        vec![prefix("https://github.com/acme/"), exact("bob@x.io")]
    );
}

#[test]
fn narrowings_are_sound_and_named() {
    let cases: &[(&str, HostCheck, &[Narrowing])] = &[
        // The brief's example: unanchored, it also matches inside another URL.
        (
            r"https://github\.com/acme/",
            prefix("https://github.com/acme/"),
            &[Unanchored],
        ),
        (
            r"https://github.com/acme/.*",
            prefix("https://github.com/acme/"),
            &[Unanchored, DotAsLiteral],
        ),
        (
            r"^https://github.com/acme/",
            prefix("https://github.com/acme/"),
            &[DotAsLiteral],
        ),
        (
            r".*https://github\.com/acme/",
            prefix("https://github.com/acme/"),
            &[Unanchored, SkippedLead],
        ),
        (
            r"^.*https://github\.com/acme/",
            prefix("https://github.com/acme/"),
            &[SkippedLead],
        ),
        (
            r"(?m)^https://github\.com/acme/",
            prefix("https://github.com/acme/"),
            &[MultiLineStart],
        ),
        (
            r"(?i)^https://github\.com/acme/",
            prefix("https://github.com/acme/"),
            &[CaseFolded],
        ),
        (
            r"^(?i:HTTPS://GitHub)\.com/acme/",
            prefix("https://github.com/acme/"),
            &[CaseFolded],
        ),
        (
            r"^https://github\.com",
            prefix("https://github.com/"),
            &[HostRoot],
        ),
        (
            r"alice@example\.com$",
            exact("alice@example.com"),
            &[Unanchored],
        ),
        (
            r"(?m)^alice@example\.com$",
            exact("alice@example.com"),
            &[MultiLineStart, ExactText],
        ),
    ];
    for (re, check, narrowings) in cases {
        let r = assert_sound(re);
        assert_eq!(
            Ok(r),
            reading(vec![check.clone()], narrowings.to_vec()),
            "{re}"
        );
    }
}

#[test]
fn unanchored_is_not_a_prefix_expression() {
    // cosign admits the attacker's subject; the narrowed reading does not.
    let evil = "https://evil.example/?https://github.com/acme/";
    assert!(
        regex::Regex::new(r"https://github\.com/acme/")
            .unwrap()
            .is_match(evil)
    );
    let r = subject_re(r"https://github\.com/acme/").unwrap();
    assert!(!host_admits(&r.checks, GHA, evil));
    assert_eq!(r.narrowings, vec![Unanchored]);
}

#[test]
fn refused_shapes_say_why() {
    let refused = |re: &str| subject_re(re).unwrap_err();
    // Something the host cannot check after the literal text.
    let e = refused(r"^https://github\.com/acme/[a-z]+/");
    assert!(
        e.starts_with(r"subjectRegExp ^https://github\.com/acme/[a-z]+/: after the literal text "),
        "{e}"
    );
    assert!(
        e.contains("constrains the subject further, which the host cannot check"),
        "{e}"
    );
    // `.*` in the middle: what follows it is required.
    let e = refused(r"^https://github\.com/.*/widgets/");
    assert!(
        e.contains("after the literal text \"https://github.com/\""),
        "{e}"
    );
    // `$` after `.*`: a newline in the subject would be denied by cosign, admitted by a prefix.
    assert!(refused(r"^https://github\.com/acme/.*$").contains("constrains the subject further"));
    assert!(refused(r"^https://github\.com/acme/.+").contains("constrains the subject further"));
    // A word boundary depends on the next character.
    assert!(refused(r"^https://github\.com/acme\b").contains("constrains the subject further"));
    // No literal text at the start.
    assert!(refused(r"^alice@example\.com.*$").contains("constrains the subject further"));
    assert!(refused(r".*@example\.com$").contains("allows any text before \"@example.com\""));
    assert!(refused(r"[a-z]+@example\.com").contains("does not start with literal text"));
    assert!(refused(r".*").contains("matches every subject"));
    assert!(refused(r"^(https://github\.com/acme/)?").contains("matches every subject"));
    // Not a URL, not ending at /, not canonical.
    assert!(refused(r"^alice@").contains("is not an http(s) URL"));
    assert!(refused(r"^alice@example\.com").contains("is not an http(s) URL"));
    assert!(refused(r"^https://github\.com/acme").contains("does not end in /"));
    assert!(refused(r"^https://GitHub\.com/acme/").contains("lower-case"));
    assert!(refused(r"^https://github\.com:443/acme/").contains("port"));
    assert!(refused(r"^https://github\.com/acme/\./").contains(". or .."));
    // Large classes, including Unicode ones.
    assert!(refused(r"^https://github\.com/\d/").contains("constrains the subject further"));
    assert!(refused(r"^https://github\.com/[^/]/").contains("constrains the subject further"));
    assert!(refused(r"^https://github\.com/\w/").contains("constrains the subject further"));
    // Unicode classes: large classes (and not built into the module at all, whose regex
    // features lack them: there they are invalid, as in the settings).
    assert!(subject_re(r"^https://github\.com/\pL/").is_err());
    assert!(subject_re(r"^https://github\.com/\p{Greek}/").is_err());
    // \Q…\E is RE2 but not regex-syntax: refused, never guessed.
    assert!(refused(r"^\Qhttps://github.com/acme/\E").contains("regex is invalid"));
    // Go reads these differently: refused before any reading.
    assert!(refused(r"^https://github\.com/acme/x{1, 2}").contains("without spaces"));
    assert!(refused(r"^https://github\.com/[[a]]cme/").contains("nested classes"));
}

#[test]
fn issuer_regexps_must_name_one_issuer() {
    let id = |issuer_re: &str| Identity {
        issuer_reg_exp: Some(issuer_re.into()),
        subject_reg_exp: Some(r"^https://github\.com/acme/".into()),
        ..Default::default()
    };
    let r = read(&id(r"^https://token\.actions\.githubusercontent\.com$")).unwrap();
    assert_eq!(
        r,
        Reading {
            checks: vec![prefix("https://github.com/acme/")],
            narrowings: vec![]
        }
    );
    let r = read(&id(r"https://token.actions.githubusercontent.com")).unwrap();
    assert_eq!(r.checks, vec![prefix("https://github.com/acme/")]);
    assert_eq!(r.narrowings, vec![Unanchored, DotAsLiteral, ExactText]);
    let r = read(&id(
        r"^https://(accounts\.google\.com|token\.actions\.githubusercontent\.com)$",
    ))
    .unwrap();
    assert_eq!(r.checks.len(), 2);
    assert!(r.narrowings.is_empty());
    let e = read(&id(r".*accounts\.google.*")).unwrap_err();
    assert!(
        e.starts_with(
            "issuerRegExp .*accounts\\.google.*: read as the exact issuer \"accounts.google\""
        ),
        "{e}"
    );
    let e = read(&id(r".*")).unwrap_err();
    assert!(e.contains("matches every issuer"), "{e}");
    let e = read(&id(r"^https://[a-z]+\.example$")).unwrap_err();
    assert!(e.contains("an exact issuer"), "{e}");
    // issuers × subjects is capped.
    let many = Identity {
        issuer_reg_exp: Some(r"^https://(a|b|c)\.example$".into()),
        subject_reg_exp: Some(r"^https://x\.example/(a|b|c)/".into()),
        ..Default::default()
    };
    assert_eq!(
        read(&many).unwrap_err(),
        "9 host checks (issuers × subjects): at most 8"
    );
}

#[test]
fn case_folds_are_read_through_the_fold_table() {
    // (?i)k folds to K, k and the Kelvin sign; (?i)s to S, s and the long s.
    let r = assert_sound(r"(?i)^https://k8s\.io/");
    assert_eq!(r.checks, vec![prefix("https://k8s.io/")]);
    assert_eq!(r.narrowings, vec![CaseFolded]);
    // An explicit two-letter class is not a fold unless it is one.
    let r = assert_sound(r"^https://[Gg]ithub\.com/");
    assert_eq!(r.checks, vec![prefix("https://github.com/")]);
    assert_eq!(r.narrowings, vec![CaseFolded]);
    let e = subject_re(r"^https://[gh]ithub\.com/").unwrap();
    assert_eq!(
        e.checks,
        vec![prefix("https://github.com/"), prefix("https://hithub.com/")]
    );
}
