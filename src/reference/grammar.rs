//! The distribution reference grammar, checked by hand instead of by oci-spec's regex.
//!
//! Why: `oci_spec::distribution::Reference::try_from` matches one large regex
//! (`REFERENCE_REGEXP`, with Unicode `\w` and `{0,127}` repetitions) that is compiled on first
//! use into a `OnceLock`. policy-server gives every admission request a fresh module instance,
//! so that compilation (about 60 ms natively, 87 ms in wasmtime, measured in BENCHMARKS.md)
//! happened on every request. This module accepts the same language (ASCII `\w` in tags, as
//! the distribution spec's Go regexp) and builds the `oci_spec` [`Reference`] with its
//! constructors; `tests::differential_against_oci_spec` compares both on generated inputs.
//!
//! Grammar (distribution/reference `regexp.go`, oci-spec `REFERENCE_REGEXP`):
//! `reference := name [":" tag] ["@" digest]`; `name := [domain "/"] path`;
//! `domain := component ("." component)* [":" port]`, a component alphanumeric with inner
//! `-`; `path := path-component ("/" path-component)*`, a path component `[a-z0-9]+` joined by
//! `.`, `_`, `__` or any run of `-`; `tag := [\w][\w.-]{0,127}`;
//! `digest := algorithm ":" hex{32,}`, algorithm `[A-Za-z][A-Za-z0-9]*` joined by `[-_+.]`.

use oci_spec::distribution::Reference;

const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Parses like `Reference::try_from`; errors carry oci-spec's messages.
pub fn parse(s: &str) -> Result<Reference, &'static str> {
    if s.is_empty() {
        return Err("repository name must have at least one component");
    }
    let (left, digest) = match s.split_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (s, None),
    };
    let last_slash = left.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match left[last_slash..].rfind(':') {
        Some(i) => (&left[..last_slash + i], Some(&left[last_slash + i + 1..])),
        None => (left, None),
    };
    const INVALID: &str = "invalid reference format";
    if !valid_name(name) || !tag.is_none_or(valid_tag) || !digest.is_none_or(valid_digest_syntax) {
        return Err(INVALID);
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > NAME_TOTAL_LENGTH_MAX {
        return Err("repository name must not be more than 255 characters");
    }
    if let Some(d) = digest {
        check_digest_length(d)?;
    }
    let tag = match (tag, digest) {
        (None, None) => Some("latest".to_string()),
        (t, _) => t.map(str::to_string),
    };
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(registry, repository, t, d.to_string())
        }
        (Some(t), None) => Reference::with_tag(registry, repository, t),
        (None, Some(d)) => Reference::with_digest(registry, repository, d.to_string()),
        (None, None) => unreachable_reference(registry, repository),
    })
}

/// `(None, None)` is turned into the `latest` tag above; kept total without a panic.
fn unreachable_reference(registry: String, repository: String) -> Reference {
    Reference::with_tag(registry, repository, "latest".to_string())
}

fn valid_name(name: &str) -> bool {
    if valid_path(name) {
        return true;
    }
    match name.split_once('/') {
        Some((domain, path)) => valid_domain(domain) && valid_path(path),
        None => false,
    }
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    let component = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    host.split('.').all(component)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|x| x.is_ascii_digit()))
}

fn valid_path(path: &str) -> bool {
    path.split('/').all(valid_path_component)
}

fn valid_path_component(c: &str) -> bool {
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(tag: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

fn valid_digest_syntax(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|x| x.is_ascii_hexdigit())
}

/// oci-spec's checks after the regex: known algorithms with their hex lengths.
fn check_digest_length(digest: &str) -> Result<(), &'static str> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or("invalid checksum digest format")?;
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm"),
    };
    if hex.len() != want {
        return Err("invalid checksum digest length");
    }
    Ok(())
}

/// oci-spec's `split_domain` (after distribution's `normalize.go` L87-104).
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((left, right)) if left.contains('.') || left.contains(':') || left == "localhost" => {
            (left.to_string(), right.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = "docker.io".to_string();
    }
    if domain == "docker.io" && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(r: &Reference) -> (String, String, Option<String>, Option<String>) {
        (
            r.registry().to_string(),
            r.repository().to_string(),
            r.tag().map(str::to_string),
            r.digest().map(str::to_string),
        )
    }

    fn oci_spec(s: &str) -> Result<(String, String, Option<String>, Option<String>), String> {
        Reference::try_from(s)
            .map(|r| view(&r))
            .map_err(|e| e.to_string())
    }

    fn ours(s: &str) -> Result<(String, String, Option<String>, Option<String>), String> {
        parse(s).map(|r| view(&r)).map_err(str::to_string)
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn known_references_agree_with_oci_spec() {
        let cases = [
            "nginx".to_string(),
            "nginx:1.25".into(),
            "library/nginx".into(),
            "docker.io/nginx".into(),
            "index.docker.io/library/nginx:latest".into(),
            "localhost/app".into(),
            "localhost:5000/app:v1".into(),
            "127.0.0.1:5000/demo/app:signed".into(),
            format!("ghcr.io/org/app:v1@sha256:{HEX}"),
            format!("ghcr.io/org/app@sha256:{HEX}"),
            format!("ghcr.io/org/app@sha512:{HEX}{HEX}"),
            format!("ghcr.io/org/app@md5:{HEX}"),
            "ghcr.io/org/app@sha256:1234".into(),
            "a__b/c--d/e.f_g:T_a.g-1".into(),
            "NGINX".into(),
            "invalid&name".into(),
            "a:b:c:d".into(),
            "".into(),
            "-a/b".into(),
            "a/-b".into(),
            "a._b".into(),
            "host-.io/a".into(),
            "a/b:".into(),
            "a@".into(),
            format!("{}:1", "a".repeat(300)),
            format!("a:{}", "t".repeat(128)),
            format!("a:{}", "t".repeat(129)),
            "cgr.dev/chainguard/nginx:latest-dev".into(),
            "quay.io/demo/data:v1".into(),
        ];
        for case in &cases {
            assert_eq!(ours(case), oci_spec(case), "{case:?}");
        }
    }

    /// Random strings over the grammar's alphabet (ASCII only: oci-spec's `\w` is Unicode,
    /// the distribution spec's is not).
    #[test]
    fn differential_against_oci_spec() {
        const ALPHABET: &[u8] = b"aAz09.-_:/@x";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for _ in 0..20_000 {
            let len = (next() % 14) as usize;
            let mut s: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
                .collect();
            if next() % 4 == 0 {
                s.push_str(&format!("@sha256:{HEX}"));
            }
            assert_eq!(ours(&s), oci_spec(&s), "{s:?}");
            checked += 1;
        }
        assert_eq!(checked, 20_000);
    }
}
