//! Keyless identity expressions read as checks the host makes itself, for images whose
//! certificate this policy cannot read.
//!
//! A cosign v3 image carries its signature as a Sigstore bundle (an OCI referrer); the signing
//! certificate sits inside the bundle blob, which no host capability returns. So the module
//! cannot pick the (issuer, subject) pairs an `issuerRegExp`/`subjectRegExp` accepts, as it does
//! from a `.sig` signature manifest ([`crate::authority`]). What the host can check without the
//! module seeing the certificate (`oci/v2/verify`, kubewarden-controller
//! `crates/policy-fetcher/src/verify/verification_constraints.rs`
//! `GenericIssuerSubjectVerifier`):
//!
//! - `SigstoreKeylessVerify`: issuer `==` I and subject `==` S;
//! - `SigstoreKeylessPrefixVerify`: issuer `==` I and the subject string starts with the
//!   serialisation of `url::Url::parse(url_prefix)`, with a `/` appended to it when it does not
//!   end in one (`GenericIssuerSubjectVerifier::new`; an unparsable prefix panics the host's
//!   callback task, `callback_handler/sigstore_verification.rs` `verify_keyless_prefix`, so only
//!   canonical URLs are ever sent: [`url`]).
//!
//! `SigstoreGithubActionsVerify` is never used: it compares the owner and repository with the
//! certificate's `githubWorkflowRepository` extension (OID 1.3.6.1.4.1.57264.1.5, the repository
//! that *ran* the workflow), not with the subject, and only checks that the subject is some
//! `github.com` URL (`GitHubVerifier::verify`). A reusable workflow of another repository signs
//! with that repository's URL as subject, so the host's set differs from any subject regexp
//! about `https://github.com/<owner>/<repo>/` in both directions.
//!
//! [`read`] turns an identity into such checks, from the expressions' syntax trees (Go RE2 syntax,
//! [`re2`]), or refuses it. Each check **implies** the identity as cosign matches it
//! (`pkg/cosign/verify.go` `CheckCertificatePolicy` L467-L531: `regexp.MatchString`,
//! unanchored, over the certificate's issuer and over each of its SANs), so the host admits only
//! what upstream admits:
//!
//! Let one alternative (top-level `|` branch) of an expression be `lead · lit · tail`, where
//! `lead` holds only start assertions (`^`, `\A`, `(?m)^`) and expressions that can match the
//! empty string without any assertion (`.*`, `(x)?`), `lit` denotes a finite set W of texts
//! (literal characters, a class read as one or a few of its members, alternations, optional
//! parts and exact counts of those), and `tail` is either empty-matching without assertions
//! (**open**) or only `$`/`\z` (**closed**). For every w in W and every text t, a match of the
//! alternative starts at position 0 of `w·t` (the start assertions hold at 0, the `lead` items
//! match empty), `lit` consumes w, and an open `tail` matches empty: so every subject starting
//! with w matches, and `StartsWith(w)` implies the expression. A closed `tail` holds at the end
//! of `w`, so `Equals(w)` implies it. A union of alternatives matches when one does. The host's
//! subject is one of the certificate's SANs (sigstore-rs 0.14 `CertificateSubject::
//! from_certificate`: the first e-mail or URI SAN; Fulcio issues exactly one), so a check the
//! host passes is a SAN cosign would have matched. The issuer works the same way with `Equals`
//! (an open or closed `tail` both hold on the issuer itself).
//!
//! The reading is **equivalent** (the host admits exactly what upstream admits) when `lead` is
//! only `^`/`\A`, W is read exactly, and (for the issuer) `tail` is closed: then every match
//! starts at 0 and consumes a w, and an open tail leaves the rest free. Otherwise it is a
//! **narrowing** ([`Narrowing`]): it may deny what upstream admits, never the reverse.

mod re2;
mod url;

use crate::cip::Identity;
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look};

/// At most this many host calls per identity (and texts per expression alternative).
pub const MAX_CHECKS: usize = 8;

/// A class with at most this many members is read as that many alternatives.
const MAX_CLASS_MEMBERS: u32 = 4;

/// One `oci/v2/verify` question; the identity holds when any of its checks is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCheck {
    /// `SigstoreKeylessVerify`: issuer and subject exactly.
    Exact {
        /// The OIDC issuer.
        issuer: String,
        /// The whole subject (SAN).
        subject: String,
    },
    /// `SigstoreKeylessPrefixVerify`: issuer exactly, subject starting with `url_prefix` (a
    /// canonical `http(s)` URL ending in `/`, which the host compares as is).
    UrlPrefix {
        /// The OIDC issuer.
        issuer: String,
        /// The subject's URL prefix.
        url_prefix: String,
    },
}

