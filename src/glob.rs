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
    /// More characters other than `*` than any image name has (their count): it could never
    /// match, and its regex could exceed globset's size limit (a panic inside globset).
    TooLong(usize),
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
            GlobError::TooLong(n) => write!(
                f,
                "glob is invalid: it has {n} characters other than *, more than any image name can have ({MAX_LITERAL_BYTES})"
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
    check(glob).map(rewrite_double_stars)
}

/// The checks of [`translate`], without building the globset pattern: the glob with upstream's
/// `*` and `*/*` rewrites applied. Every request runs them on every glob of its settings
/// (policy-server hands the settings over with each request), and only a glob whose wildcards
/// are not one trailing run of two or more `*` needs the pattern ([`Shape::new`]: `a/b` and
/// `a/**` do not, `a/*` and `a/**/b` do), so they are byte loops that allocate nothing for a
/// valid glob.
///
/// Errors: as [`translate`].
fn check(glob: &str) -> Result<&str, GlobError> {
    if go_match_syntax_error(glob) {
        return Err(GlobError::Syntax);
    }
    let glob = match glob {
        "*/*" => "index.docker.io/*/*",
        "*" => "index.docker.io/library/*",
        other => other,
    };
    // Upstream's `^[a-zA-Z0-9-_:/*.@]+$`, byte by byte: every allowed character is ASCII, so a
    // byte of a multi-byte character is refused as its character is.
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_:/*.@".contains(&b);
    if glob.is_empty() || !glob.bytes().all(allowed) {
        return Err(GlobError::Invalid(glob.to_string()));
    }
    let literal = glob.bytes().filter(|b| *b != b'*').count();
    if literal > MAX_LITERAL_BYTES {
        return Err(GlobError::TooLong(literal));
    }
    check_registry_segment(glob)?;
    Ok(glob)
}

/// Most characters other than `*` a glob can have and still match a name: a reference is at
/// most [`crate::reference::MAX_REFERENCE_LEN`] bytes, and its canonical name adds at most
/// `index.docker.io/library/` and `:latest`.
pub const MAX_LITERAL_BYTES: usize = crate::reference::MAX_REFERENCE_LEN + 64;

/// Why a glob that [`translate`] accepts can still never match a canonical image name
/// ([`crate::reference`]), if it cannot; `None` when it can.
///
/// Every canonical name is `registry/repository…`, its first component a registry: it has a
/// `.` or a `:`, or is `localhost` (a single-label host keeps its port, Docker Hub is
/// `index.docker.io`). So a glob without `/` and without `**` (`*` does not cross `/`) never
/// matches (`nginx`, `busybox*`, `nginx:*`), nor does one whose first component is literal and
/// not a registry (`library/nginx*`, `myuser/*`), nor one whose last component has no
/// wildcard, tag or digest (`ghcr.io/org/app`, `ghcr.io/**/app`): every canonical name ends in
/// `:tag` or `@digest`, which no `/` follows. Upstream matched these only through
/// `glob.Match`'s fallback to the image as written (`pkg/apis/glob/glob.go` L92-97), which is
/// dead in its admission, where the name passed is already normalised
/// (`pkg/webhook/validator.go` L1241): they never matched there either.
pub fn never_matches(glob: &str) -> Option<String> {
    let glob = match glob {
        "*/*" => "index.docker.io/*/*",
        "*" => "index.docker.io/library/*",
        other => other,
    };
    // A last component without a wildcard, a tag or a digest names a repository alone.
    let bare = |g: &str| !g.rsplit('/').next().unwrap_or(g).contains(['*', ':', '@']);
    let docker_hub = |rest: &str| {
        let glob = if rest.contains('/') {
            format!("index.docker.io/{rest}")
        } else {
            format!("index.docker.io/library/{rest}")
        };
        if bare(&glob) {
            format!("{glob}:* and {glob}@*")
        } else {
            glob
        }
    };
    if glob.contains('/') && bare(glob) {
        return Some(format!(
            "it can never match: an image's canonical name ends in its tag or digest ({glob}:latest, {glob}@sha256:…); to match the repository whatever the tag or digest write two globs, {glob}:* and {glob}@*"
        ));
    }
    match glob.split_once('/') {
        None if !glob.contains("**") => Some(format!(
            "it can never match: an image's canonical name starts with its registry and a / (a * does not cross /); for a Docker Hub image write {}",
            docker_hub(glob)
        )),
        Some((first, _))
            if !first.contains('*') && !first.contains(['.', ':']) && first != "localhost" =>
        {
            Some(format!(
                "it can never match: an image's canonical name starts with its registry ({first} is not one: a registry has a . or a :, or is localhost); for Docker Hub write {}",
                docker_hub(glob)
            ))
        }
        _ => None,
    }
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
    if crate::reference::is_canonical_registry(first) {
        return Ok(());
    }
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
    let mut rest = glob;
    while let Some(start) = rest.find('*') {
        out.push_str(&rest[..start]);
        let run = rest[start..].bytes().take_while(|b| *b == b'*').count();
        let at_start = glob.len() - rest.len() + start == 0;
        let at_end = start + run == rest.len();
        out.push_str(match (run, at_start, at_end) {
            (1, _, _) => "*",
            (_, true, true) => "**",
            (_, false, true) => "{*,*/**}",
            (_, true, false) => "{*,**/*}",
            (_, false, false) => "{*,*/**/*}",
        });
        rest = &rest[start + run..];
    }
    out.push_str(rest);
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
    /// Classifies an upstream glob, already checked and rewritten by [`check`]; only a
    /// [`Shape::Pattern`] builds its globset translation ([`rewrite_double_stars`]).
    fn new(upstream: &str) -> Result<Shape, globset::Error> {
        let Some(first_star) = upstream.find('*') else {
            return Ok(Shape::Literal(upstream.to_string()));
        };
        let prefix = &upstream[..first_star];
        let tail = &upstream[first_star..];
        if tail.len() >= 2 && tail.bytes().all(|b| b == b'*') {
            return Ok(Shape::Prefix(prefix.to_string()));
        }
        let glob = GlobBuilder::new(&rewrite_double_stars(upstream))
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
/// classifies the globs (a few microseconds each); the regex of a glob whose wildcards are not
/// one trailing run of two or more `*` (`a/*`, `a/**/b`; not `a/**`) is compiled by globset the
/// first time a name passes its literal prefix, so a request
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
            let upstream = check(glob).map_err(|e| (owner, glob.to_string(), e))?;
            let shape = Shape::new(upstream).map_err(|e| {
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
mod tests;
