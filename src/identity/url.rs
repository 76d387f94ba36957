//! URL prefixes the host compares exactly as sent.
//!
//! The host parses `url_prefix` with the `url` crate (WHATWG URL parsing) and compares the
//! subject with the parsed URL's serialisation (kubewarden-controller
//! `crates/policy-evaluator/src/callback_handler/sigstore_verification.rs`
//! `verify_keyless_prefix`, `crates/policy-fetcher/src/verify/verification_constraints.rs`
//! `GenericIssuerSubjectVerifier::new`); a prefix that does not parse panics the host's
//! callback task. Parsing normalises: it lower-cases the scheme and host, drops a default
//! port, resolves `.`/`..` segments, percent-encodes some characters, reads numeric hosts as
//! IPv4 (`127.1` is `127.0.0.1`) and maps international names. So only texts that parsing leaves
//! unchanged are accepted here, by a conservative grammar (checked against the `url` crate in
//! the tests):
//!
//! `http://` or `https://`, a host of lower-case labels `[a-z0-9-]+` joined by `.` (no
//! `xn--` label; a numeric last label only as a dotted quad of `0`-`255` without leading zeros),
//! an optional port `1`-`65535` without leading zeros that is not the scheme's default, then a
//! path of `[A-Za-z0-9-._~!$&'()*+,;=:@/]` without `.` or `..` segments that ends in `/` (the
//! host would append one: the prefix must end at a whole path segment, so that `…/acme` cannot
//! pass as `…/acme-evil`).