/// How a reading is narrower than the expression it comes from (README, "Identity regexps
/// on bundle-only images").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Narrowing {
    /// No `^`/`\A`: the expression also matches text in the middle of a subject.
    Unanchored,
    /// `(?m)^` also matches after a newline; read as the start of the subject.
    MultiLineStart,
    /// A part before the literal text (`.*`, `(x)?`) read as matching nothing.
    SkippedLead,
    /// An unescaped `.` in the literal text read as a literal dot.
    DotAsLiteral,
    /// A case-insensitive letter read in lower case.
    CaseFolded,
    /// `https://host` read as `https://host/` (what the host's URL parser makes of it).
    HostRoot,
    /// An expression that also matches longer texts (no `$`, or `(?m)$`), read as exactly its
    /// literal text (an issuer always; a subject when it ends with an assertion).
    ExactText,
}

impl Narrowing {
    /// What the narrowing does, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Narrowing::Unanchored => "unanchored, read as anchored at the start with ^",
            Narrowing::MultiLineStart => "(?m)^ read as the start of the text",
            Narrowing::SkippedLead => "the part before the literal text read as empty",
            Narrowing::DotAsLiteral => "an unescaped . read as a literal dot",
            Narrowing::CaseFolded => "case-insensitive letters read in lower case",
            Narrowing::HostRoot => "a URL without a path read with the path /",
            Narrowing::ExactText => {
                "read as exactly its literal text, which it also matches inside longer texts"
            }
        }
    }
}

/// An identity read as host checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Any one verified check passes the identity; at most [`MAX_CHECKS`].
    pub checks: Vec<HostCheck>,
    /// Empty when the reading is equivalent to the identity; else how it is narrower, sorted.
    pub narrowings: Vec<Narrowing>,
}

/// Checks that `pattern` is an expression Go's RE2 reads as `regex-syntax` does ([`re2`]);
/// the error names the construct and what Go does with it.
pub fn check_re2_syntax(pattern: &str) -> Result<(), String> {
    re2::parse(pattern).map(|_| ())
}

/// `pattern` compiled to match as cosign's Go `regexp` does ([`re2::go_regex`]: ASCII Perl
/// classes and word boundaries), for choosing candidate identities from certificates.
pub fn go_regex(pattern: &str) -> Result<regex::Regex, String> {
    re2::go_regex(pattern)
}

/// Reads `identity` as host checks (module docs), or says why it cannot be.
///
/// Errors: `issuerRegExp <re>: <reason>` or `subjectRegExp <re>: <reason>`, the reason naming
/// what the host cannot check (not Go RE2 syntax, no literal text at the start, what the
/// expression requires after the literal text, a text that is not a canonical URL ending in
/// `/`, too many alternatives), or `<n> host checks: at most 8`.
pub fn read(identity: &Identity) -> Result<Reading, String> {
    let mut narrowings = Vec::new();
    let issuers = match (&identity.issuer, &identity.issuer_reg_exp) {
        (Some(issuer), _) => vec![issuer.clone()],
        (None, Some(re)) => {
            read_issuer(re, &mut narrowings).map_err(|e| format!("issuerRegExp {re}: {e}"))?
        }
        (None, None) => return Err("no issuer: the host checks an exact issuer".into()),
    };
    let subjects = match (&identity.subject, &identity.subject_reg_exp) {
        (Some(subject), _) => vec![Subject::Exact(subject.clone())],
        (None, Some(re)) => {
            read_subject(re, &mut narrowings).map_err(|e| format!("subjectRegExp {re}: {e}"))?
        }
        (None, None) => return Err("no subject: the host checks a subject".into()),
    };
    let count = issuers.len() * subjects.len();
    if count > MAX_CHECKS {
        return Err(format!(
            "{count} host checks (issuers × subjects): at most {MAX_CHECKS}"
        ));
    }
    let mut checks = Vec::with_capacity(count);
    for issuer in &issuers {
        for subject in &subjects {
            checks.push(match subject {
                Subject::Exact(s) => HostCheck::Exact {
                    issuer: issuer.clone(),
                    subject: s.clone(),
                },
                Subject::Prefix(p) => HostCheck::UrlPrefix {
                    issuer: issuer.clone(),
                    url_prefix: p.clone(),
                },
            });
        }
    }
    narrowings.sort();
    narrowings.dedup();
    Ok(Reading { checks, narrowings })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Exact(String),
    Prefix(String),
}

