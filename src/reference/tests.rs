use super::*;
use crate::glob::GlobMatcher;
use proptest::prelude::*;

const H: &str = "sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350";

fn names(image: &str) -> Vec<String> {
    ImageRef::parse(image).unwrap().glob_candidates()
}

#[test]
fn docker_hub_normalisation() {
    for image in [
        "nginx",
        "nginx:latest",
        "library/nginx",
        "docker.io/nginx",
        "docker.io/library/nginx:latest",
        "index.docker.io/nginx",
        "registry-1.docker.io/library/nginx",
        "registry-1.docker.io/nginx",
        "registry.hub.docker.com/library/nginx",
        "DOCKER.IO/nginx",
        "docker.io:443/nginx",
        "Index.Docker.IO:0443/library/nginx",
    ] {
        assert_eq!(
            names(image),
            vec!["index.docker.io/library/nginx:latest"],
            "{image}"
        );
    }
    assert_eq!(
        names("docker.io/bitnami/redis:7"),
        vec!["index.docker.io/bitnami/redis:7"]
    );
    let r = ImageRef::parse("nginx").unwrap();
    assert!(!r.tag_written());
    assert_eq!(r.canonical(false), "index.docker.io/library/nginx:latest");
    assert!(
        ImageRef::parse("docker.io/bitnami/redis:7")
            .unwrap()
            .tag_written()
    );
}

#[test]
fn registry_host_case_and_ports() {
    for image in [
        "ghcr.io/evil/x:1",
        "GHCR.IO/evil/x:1",
        "Ghcr.Io/evil/x:1",
        "ghcr.io:443/evil/x:1",
        "ghcr.io:0443/evil/x:1",
    ] {
        assert_eq!(names(image), vec!["ghcr.io/evil/x:1"], "{image}");
    }
    // Row 2b: port 80 is https://host:80 for containerd and http://host for Docker.
    for image in [
        "ghcr.io:80/evil/x:1",
        "GHCR.IO:00080/evil/x:1",
        "MyHost:80/x:1",
        "localhost:80/x",
    ] {
        let e = ImageRef::parse(image).unwrap_err().reason;
        assert!(
            e.contains("the registry port") && e.contains("read differently"),
            "{image}: {e}"
        );
    }
    assert_eq!(
        names("localhost:05000/app:v1"),
        vec!["localhost:5000/app:v1"]
    );
    assert_eq!(
        names("LocalHost:5000/app:v1"),
        vec!["localhost:5000/app:v1"]
    );
    assert_eq!(
        names("127.0.0.1:5000/demo/app:signed"),
        vec!["127.0.0.1:5000/demo/app:signed"]
    );
    assert_eq!(
        canonical_registry("ghcr.io:8443"),
        Ok("ghcr.io:8443".into())
    );
    // A single-label host is a registry only with a port: its default port is kept, as 443.
    for image in ["myhost:443/x:1", "MyHost:443/x:1", "myhost:0443/x:1"] {
        assert_eq!(names(image), vec!["myhost:443/x:1"], "{image}");
    }
    assert_eq!(names("myhost/x:1"), vec!["index.docker.io/myhost/x:1"]);
    assert_eq!(
        canonical_registry("docker.io:5000"),
        Ok("docker.io:5000".into())
    );
}

/// `is_canonical_registry` (the allocation-free check globs use on every request) answers as
/// comparing with `canonical_registry` does.
#[test]
fn canonical_registry_check_agrees_with_the_rewrite() {
    for host in [
        "ghcr.io",
        "GHCR.IO",
        "gHcr.io",
        "ghcr.io:443",
        "ghcr.io:0443",
        "ghcr.io:8443",
        "ghcr.io:80",
        "ghcr.io:0",
        "ghcr.io:99999",
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "registry.hub.docker.com",
        "Index.Docker.IO",
        "localhost",
        "localhost:5000",
        "LOCALHOST",
        "myhost:443",
        "myhost:5000",
        "127.0.0.1:5000",
        "xn--bcher-kva.example",
        "bücher.example",
        "",
        ":",
        "host:",
    ] {
        assert_eq!(
            is_canonical_registry(host),
            canonical_registry(host).as_deref() == Ok(host),
            "{host}"
        );
    }
    assert!(is_canonical_registry("ghcr.io"));
    assert!(!is_canonical_registry("docker.io"));
    assert!(!is_canonical_registry("GHCR.IO"));
    assert!(!is_canonical_registry("ghcr.io:443"));
    assert!(is_canonical_registry("ghcr.io:8443"));
}

