//! ClusterImagePolicy image globs, with upstream's semantics, built on `globset`.
//!
//! Source: `sigstore/policy-controller` `pkg/apis/glob/glob.go` L33-60:
//! - allowed characters: `^[a-zA-Z0-9-_:/*.@]+$`; anything else is `invalid glob "<g>"`;
//! - the literal globs `*` and `*/*` are rewritten to `index.docker.io/library/*` and
//!   `index.docker.io/*/*`;
//! - `*` matches any run of characters except `/` (so it crosses `:` and `@`), `**` matches
//!   anything, and the glob is anchored at both ends; matching is case-sensitive.
//!
//! globset only treats `**` as recursive when it is a whole path component, so each `**` is
//! rewritten into a globset alternation that means "any string" (the translation of
//! `../shared/reference/regorus-globset-peers.md` §2.3, checked there by differential fuzzing),
//! and each glob is built with `literal_separator(true)` so that `*` stops at `/`. Literal globs
//! and globs whose only wildcard is a trailing `**` are decided by string comparison, as
//! globset's own `Literal`/`Prefix` strategies do; the regex of any other glob is compiled only
//! when a name passes its literal prefix (see [`GlobMatcher`]).

use globset::GlobBuilder;

/// Why a glob was rejected, in upstream's words (rule 3 and 4 of the CIP validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// `filepath.Match` syntax error (an unclosed `[`, a trailing `\`).
    Syntax,
    /// A character outside upstream's allowed set.
    Invalid(String),
    /// The glob's literal registry is not written in canonical form (upper case, a default or
    /// zero-padded port, a Docker Hub name other than `index.docker.io`), so it could never
    /// match a canonical image name ([`crate::reference`]); `Some(glob)` is what to write, `None`
    /// when the port names no endpoint.
    NotCanonical(Option<String>),
}

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GlobError::Syntax => write!(f, "glob is invalid: syntax error in pattern"),
            GlobError::Invalid(g) => write!(f, "glob is invalid: invalid glob {g:?}"),
            GlobError::NotCanonical(Some(canonical)) => write!(
                f,
                "glob is invalid: it can never match: images are matched by their canonical name (registry host in lower case, no default port, Docker Hub as index.docker.io); write {canonical}"
            ),
            GlobError::NotCanonical(None) => write!(
                f,
                "glob is invalid: its registry port names no endpoint (ports are 1 to 65535)"
            ),
        }
    }
}