/// Checks that the host reads `text` as exactly `text` and that it ends in `/`.
///
/// `Ok((prefix, true))` when `text` has no path and `/` was appended (`https://github.com` is
/// `https://github.com/`, as the host's URL parser makes it: a narrowing). Errors say what is
/// not canonical and what to write instead.
pub fn url_prefix(text: &str) -> Result<(String, bool), String> {
    let (rest, default_port) = if let Some(rest) = text.strip_prefix("https://") {
        (rest, "443")
    } else if let Some(rest) = text.strip_prefix("http://") {
        (rest, "80")
    } else {
        return Err(format!(
            "{text:?} is not an http(s) URL, which the host's URL-prefix check needs (an exact subject is written ^…$)"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let not_canonical = |why: &str| {
        Err(format!(
            "the URL prefix {text:?} {why}; the host's URL parser would rewrite it, so it cannot be compared as written"
        ))
    };
    let labels: Vec<&str> = host.split('.').collect();
    if labels.iter().any(|l| {
        l.is_empty()
            || l.starts_with("xn--")
            || !l
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }) {
        return not_canonical(
            "needs a host of lower-case letters, digits and - (no user name, no empty or xn-- label)",
        );
    }
    let last = labels.last().copied().unwrap_or("");
    if (last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x"))
        && !(labels.len() == 4 && labels.iter().all(|l| decimal(l, 255)))
    {
        return not_canonical("has a numeric host that is not a dotted quad like 192.0.2.1");
    }
    if let Some(port) = port
        && (!decimal(port, 65535) || port == "0" || port == default_port)
    {
        return not_canonical("has a port that is empty, out of range, padded or the default");
    }
    if path.is_empty() {
        return Ok((format!("{text}/"), true));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b))
    {
        return not_canonical(
            "has characters the URL parser encodes or ends at (space, %, ?, #, \\, non-ASCII, …)",
        );
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return not_canonical("has a . or .. path segment");
    }
    if !path.ends_with('/') {
        return Err(format!(
            "the URL prefix {text:?} does not end in /: the host checks URL prefixes up to a / (it appends one), so that …/acme cannot pass for …/acme-evil; end the expression's literal text with /"
        ));
    }
    Ok((text.to_string(), false))
}

/// `s` is a decimal number at most `max`, without leading zeros.
fn decimal(s: &str, max: u32) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
        && s.parse::<u32>().is_ok_and(|n| n <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's reading: the `url` crate's serialisation, with its `/` rule.
    fn host_reads(text: &str) -> Option<String> {
        let url = ::url::Url::parse(text).ok()?;
        let s = url.to_string();
        Some(if s.ends_with('/') { s } else { format!("{s}/") })
    }

    #[test]
    fn canonical_prefixes_are_read_as_written() {
        for text in [
            "https://github.com/acme/",
            "https://github.com/acme/widgets/.github/workflows/",
            "https://github.com/acme/w.i_d~g-e(t)s!$&'*+,;=:@/",
            "http://registry.local:8443/a//b/",
            "https://127.0.0.1/x/",
            "https://0.0.0.0/",
            "https://255.255.255.255:65535/",
            "https://a-b.c0.example/",
            "https://gitlab.com/acme/-/",
        ] {
            assert_eq!(url_prefix(text), Ok((text.to_string(), false)), "{text}");
            assert_eq!(host_reads(text).as_deref(), Some(text), "{text}");
        }
        assert_eq!(
            url_prefix("https://github.com"),
            Ok(("https://github.com/".to_string(), true))
        );
        assert_eq!(
            host_reads("https://github.com").as_deref(),
            Some("https://github.com/")
        );
    }

    #[test]
    fn everything_the_parser_rewrites_is_refused() {
        for text in [
            "HTTPS://github.com/",
            "https://GitHub.com/acme/",
            "https://github.com:443/acme/",
            "http://github.com:80/",
            "https://github.com:0443/",
            "https://github.com:/",
            "https://github.com/a/./b/",
            "https://github.com/a/../b/",
            "https://github.com/%2e/x/",
            "https://github.com/a b/",
            "https://github.com/a\\b/",
            "https://github.com/ä/",
            "https://127.1/",
            "https://0x7f.0.0.1/",
            "https://1.2.3.04/",
        ] {
            assert!(url_prefix(text).is_err(), "{text}");
            assert_ne!(host_reads(text).as_deref(), Some(text), "{text}");
        }
        // Refused although the host would read them unchanged or not at all, to keep the
        // grammar small: other schemes, user names, IPv6, empty labels, a trailing dot, xn--
        // labels, a query, a fragment, invalid hosts and ports.
        for text in [
            "ftp://github.com/",
            "github.com/acme/",
            "https://user@github.com/",
            "https://[::1]/",
            "https://a..b/",
            "https://example.com./",
            "https://xn--bcher-kva.example/",
            "https://github.com/a?b/",
            "https://github.com/a#b/",
            "https://256.1.1.1/",
            "https://example.0x1/",
            "https://github.com:99999/",
            "https:///x/",
        ] {
            assert!(url_prefix(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_prefix_must_end_at_a_segment() {
        let e = url_prefix("https://github.com/acme").unwrap_err();
        assert!(e.contains("does not end in /"), "{e}");
        let e =
            url_prefix("https://github.com/acme/widgets/.github/workflows/release.yml@refs/tags/v")
                .unwrap_err();
        assert!(e.contains("does not end in /"), "{e}");
    }

    /// Every accepted text is read unchanged by the `url` crate: a sweep over hosts, ports and
    /// path characters.
    #[test]
    fn accepted_texts_match_the_url_crate() {
        let hosts = [
            "a",
            "github.com",
            "x-1.y2",
            "10.0.0.1",
            "1.2.3",
            "a.1",
            "0x1.b",
        ];
        let ports = ["", ":1", ":443", ":80", ":8080", ":65536", ":01"];
        let mut checked = 0;
        for scheme in ["http://", "https://"] {
            for host in hosts {
                for port in ports {
                    for b in 0x20u8..0x7f {
                        let c = b as char;
                        for path in [format!("/{c}/"), format!("/a{c}b/"), format!("/{c}{c}/")] {
                            let text = format!("{scheme}{host}{port}{path}");
                            if let Ok((prefix, _)) = url_prefix(&text) {
                                assert_eq!(
                                    host_reads(&text).as_deref(),
                                    Some(prefix.as_str()),
                                    "{text}"
                                );
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 2000, "{checked}");
    }
}