/// Row 11: the runtimes and the host read `localhost/app` as the registry on localhost.
#[test]
fn localhost_is_a_registry() {
    assert_eq!(names("localhost/app"), vec!["localhost/app:latest"]);
    assert_eq!(names("localhost:443/app"), vec!["localhost/app:latest"]);
    assert_eq!(
        names("docker.io/localhost/app"),
        vec!["index.docker.io/localhost/app:latest"]
    );
}

#[test]
fn digest_and_tag() {
    let r = ImageRef::parse(&format!("ghcr.io/foo:v1@{H}")).unwrap();
    assert!(r.tag_needs_confirmation());
    assert_eq!(r.match_names(false), vec![format!("ghcr.io/foo@{H}")]);
    assert_eq!(
        r.match_names(true),
        vec!["ghcr.io/foo:v1".to_string(), format!("ghcr.io/foo@{H}")]
    );
    assert_eq!(r.canonical(false), format!("ghcr.io/foo@{H}"));
    assert_eq!(r.canonical(true), format!("ghcr.io/foo:v1@{H}"));
    assert_eq!(r.tag_as_written(), "ghcr.io/foo:v1");
    assert_eq!(r.digest(), Some(H));
    let r = ImageRef::parse(&format!("GHCR.IO:443/foo@{H}")).unwrap();
    assert!(!r.tag_needs_confirmation());
    assert_eq!(r.glob_candidates(), vec![format!("ghcr.io/foo@{H}")]);
    assert_eq!(r.canonical(true), format!("ghcr.io/foo@{H}"));
    assert_eq!(r.raw(), format!("GHCR.IO:443/foo@{H}"));
    assert_eq!(r.name_as_written(), "GHCR.IO:443/foo");
    assert_eq!(
        ImageRef::parse(&format!("localhost:5000/a/b:v1@{H}"))
            .unwrap()
            .name_as_written(),
        "localhost:5000/a/b"
    );
    assert_eq!(
        ImageRef::parse("localhost:5000/a")
            .unwrap()
            .name_as_written(),
        "localhost:5000/a"
    );
    assert_eq!(
        ImageRef::parse("nginx:1.25").unwrap().name_as_written(),
        "nginx"
    );
    assert_eq!(
        ImageRef::parse(&format!("nginx@{H}"))
            .unwrap()
            .canonical(false),
        format!("index.docker.io/library/nginx@{H}")
    );
}

#[test]
fn rejects_bad_references() {
    for bad in [
        "",
        "NGINX",
        "invalid&name",
        "ghcr.io/foo@sha256:abc",
        "a:b:c:d",
    ] {
        let e = ImageRef::parse(bad).unwrap_err();
        assert_eq!(e.to_string(), format!("could not parse reference: {bad}"));
        assert!(!e.reason.is_empty());
    }
    let upper_hex = format!("ghcr.io/foo@sha256:{}", "A".repeat(64));
    assert_eq!(
        ImageRef::parse(&upper_hex).unwrap_err().reason,
        "invalid checksum digest format"
    );
}