/// Checks a glob against upstream's rules and returns the globset pattern it compiles to.
///
/// Errors: [`GlobError::Syntax`] for patterns Go's `filepath.Match` rejects (checked first, as
/// upstream's validation does), [`GlobError::Invalid`] for characters outside
/// `a-zA-Z0-9-_:/*.@`.
pub fn translate(glob: &str) -> Result<String, GlobError> {
    if go_match_syntax_error(glob) {
        return Err(GlobError::Syntax);
    }
    let glob = match glob {
        "*/*" => "index.docker.io/*/*",
        "*" => "index.docker.io/library/*",
        other => other,
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_:/*.@".contains(c);
    if glob.is_empty() || !glob.chars().all(allowed) {
        return Err(GlobError::Invalid(glob.to_string()));
    }
    check_registry_segment(glob)?;
    Ok(rewrite_double_stars(glob))
}

/// The glob's first component, when it is a literal registry host: no wildcard, a `/` after
/// it, and a `.` or `:` in it, or `localhost`, or an upper-case letter (which no canonical
/// name has there: [`crate::reference`], table rows 1 and 12).
fn literal_registry(glob: &str) -> Option<&str> {
    let (first, _) = glob.split_once('/')?;
    let registry_like = first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase());
    (!first.contains('*') && registry_like).then_some(first)
}

/// Image names are matched in canonical form ([`crate::reference::canonical_registry`]), so a
/// literal registry written otherwise (`GHCR.IO/**`, `ghcr.io:443/**`, `docker.io/**`) could
/// never match: an error naming the glob to write instead (upstream matched such a glob only
/// against images spelled the same way, which let every other spelling dodge it).
fn check_registry_segment(glob: &str) -> Result<(), GlobError> {
    let Some(first) = literal_registry(glob) else {
        return Ok(());
    };
    let canonical =
        crate::reference::canonical_registry(first).map_err(|_| GlobError::NotCanonical(None))?;
    if canonical == first {
        return Ok(());
    }
    Err(GlobError::NotCanonical(Some(format!(
        "{canonical}{}",
        &glob[first.len()..]
    ))))
}

/// The regular expression upstream compiles for a glob (`pkg/apis/glob/glob.go` L38-60: the
/// `*`/`*/*` rewrites, then `.` → `\.`, `**` → `.*`, `*` → `[^/]*`, anchored `^…$`), or
/// [`GlobError`] as [`translate`] gives it.
///
/// This crate matches with globset (see [`GlobMatcher`]); this is the reference the matcher is
/// checked against (unit tests and the `reference_and_glob` fuzz target). Names are matched
/// as upstream's Go `regexp` does: `.` does not match a newline (image names never contain one).
pub fn upstream_regex(glob: &str) -> Result<String, GlobError> {
    translate(glob)?;
    let glob = match glob {
        "*/*" => "index.docker.io/*/*",
        "*" => "index.docker.io/library/*",
        other => other,
    };
    // `translate` has checked the characters: only `.` and `*` are special in a regex.
    let body = glob
        .replace('.', "\\.")
        .replace("**", "#")
        .replace('*', "[^/]*")
        .replace('#', ".*");
    Ok(format!("^{body}$"))
}

/// Go's `filepath.Match(pattern, "")` returns `ErrBadPattern` for an unterminated character
/// class or a trailing escape; those are the only syntax errors a pattern can have.
fn go_match_syntax_error(glob: &str) -> bool {
    let bytes = glob.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                if i + 1 >= bytes.len() {
                    return true;
                }
                i += 2;
            }
            b'[' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'^' {
                    i += 1;
                }
                let start = i;
                loop {
                    if i >= bytes.len() {
                        return true;
                    }
                    if bytes[i] == b']' && i > start {
                        break;
                    }
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    false
}

/// Rewrites every run of two or more `*` (upstream: `.*`) into a globset form meaning "any
/// string", chosen by position; single `*` are kept (`[^/]*` under `literal_separator`).
fn rewrite_double_stars(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 16);
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '*' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i] == '*' {
            i += 1;
        }
        if i - start == 1 {
            out.push('*');
            continue;
        }
        let at_start = start == 0;
        let at_end = i == chars.len();
        out.push_str(match (at_start, at_end) {
            (true, true) => "**",
            (false, true) => "{*,*/**}",
            (true, false) => "{*,**/*}",
            (false, false) => "{*,*/**/*}",
        });
    }
    out
}

/// One glob, in the cheapest form that decides it exactly.
///
/// globset itself decides literal globs and globs ending in a recursive wildcard by string
/// comparison (its `Literal` and `Prefix` strategies) and compiles a regex for the rest; the
/// same split is made here per glob, so that a request never compiles the regex of a glob whose
/// literal prefix rules it out. The test `shapes_agree_with_upstream_regex` checks every shape
/// against upstream's regex ([`upstream_regex`]).
#[derive(Debug)]
enum Shape {
    /// No `*`: the name must equal the glob.
    Literal(String),
    /// The only wildcard is a trailing run of two or more `*` (upstream `.*`): the name must
    /// start with this prefix.
    Prefix(String),
    /// Any other glob: `prefix` (the text before the first `*`) is a necessary condition; the
    /// globset matcher is compiled on first use. (Boxed: globset's types are large, and every
    /// shape is as large as the largest variant.)
    Pattern {
        prefix: String,
        glob: Box<globset::Glob>,
        compiled: std::cell::OnceCell<Box<globset::GlobMatcher>>,
    },
}

impl Shape {
    /// Classifies an upstream glob (already checked by [`translate`]); `pattern` is its
    /// globset translation.
    fn new(upstream: &str, pattern: &str) -> Result<Shape, globset::Error> {
        let upstream = match upstream {
            "*/*" => "index.docker.io/*/*",
            "*" => "index.docker.io/library/*",
            other => other,
        };
        let Some(first_star) = upstream.find('*') else {
            return Ok(Shape::Literal(upstream.to_string()));
        };
        let prefix = &upstream[..first_star];
        let tail = &upstream[first_star..];
        if tail.len() >= 2 && tail.bytes().all(|b| b == b'*') {
            return Ok(Shape::Prefix(prefix.to_string()));
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(false)
            .case_insensitive(false)
            .build()?;
        Ok(Shape::Pattern {
            prefix: prefix.to_string(),
            glob: Box::new(glob),
            compiled: std::cell::OnceCell::new(),
        })
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            Shape::Literal(literal) => name == literal,
            Shape::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Shape::Pattern {
                prefix,
                glob,
                compiled,
            } => {
                name.starts_with(prefix.as_str())
                    && compiled
                        .get_or_init(|| Box::new(glob.compile_matcher()))
                        .is_match(name)
            }
        }
    }
}

/// Compiled globs of many CIPs.
///
/// Build with [`GlobMatcher::new`]; [`GlobMatcher::matching_owners`] then tells which owners
/// (e.g. CIP indices) have a glob matching any of the candidate names. Building only checks and
/// classifies the globs (a few microseconds each); the regex of a glob with a wildcard before
/// its end is compiled by globset the first time a name passes its literal prefix, so a request
/// pays only for the globs that could match its images (the host gives every request a fresh
/// instance: nothing compiled survives it).
#[derive(Debug)]
pub struct GlobMatcher {
    globs: Vec<(usize, Shape)>,
}

impl GlobMatcher {
    /// Checks and classifies `(owner, glob)` pairs. Errors name the first glob that is invalid
    /// (`(owner, glob, error)`).
    pub fn new<'a>(
        globs: impl IntoIterator<Item = (usize, &'a str)>,
    ) -> Result<Self, (usize, String, GlobError)> {
        let mut shapes = Vec::new();
        for (owner, glob) in globs {
            let pattern = translate(glob).map_err(|e| (owner, glob.to_string(), e))?;
            let shape = Shape::new(glob, &pattern).map_err(|e| {
                (
                    owner,
                    glob.to_string(),
                    GlobError::Invalid(format!("{glob}: {e}")),
                )
            })?;
            shapes.push((owner, shape));
        }
        Ok(GlobMatcher { globs: shapes })
    }

    /// Owners having at least one glob that matches one of `candidates`, sorted and unique.
    pub fn matching_owners(&self, candidates: &[String]) -> Vec<usize> {
        let mut hits: Vec<usize> = self
            .globs
            .iter()
            .filter(|(_, shape)| candidates.iter().any(|c| shape.is_match(c)))
            .map(|(owner, _)| *owner)
            .collect();
        hits.sort_unstable();
        hits.dedup();
        hits
    }
}

/// Whether one glob matches one name (for tests and tools; admission uses [`GlobMatcher`]).
pub fn matches(glob: &str, name: &str) -> Result<bool, GlobError> {
    let matcher = GlobMatcher::new([(0, glob)]).map_err(|(_, _, e)| e)?;
    Ok(!matcher.matching_owners(&[name.to_string()]).is_empty())
}

/// Whether `glob` matches `image` in admission: on the image's canonical names
/// ([`crate::reference::ImageRef::match_names`]), the tag beside a digest counting only when
/// `tag_confirmed` (the host confirmed that it names the digest).
///
/// Errors: the glob is invalid, or the image does not parse (`could not parse reference: …`).
pub fn image_matches(glob: &str, image: &str, tag_confirmed: bool) -> Result<bool, String> {
    let matcher = GlobMatcher::new([(0, glob)]).map_err(|(_, _, e)| e.to_string())?;
    let reference = crate::reference::ImageRef::parse(image).map_err(|e| e.to_string())?;
    Ok(!matcher
        .matching_owners(&reference.match_names(tag_confirmed))
        .is_empty())
}

/// Upstream's `glob.Match(glob, image)` (`pkg/apis/glob/glob.go` L79-97) itself, for the
/// conformance vectors of its `glob_test.go`: the normalised name (the digest form of a pinned
/// image, whose tag go-containerregistry drops), then the deprecated fallback to the image as
/// written when that differs. Admission never uses the fallback (upstream's passes the
/// normalised name, so it is dead there; here it would let the spelling decide).
///
/// Errors: as [`image_matches`].
pub fn upstream_glob_match(glob: &str, image: &str) -> Result<bool, String> {
    let matcher = GlobMatcher::new([(0, glob)]).map_err(|(_, _, e)| e.to_string())?;
    let reference = crate::reference::ImageRef::parse(image).map_err(|e| e.to_string())?;
    let mut names = reference.match_names(false);
    if !names.iter().any(|n| n == image) {
        names.push(image.to_string());
    }
    Ok(!matcher.matching_owners(&names).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector of upstream's `pkg/apis/glob/glob_test.go` L126-180
    /// (`../shared/reference/policy-controller.md` §2.1): same result, same error.
    #[test]
    fn upstream_glob_test_vectors() {
        const H: &str = "sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350";
        let digest_image = format!("ghcr.io/foo@{H}");
        // (row, glob, image, Some(match) or None for an error)
        let rows: Vec<(u32, &str, &str, Option<bool>)> = vec![
            (1, "index.docker.io/library/foo:latest", "foo", Some(true)),
            (2, "index.docker.io/library/foo:*", "foo", Some(true)),
            (3, "index.docker.io/library/*", "foo", Some(true)),
            (4, "index.docker.io/library/*:latest", "foo", Some(true)),
            (5, "index.docker.io/*/*", "foo", Some(true)),
            (6, "index.docker.io/**", "foo", Some(true)),
            (7, "index.docker.**", "foo", Some(true)),
            (8, "inde**", "foo", Some(true)),
            (9, "**", "foo", Some(true)),
            (10, "foo", "foo", Some(true)),
            (11, "foo*", "foo", Some(true)),
            (12, "foo**", "foo", Some(true)),
            (
                13,
                "index.docker.io/myuser/myapp:latest",
                "myuser/myapp",
                Some(true),
            ),
            (
                14,
                "index.docker.io/myuser/myapp:*",
                "myuser/myapp",
                Some(true),
            ),
            (15, "index.docker.io/myuser/*", "myuser/myapp", Some(true)),
            (
                16,
                "index.docker.io/myuser/*:latest",
                "myuser/myapp",
                Some(true),
            ),
            (17, "index.docker.io/*/*", "myuser/myapp", Some(true)),
            (18, "index.docker.io/**", "myuser/myapp", Some(true)),
            (19, "index.docker.**", "myuser/myapp", Some(true)),
            (20, "inde**", "myuser/myapp", Some(true)),
            (21, "**", "myuser/myapp", Some(true)),
            (22, "myuser/myapp", "myuser/myapp", Some(true)),
            (23, "myuser/myapp*", "myuser/myapp", Some(true)),
            (24, "myuser/myapp**", "myuser/myapp", Some(true)),
            (25, "ghcr.io/*/*", "ghcr.io/foo/bar", Some(true)),
            (26, "ghcr.io/**", "ghcr.io/foo/bar", Some(true)),
            (27, "ghcr.io/*/*", "ghcr.io/foo", Some(false)),
            (28, "ghcr.io/**", "ghcr.io/foo", Some(true)),
            (29, "ghc**", "ghcr.io/foo", Some(true)),
            (30, "**", "ghcr.io/foo", Some(true)),
            (31, "*/**", "ghcr.io/foo", Some(true)),
            (32, "ghcr.io/foo*", "ghcr.io/foo", Some(true)),
            (33, "ghcr.io/foo**", "ghcr.io/foo", Some(true)),
            (34, "ghcr.io/foo", "prefix-ghcr.io/foo", Some(false)),
            (35, "ghcr.io/foo", "ghcr.io/foo-suffix", Some(false)),
            (36, "ghcr.io/**", "ghcrxio/foo", Some(false)),
            (37, "**", "invalid&name", None),
            (38, ".+", "invalid-glob", None),
            (39, "[a-z]*", "invalid-glob", None),
            (40, "*", "foo", Some(true)),
            (41, "*/*", "myuser/myapp", Some(true)),
            (
                42,
                "ghcr.io/foo@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350",
                &digest_image,
                Some(true),
            ),
        ];
        assert_eq!(rows.len(), 42);
        for (row, glob, image, want) in rows {
            let got = upstream_glob_match(glob, image);
            match want {
                Some(want) => assert_eq!(got, Ok(want), "row {row}: glob {glob} on {image}"),
                None => assert!(
                    got.is_err(),
                    "row {row}: glob {glob} on {image} must be an error, got {got:?}"
                ),
            }
        }
    }

    /// What admission sees (`policy-controller.md` §2.2): upstream matches `repo@sha256:…`
    /// only. Rows where this policy matches more than upstream carry the reason.
    #[test]
    fn admission_vectors_and_documented_differences() {
        const H: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        // (glob, image, tag confirmed by the host, upstream, ours, reason when they differ)
        let rows: Vec<(&str, String, bool, bool, bool, &str)> = vec![
            (
                "ghcr.io/foo:**",
                format!("ghcr.io/foo:v1@{H}"),
                true,
                false,
                true,
                "a tag the host confirms is matched too (policy-controller#888)",
            ),
            (
                "ghcr.io/foo:**",
                format!("ghcr.io/foo:v1@{H}"),
                false,
                false,
                false,
                "",
            ),
            (
                "ghcr.io/foo*",
                format!("ghcr.io/foo:v1@{H}"),
                false,
                true,
                true,
                "",
            ),
            (
                "ghcr.io/foo**",
                format!("ghcr.io/foo:v1@{H}"),
                false,
                true,
                true,
                "",
            ),
            (
                "index.docker.io/library/nginx:latest",
                format!("nginx:latest@{H}"),
                true,
                false,
                true,
                "a tag the host confirms is matched too (policy-controller#888)",
            ),
            ("nginx", format!("nginx@{H}"), false, false, false, ""),
            ("nginx*", format!("nginx@{H}"), false, false, false, ""),
            ("*", format!("nginx@{H}"), false, true, true, ""),
            ("*/*", format!("bitnami/redis@{H}"), false, true, true, ""),
            (
                "index.docker.io/**",
                format!("docker.io/library/nginx@{H}"),
                false,
                true,
                true,
                "",
            ),
            (
                "localhost:5000/**",
                format!("localhost:5000/app@{H}"),
                false,
                true,
                true,
                "",
            ),
            (
                "index.docker.io/localhost/**",
                format!("localhost/app@{H}"),
                false,
                true,
                false,
                "localhost/app is the registry on localhost, as the runtimes pull it",
            ),
            (
                "localhost/**",
                format!("localhost/app@{H}"),
                false,
                false,
                true,
                "localhost/app is the registry on localhost, as the runtimes pull it",
            ),
            (
                "ghcr.io/evil/**",
                format!("GHCR.IO:443/evil/x@{H}"),
                false,
                false,
                true,
                "the registry host is matched in canonical form",
            ),
            (
                "**demo**",
                format!("registry.local:5000/demo-abc@{H}"),
                false,
                true,
                true,
                "",
            ),
            (
                "ghcr.io/org/app:v1*",
                "ghcr.io/org/app:v1.2".to_string(),
                false,
                false,
                true,
                "tag-only images are matched on their tag (upstream requires a digest)",
            ),
        ];
        for (glob, image, confirmed, upstream, ours, reason) in rows {
            assert_eq!(
                upstream != ours,
                !reason.is_empty(),
                "{glob} on {image}: a difference needs a reason"
            );
            assert_eq!(
                image_matches(glob, &image, confirmed),
                Ok(ours),
                "{glob} on {image} ({reason})"
            );
        }
    }

    /// A literal registry that is not canonical could never match: refused, naming the glob to
    /// write.
    #[test]
    fn literal_registries_must_be_canonical() {
        for (glob, canonical) in [
            ("GHCR.IO/evil/**", "ghcr.io/evil/**"),
            ("ghcr.io:443/evil/**", "ghcr.io/evil/**"),
            ("localhost:05000/**", "localhost:5000/**"),
            ("docker.io/library/nginx*", "index.docker.io/library/nginx*"),
            ("registry-1.docker.io/**", "index.docker.io/**"),
            ("Docker.io:443/x/*", "index.docker.io/x/*"),
        ] {
            assert_eq!(
                translate(glob),
                Err(GlobError::NotCanonical(Some(canonical.into()))),
                "{glob}"
            );
        }
        assert_eq!(
            translate("ghcr.io:0/**"),
            Err(GlobError::NotCanonical(None))
        );
        assert_eq!(
            GlobError::NotCanonical(Some("ghcr.io/**".into())).to_string(),
            "glob is invalid: it can never match: images are matched by their canonical name (registry host in lower case, no default port, Docker Hub as index.docker.io); write ghcr.io/**"
        );
        for fine in [
            "ghcr.io/SEU_USUARIO_GITHUB/api-pagamentos**",
            "**:V1",
            "*/**",
            "localhost/**",
            "index.docker.io/**",
            "ghcr.io:8443/**",
            "Ghcr*/**",
        ] {
            assert!(translate(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn translation_by_position() {
        assert_eq!(translate("**").unwrap(), "**");
        assert_eq!(translate("ghcr.io/**").unwrap(), "ghcr.io/{*,*/**}");
        assert_eq!(translate("**demo").unwrap(), "{*,**/*}demo");
        assert_eq!(translate("a**b").unwrap(), "a{*,*/**/*}b");
        assert_eq!(translate("*").unwrap(), "index.docker.io/library/*");
        assert_eq!(translate("*/*").unwrap(), "index.docker.io/*/*");
    }

    #[test]
    fn rejects_like_upstream() {
        assert_eq!(translate("["), Err(GlobError::Syntax));
        assert_eq!(translate("a\\"), Err(GlobError::Syntax));
        assert_eq!(
            translate("[a-z]*"),
            Err(GlobError::Invalid("[a-z]*".into()))
        );
        assert_eq!(translate(".+"), Err(GlobError::Invalid(".+".into())));
        assert_eq!(translate("$FOO*"), Err(GlobError::Invalid("$FOO*".into())));
        assert_eq!(translate("a b"), Err(GlobError::Invalid("a b".into())));
        assert_eq!(translate("{a,b}"), Err(GlobError::Invalid("{a,b}".into())));
        assert_eq!(translate("ap?"), Err(GlobError::Invalid("ap?".into())));
        assert_eq!(translate(""), Err(GlobError::Invalid("".into())));
        assert_eq!(
            GlobError::Invalid("$FOO*".into()).to_string(),
            "glob is invalid: invalid glob \"$FOO*\""
        );
    }

    /// Rows of `regorus-globset-peers.md` §2.4 (candidate already normalised).
    #[test]
    fn star_semantics() {
        let rows: &[(&str, &str, bool)] = &[
            (
                "index.docker.io/library/*",
                "index.docker.io/library/nginx:latest",
                true,
            ),
            (
                "index.docker.io/library/*",
                "index.docker.io/bitnami/nginx:latest",
                false,
            ),
            ("ghcr.io/*", "ghcr.io/foo/bar:latest", false),
            ("ghcr.io/*/*", "ghcr.io/foo:latest", false),
            ("ghcr.io/*/*", "ghcr.io/foo/bar:latest", true),
            ("ghcr.io/**", "ghcr.io/a/b/c:v1", true),
            ("ghcr.io/**", "ghcr.io", false),
            ("ghcr.io/foo**", "ghcr.io/foo/bar:latest", true),
            ("inde**", "index.docker.io/library/foo:latest", true),
            ("*/**", "ghcr.io/foo:latest", true),
            ("**", "ghcr.io/org/app@sha256:0123", true),
            ("ghcr.io/**/app:*", "ghcr.io/app:latest", false),
            ("ghcr.io/**/app:*", "ghcr.io/x/app:latest", true),
            ("ghcr.io/org/app:v1.*", "ghcr.io/org/app:v1.2.3", true),
            ("localhost:5000/*", "localhost:5000/app:latest", true),
            ("**demo**", "registry.local:5000/demo-abc@sha256:00", true),
            ("a***", "a/b/c", true),
            ("ghcr.io/foo", "ghcr.io/foo-suffix", false),
            ("ghcr.io/foo", "prefix-ghcr.io/foo", false),
            ("ghcr.io/**", "ghcrxio/foo", false),
        ];
        for (glob, name, want) in rows {
            assert_eq!(matches(glob, name).unwrap(), *want, "glob {glob} on {name}");
        }
    }

    #[test]
    fn owners_are_unique_and_sorted() {
        let m = GlobMatcher::new([(2, "**"), (0, "ghcr.io/**"), (2, "ghcr.io/*/*")]).unwrap();
        assert_eq!(
            m.matching_owners(&["ghcr.io/a/b:1".to_string()]),
            vec![0, 2]
        );
        assert_eq!(m.matching_owners(&["quay.io/a:1".to_string()]), vec![2]);
    }

    /// The string-comparison shapes and the lazily compiled ones decide exactly as upstream's
    /// regex does ([`upstream_regex`]), on every glob of the tests above and names built from
    /// their pieces.
    #[test]
    fn shapes_agree_with_upstream_regex() {
        let globs = [
            "**",
            "*",
            "*/*",
            "*/**",
            "a***",
            "inde**",
            "ghcr.io/**",
            "ghcr.io/foo**",
            "ghcr.io/*/*",
            "ghcr.io/**/app:*",
            "ghcr.io/org/app:v1.*",
            "**demo**",
            "**demo",
            "ghcr.io/foo",
            "ghcr.io/foo*",
            "ghcr.io/foo:*",
            "index.docker.io/library/*:latest",
            "localhost:5000/*",
            "a**b",
            "ghcr.io/*",
            "ghcr.io/org/*@sha256:*",
            "registry-4.example.com/**",
            "*/..",
        ];
        let pieces = [
            "",
            "ghcr.io",
            "/",
            "foo",
            "org",
            "app",
            ":",
            "latest",
            "v1.2",
            "@sha256:00",
            "demo",
            "index.docker.io",
            "library",
            "localhost:5000",
            "a",
            "b",
            "-x",
            ".",
            "registry-4.example.com",
            "*",
            "..",
        ];
        let mut names = vec![String::new()];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    names.push(format!("{a}{b}{c}"));
                    names.push(format!("{a}/{b}/{c}"));
                }
            }
        }
        let mut checked = 0;
        for glob in globs {
            let pattern = translate(glob).unwrap();
            let upstream = regex::Regex::new(&upstream_regex(glob).unwrap()).unwrap();
            let shape = Shape::new(glob, &pattern).unwrap();
            for name in &names {
                assert_eq!(
                    shape.is_match(name),
                    upstream.is_match(name),
                    "glob {glob:?} (shape {shape:?}) on {name:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    /// Found by the `reference_and_glob` fuzz target: a `globset::GlobSet` of `*/..` does not
    /// match the name `*/..` (its single-glob regex does), while upstream's `^[^/]*/\.\.$`
    /// does. The matcher answers as upstream.
    #[test]
    fn dot_dot_after_a_star_matches_as_upstream() {
        assert_eq!(upstream_regex("*/..").unwrap(), "^[^/]*/\\.\\.$");
        assert_eq!(matches("*/..", "*/.."), Ok(true));
        assert_eq!(matches("*/..", "a/.."), Ok(true));
        assert_eq!(matches("*/..", "a/b/.."), Ok(false));
    }

    #[test]
    fn upstream_regex_by_position() {
        assert_eq!(upstream_regex("ghcr.io/**").unwrap(), "^ghcr\\.io/.*$");
        assert_eq!(upstream_regex("a***").unwrap(), "^a.*[^/]*$");
        assert_eq!(
            upstream_regex("*").unwrap(),
            "^index\\.docker\\.io/library/[^/]*$"
        );
        assert_eq!(upstream_regex("a b"), Err(GlobError::Invalid("a b".into())));
    }

    #[test]
    fn shapes_by_position() {
        let shape = |g: &str| Shape::new(g, &translate(g).unwrap()).unwrap();
        assert!(matches!(shape("ghcr.io/foo"), Shape::Literal(l) if l == "ghcr.io/foo"));
        assert!(matches!(shape("ghcr.io/**"), Shape::Prefix(p) if p == "ghcr.io/"));
        assert!(matches!(shape("**"), Shape::Prefix(p) if p.is_empty()));
        assert!(
            matches!(shape("*"), Shape::Pattern { prefix, .. } if prefix == "index.docker.io/library/")
        );
        assert!(
            matches!(shape("ghcr.io/*/**"), Shape::Pattern { prefix, .. } if prefix == "ghcr.io/")
        );
        // The regex is compiled only once a name passes the literal prefix.
        let Shape::Pattern { compiled, .. } = &shape("ghcr.io/*/*") else {
            panic!()
        };
        assert!(compiled.get().is_none());
        let s = shape("ghcr.io/*/*");
        assert!(!s.is_match("quay.io/a/b"));
        let Shape::Pattern { compiled, .. } = &s else {
            panic!()
        };
        assert!(compiled.get().is_none());
        assert!(s.is_match("ghcr.io/a/b"));
        let Shape::Pattern { compiled, .. } = &s else {
            panic!()
        };
        assert!(compiled.get().is_some());
    }

    #[test]
    fn compile_error_names_the_owner() {
        let err = GlobMatcher::new([(0, "**"), (3, "bad glob")]).unwrap_err();
        assert_eq!(err.0, 3);
        assert_eq!(err.1, "bad glob");
    }
}