/// The start of one alternative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// No start assertion.
    None,
    /// `(?m)^`.
    Line,
    /// `^` or `\A`.
    Text,
}

/// What one alternative requires after its literal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Nothing: the rest matches empty without assertions.
    Open,
    /// Only `$`/`\z`: the end of the text.
    Text,
    /// Empty-matching parts and end-of-text or end-of-line assertions: the text itself
    /// matches (read as exact, a narrowing).
    Loose,
}

/// One alternative: `lead · lit · tail` (module docs).
struct Branch {
    words: Vec<String>,
    end: End,
    /// How this alternative's reading is narrower (start, lead and literal text).
    narrowings: Vec<Narrowing>,
}

fn read_subject(re: &str, narrowings: &mut Vec<Narrowing>) -> Result<Vec<Subject>, String> {
    let hir = re2::parse(re)?;
    let mut forms: Vec<(String, bool)> = Vec::new(); // (text, exact)
    for alternative in alternatives(&hir)? {
        let branch = read_branch(&alternative, false)?;
        narrowings.extend(&branch.narrowings);
        if branch.end == End::Loose {
            narrowings.push(Narrowing::ExactText);
        }
        let exact = branch.end != End::Open;
        if exact && branch.narrowings.contains(&Narrowing::SkippedLead) {
            return Err(format!(
                "it allows any text before {:?}, which the host cannot check: it compares a whole subject exactly, or a URL prefix",
                branch.words[0]
            ));
        }
        for word in branch.words {
            if word.is_empty() {
                return Err(
                    "it matches every subject or the empty one: there is no literal text at its start for the host to compare"
                        .into(),
                );
            }
            forms.push((word, exact));
        }
    }
    // A prefix covers every text that starts with it: drop what another prefix covers (before
    // the URL check: `…/acme/(x)?` is `…/acme/`).
    let covered = |(text, text_exact): &(String, bool)| {
        forms.iter().any(|(by, exact)| {
            !exact && (*text_exact || by != text) && text.starts_with(by.as_str())
        })
    };
    let mut subjects: Vec<Subject> = Vec::new();
    for form in forms.iter().filter(|f| !covered(f)) {
        let subject = if form.1 {
            Subject::Exact(form.0.clone())
        } else {
            let (prefix, host_root) = url::url_prefix(&form.0)?;
            if host_root {
                narrowings.push(Narrowing::HostRoot);
            }
            Subject::Prefix(prefix)
        };
        if !subjects.contains(&subject) {
            subjects.push(subject);
        }
    }
    Ok(subjects)
}

fn read_issuer(re: &str, narrowings: &mut Vec<Narrowing>) -> Result<Vec<String>, String> {
    let hir = re2::parse(re)?;
    let mut issuers: Vec<String> = Vec::new();
    for alternative in alternatives(&hir)? {
        let mut branch = read_branch(&alternative, true)?;
        if branch.end != End::Text {
            branch.narrowings.push(Narrowing::ExactText);
        }
        let narrowed = !branch.narrowings.is_empty();
        narrowings.extend(&branch.narrowings);
        for word in branch.words {
            if word.is_empty() {
                return Err("it matches every issuer or the empty one: there is no literal text for the host to compare".into());
            }
            if narrowed && !(word.starts_with("https://") || word.starts_with("http://")) {
                return Err(format!(
                    "read as the exact issuer {word:?}, which is not an issuer URL: spell the whole issuer, e.g. ^https://token\\.actions\\.githubusercontent\\.com$"
                ));
            }
            if !issuers.contains(&word) {
                issuers.push(word);
            }
        }
    }
    Ok(issuers)
}