/// The spellings the table refuses, each with its reason.
#[test]
fn refused_spellings() {
    let reason = |image: &str| ImageRef::parse(image).unwrap_err().reason;
    assert!(
        reason(&format!("ghcr.io/evil/x@sha512:{}", "a".repeat(128)))
            .starts_with("only sha256 digests are accepted")
    );
    assert!(
        reason(&format!("ghcr.io/evil/x@sha384:{}", "a".repeat(96)))
            .starts_with("only sha256 digests are accepted")
    );
    assert_eq!(
        reason("ghcr.io:0/evil/x"),
        "the registry port 0 names no endpoint (ports are 1 to 65535)"
    );
    assert_eq!(
        reason("ghcr.io:65536/evil/x"),
        "the registry port 65536 names no endpoint (ports are 1 to 65535)"
    );
    assert!(reason("ghcr.io:99999999999999999999/evil/x").starts_with("the registry port"));
    assert!(reason("MyHost/evil/x").starts_with("an upper-case first component names a registry"));
    assert!(
        reason("LOCALHOST/evil/x").starts_with("an upper-case first component names a registry")
    );
    for refused in [
        "ghcr.io./evil/x:1",
        "[::1]:5000/evil/x",
        "ghcr.io/Evil/x",
        " ghcr.io/evil/x",
        "ghcr.io/evil/x ",
        "docker://ghcr.io/evil/x",
    ] {
        assert!(ImageRef::parse(refused).is_err(), "{refused}");
    }
}

/// A canonical name is a fixed point: parsing it gives the same canonical names.
#[test]
fn canonical_names_are_fixed_points() {
    for image in [
        "nginx",
        "GHCR.IO:443/evil/x:1",
        "registry-1.docker.io/nginx:1",
        "localhost/app",
        "localhost:05000/a/b:c",
        "myhost:443/x",
        "127.0.0.1:443/x",
        "docker.io:5000/x",
    ] {
        let r = ImageRef::parse(image).unwrap();
        let again = ImageRef::parse(&r.canonical(false)).unwrap();
        assert_eq!(again.glob_candidates(), r.glob_candidates(), "{image}");
        assert_eq!(again.canonical(false), r.canonical(false), "{image}");
    }
}

/// How a registry may be written: every entry of a group names the same registry (table rows
/// 1-6, 11); `None` entries are spellings that must be refused.
fn registry_spellings(kind: usize) -> Vec<&'static str> {
    match kind {
        0 => vec![
            "",
            "docker.io/",
            "index.docker.io/",
            "registry-1.docker.io/",
            "registry.hub.docker.com/",
            "DOCKER.IO/",
            "Docker.Io:443/",
            "index.docker.io:0443/",
            "registry-1.docker.io:443/",
        ],
        1 => vec![
            "ghcr.io/",
            "GHCR.IO/",
            "Ghcr.io/",
            "ghcr.io:443/",
            "ghcr.io:00443/",
            "GHCR.IO:443/",
        ],
        2 => vec![
            "localhost:5000/",
            "LOCALHOST:5000/",
            "localhost:05000/",
            "LocalHost:0005000/",
        ],
        _ => vec!["localhost/", "localhost:443/", "LocalHost:0443/"],
    }
}

/// Spellings the table refuses, built from a valid one (rows 4, 9, 10, 12, 13, 14).
fn refused_variants(registry: &str, path: &str, suffix: &str) -> Vec<String> {
    let mut out = vec![
        format!("ghcr.io./{path}{suffix}"),
        format!("ghcr.io:0/{path}{suffix}"),
        format!("ghcr.io:80/{path}{suffix}"),
        format!("ghcr.io:65536/{path}{suffix}"),
        format!("[::1]:5000/{path}{suffix}"),
        format!("UPPER/{path}{suffix}"),
        format!("{registry}{path}@sha512:{}", "a".repeat(128)),
        format!("{registry}{path}@sha256:{}", "A".repeat(64)),
    ];
    if let Some(first) = path.split('/').next() {
        out.push(format!(
            "{registry}{}{}",
            first.to_uppercase(),
            &path[first.len()..]
        ));
    }
    out
}