/// The alternatives of `hir` as sequences of items: concatenations flattened (through capture
/// groups), and alternations that are not literal-like distributed over them
/// (`A(B|C)D` is `ABD|ACD`, the same language). Errors past [`MAX_CHECKS`] alternatives.
fn alternatives(hir: &Hir) -> Result<Vec<Vec<&Hir>>, String> {
    Ok(match hir.kind() {
        HirKind::Alternation(subs) => {
            let mut all = Vec::new();
            for sub in subs {
                all.extend(alternatives(sub)?);
                if all.len() > MAX_CHECKS {
                    return Err(too_many(all.len()));
                }
            }
            all
        }
        HirKind::Capture(c) => alternatives(&c.sub)?,
        HirKind::Concat(subs) => {
            let mut all: Vec<Vec<&Hir>> = vec![Vec::new()];
            for sub in subs {
                let parts = if literal(sub)?.is_some() {
                    vec![vec![sub]]
                } else {
                    alternatives(sub)?
                };
                if all.len() * parts.len() > MAX_CHECKS {
                    return Err(too_many(all.len() * parts.len()));
                }
                all = all
                    .iter()
                    .flat_map(|seq| {
                        parts.iter().map(move |part| {
                            let mut joined = seq.clone();
                            joined.extend(part);
                            joined
                        })
                    })
                    .collect();
            }
            all
        }
        _ => vec![vec![hir]],
    })
}

/// Reads one alternative (its items, [`alternatives`]) as `lead · lit · tail` (module docs).
/// `issuer`: the expression is matched against an issuer, which is read as exactly its text
/// even when more may follow it (`.*`); a subject is read exactly only when nothing may.
fn read_branch(items: &[&Hir], issuer: bool) -> Result<Branch, String> {
    let mut start = Start::None;
    let mut skipped = false;
    let mut i = 0;
    while let Some(item) = items.get(i) {
        match item.kind() {
            // `^`/`\A` hold only at 0: what came before them matched empty.
            HirKind::Look(Look::Start) => {
                start = Start::Text;
                skipped = false;
            }
            HirKind::Look(Look::StartLF | Look::StartCRLF) => {
                if start == Start::None {
                    start = Start::Line;
                }
            }
            _ if literal(item)?.is_some() => break,
            _ if nullable(item) => skipped |= item.properties().maximum_len() != Some(0),
            _ => break,
        }
        i += 1;
    }
    let mut narrowings = match start {
        Start::None => vec![Narrowing::Unanchored],
        Start::Line => vec![Narrowing::MultiLineStart],
        Start::Text => vec![],
    };
    if skipped {
        narrowings.push(Narrowing::SkippedLead);
    }
    let mut text = vec![String::new()];
    while let Some(item) = items.get(i) {
        match literal(item)? {
            Some((w, notes)) => {
                text = product(&text, &w)?;
                narrowings.extend(notes);
            }
            None => break,
        }
        i += 1;
    }
    let tail = &items[i..];
    let is_text_end = |h: &&Hir| matches!(h.kind(), HirKind::Look(Look::End));
    let is_line_end = |h: &&Hir| {
        matches!(
            h.kind(),
            HirKind::Look(Look::End | Look::EndLF | Look::EndCRLF)
        )
    };
    let end = if tail.iter().all(|h| nullable(h)) {
        End::Open
    } else if tail.iter().all(|h| is_text_end(h) || nullable_empty(h)) {
        End::Text
    } else if tail.iter().all(|h| {
        is_line_end(h)
            || (if issuer {
                nullable(h)
            } else {
                nullable_empty(h)
            })
    }) {
        End::Loose
    } else {
        let what = if issuer { "issuer" } else { "subject" };
        let checks = if issuer {
            "an exact issuer"
        } else {
            "an exact subject, or a URL prefix followed by anything"
        };
        return Err(match text.as_slice() {
            [only] if only.is_empty() => {
                format!("it does not start with literal text, and the host compares {checks}")
            }
            _ => format!(
                "after the literal text {:?} it constrains the {what} further, which the host cannot check: it compares {checks}",
                text[0]
            ),
        });
    };
    Ok(Branch {
        words: text,
        end,
        narrowings,
    })
}

/// Matches the empty string without passing an assertion.
fn nullable(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty => true,
        HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => false,
        HirKind::Repetition(r) => r.min == 0 || nullable(&r.sub),
        HirKind::Capture(c) => nullable(&c.sub),
        HirKind::Concat(subs) => subs.iter().all(nullable),
        HirKind::Alternation(subs) => subs.iter().any(nullable),
    }
}

/// Matches only the empty string, without assertions (`()`, `(?:)`).
fn nullable_empty(hir: &Hir) -> bool {
    nullable(hir) && hir.properties().maximum_len() == Some(0)
}

/// [`words`] with the narrowings it takes, kept only when `hir` is literal-like.
#[allow(clippy::type_complexity)]
fn literal(hir: &Hir) -> Result<Option<(Vec<String>, Vec<Narrowing>)>, String> {
    let mut notes = Vec::new();
    Ok(words(hir, &mut notes)?.map(|w| (w, notes)))
}

/// The finite set of texts `hir` matches exactly, when it is literal-like (module docs):
/// `Ok(None)` when it is not, `Err` when it has more than [`MAX_CHECKS`] texts. `narrowings`
/// gets what was narrowed, meaningful only when the answer is `Some`.
fn words(hir: &Hir, narrowings: &mut Vec<Narrowing>) -> Result<Option<Vec<String>>, String> {
    Ok(match hir.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0)
            .ok()
            .map(|s| vec![s.to_string()]),
        HirKind::Class(Class::Unicode(class)) => class_words(class, narrowings),
        HirKind::Class(Class::Bytes(_)) | HirKind::Look(_) => None,
        HirKind::Capture(c) => words(&c.sub, narrowings)?,
        HirKind::Concat(subs) => {
            let mut acc = vec![String::new()];
            for sub in subs {
                match words(sub, narrowings)? {
                    Some(w) => acc = product(&acc, &w)?,
                    None => return Ok(None),
                }
            }
            Some(acc)
        }
        HirKind::Alternation(subs) => {
            let mut acc: Vec<String> = Vec::new();
            for sub in subs {
                match words(sub, narrowings)? {
                    Some(w) => union(&mut acc, w)?,
                    None => return Ok(None),
                }
            }
            Some(acc)
        }
        HirKind::Repetition(r) if r.max == Some(r.min) => match words(&r.sub, narrowings)? {
            Some(w) => {
                let mut acc = vec![String::new()];
                for _ in 0..r.min {
                    acc = product(&acc, &w)?;
                }
                Some(acc)
            }
            None => None,
        },
        HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) => {
            match words(&r.sub, narrowings)? {
                Some(w) => {
                    let mut acc = vec![String::new()];
                    union(&mut acc, w)?;
                    Some(acc)
                }
                None => None,
            }
        }
        HirKind::Repetition(_) => None,
    })
}

/// A class as texts: `.` as a literal dot, a case fold as its lower-case ASCII letter (both
/// narrowings: one member of the class), a class of at most [`MAX_CLASS_MEMBERS`] members as
/// each of them (equivalent); anything else is not literal-like.
fn class_words(class: &ClassUnicode, narrowings: &mut Vec<Narrowing>) -> Option<Vec<String>> {
    let ranges: Vec<(char, char)> = class
        .ranges()
        .iter()
        .map(|r| (r.start(), r.end()))
        .collect();
    let any = [('\0', char::MAX)];
    let any_but_newline = [('\0', '\t'), ('\u{b}', char::MAX)];
    if ranges == any || ranges == any_but_newline {
        narrowings.push(Narrowing::DotAsLiteral);
        return Some(vec![".".to_string()]);
    }
    let members: Vec<char> = class
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .take(5)
        .collect();
    let lower: Vec<char> = members
        .iter()
        .copied()
        .filter(char::is_ascii_lowercase)
        .collect();
    if members.len() > 1
        && let [letter] = lower.as_slice()
    {
        let mut fold = ClassUnicode::new([ClassUnicodeRange::new(*letter, *letter)]);
        fold.case_fold_simple();
        if &fold == class {
            narrowings.push(Narrowing::CaseFolded);
            return Some(vec![letter.to_string()]);
        }
    }
    (members.len() as u32 <= MAX_CLASS_MEMBERS)
        .then(|| members.iter().map(char::to_string).collect())
}

fn product(a: &[String], b: &[String]) -> Result<Vec<String>, String> {
    if a.len() * b.len() > MAX_CHECKS {
        return Err(too_many(a.len() * b.len()));
    }
    Ok(a.iter()
        .flat_map(|x| b.iter().map(move |y| format!("{x}{y}")))
        .collect())
}

fn union(acc: &mut Vec<String>, more: Vec<String>) -> Result<(), String> {
    for w in more {
        if !acc.contains(&w) {
            acc.push(w);
        }
    }
    if acc.len() > MAX_CHECKS {
        return Err(too_many(acc.len()));
    }
    Ok(())
}

fn too_many(n: usize) -> String {
    format!("its literal text has {n} alternatives: at most {MAX_CHECKS} host checks are made")
}

#[cfg(test)]
mod tests;