/// Globs made from a canonical name: the name itself, a `*` in place of one path component,
/// `**` after a prefix, and a few fixed ones.
fn globs_for(name: &str) -> Vec<String> {
    let mut globs = vec![name.to_string(), "**".into(), "*".into(), "*/*".into()];
    let parts: Vec<&str> = name.split('/').collect();
    for i in 0..parts.len() {
        let mut p = parts.clone();
        p[i] = "*";
        globs.push(p.join("/"));
        globs.push(format!("{}/**", parts[..=i].join("/")));
    }
    globs.push(format!("{}**", &name[..name.len() / 2]));
    globs.extend(
        [
            "ghcr.io/evil/**",
            "index.docker.io/library/*",
            "index.docker.io/evil/**",
            "localhost/**",
            "localhost:5000/**",
            "**:latest",
            "**@sha256:*",
        ]
        .map(String::from),
    );
    globs
}

prop_compose! {
    fn reference_model()(
        registry in 0usize..4,
        first in "[a-z][a-z0-9]{0,5}",
        rest in proptest::collection::vec("[a-z][a-z0-9]{0,5}", 0..3),
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}"),
        digest in proptest::option::of("[0-9a-f]{64}"),
        other_tag in "[a-z0-9]{1,6}",
    ) -> (usize, Vec<String>, Option<String>, Option<String>, String) {
        let mut path = vec![first];
        path.extend(rest);
        (registry, path, tag, digest, other_tag)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// Issue 11: a glob's decision on a reference equals its decision on every other spelling
    /// of it, or the spelling is refused.
    #[test]
    fn every_spelling_gets_the_same_decision(model in reference_model()) {
        let (kind, path, tag, digest, other_tag) = model;
        let is_hub = kind == 0;
        // Path spellings: a Docker Hub `library/x` may be written `x` (row 6).
        let mut paths = vec![path.join("/")];
        if is_hub && path.len() == 1 {
            paths.push(format!("library/{}", path[0]));
        }
        if is_hub && path.len() == 2 && path[0] == "library" {
            paths.push(path[1].clone());
        }
        // Suffix spellings: implied :latest (row 7); any tag beside a digest, unconfirmed (row 8).
        let mut suffixes = Vec::new();
        match (&tag, &digest) {
            (None, None) => suffixes.extend([String::new(), ":latest".to_string()]),
            (Some(t), None) => suffixes.push(format!(":{t}")),
            (t, Some(d)) => {
                suffixes.push(format!("@sha256:{d}"));
                suffixes.push(format!(":{other_tag}@sha256:{d}"));
                if let Some(t) = t {
                    suffixes.push(format!(":{t}@sha256:{d}"));
                }
            }
        }
        let mut spellings = Vec::new();
        for registry in registry_spellings(kind) {
            for p in &paths {
                for s in &suffixes {
                    // Without a registry, a first component with `.`/`:` would be a host.
                    spellings.push(format!("{registry}{p}{s}"));
                }
            }
        }
        let parsed: Vec<(String, ImageRef)> = spellings
            .iter()
            .filter_map(|s| ImageRef::parse(s).ok().map(|r| (s.clone(), r)))
            .collect();
        prop_assert!(!parsed.is_empty(), "no spelling of {spellings:?} parses");
        let (first_spelling, first) = &parsed[0];
        let want = first.glob_candidates();
        let want_image = first.canonical(false);
        let mut globs = Vec::new();
        for name in &want {
            globs.extend(globs_for(name));
        }
        let matcher = GlobMatcher::new(
            globs.iter().enumerate().map(|(i, g)| (i, g.as_str())),
        )
        .unwrap();
        let want_owners = matcher.matching_owners(&want);
        for (spelling, r) in &parsed {
            prop_assert_eq!(&r.glob_candidates(), &want, "{} vs {}", spelling, first_spelling);
            prop_assert_eq!(r.canonical(false), want_image.clone(), "{} vs {}", spelling, first_spelling);
            prop_assert_eq!(
                matcher.matching_owners(&r.glob_candidates()),
                want_owners.clone(),
                "{} vs {}", spelling, first_spelling
            );
        }
        let registry = registry_spellings(kind)[1];
        let suffix = suffixes.last().cloned().unwrap_or_default();
        for refused in refused_variants(registry, &path.join("/"), &suffix) {
            prop_assert!(ImageRef::parse(&refused).is_err(), "{} must be refused", refused);
        }
    }
}
