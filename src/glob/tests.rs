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
    // Several runs, each by its own position; a run of any length from two is one `.*`.
    assert_eq!(translate("a**b**").unwrap(), "a{*,*/**/*}b{*,*/**}");
    assert_eq!(translate("**a*b").unwrap(), "{*,**/*}a*b");
    assert_eq!(translate("***").unwrap(), "**");
    assert_eq!(
        translate("ghcr.io/*/x***y*").unwrap(),
        "ghcr.io/*/x{*,*/**/*}y*"
    );
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
        let upstream = regex::Regex::new(&upstream_regex(glob).unwrap()).unwrap();
        let shape = Shape::new(check(glob).unwrap()).unwrap();
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
    let shape = |g: &str| Shape::new(check(g).unwrap()).unwrap();
    assert!(matches!(shape("ghcr.io/foo"), Shape::Literal(l) if l == "ghcr.io/foo"));
    assert!(matches!(shape("ghcr.io/**"), Shape::Prefix(p) if p == "ghcr.io/"));
    assert!(matches!(shape("**"), Shape::Prefix(p) if p.is_empty()));
    assert!(
        matches!(shape("*"), Shape::Pattern { prefix, .. } if prefix == "index.docker.io/library/")
    );
    assert!(matches!(shape("ghcr.io/*/**"), Shape::Pattern { prefix, .. } if prefix == "ghcr.io/"));
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

/// Review findings: globs that can never match a canonical name were accepted silently, so a
/// deny CIP with `nginx`, `library/nginx*` or `ghcr.io/evil/x` (no tag, no digest, and the
/// glob validation itself suggested for `nginx`) denied nothing.
#[test]
fn globs_that_can_never_match_are_named() {
    for (glob, write) in [
        (
            "nginx",
            "index.docker.io/library/nginx:* and index.docker.io/library/nginx@*",
        ),
        (
            "index.docker.io/library/nginx",
            "two globs, index.docker.io/library/nginx:* and index.docker.io/library/nginx@*",
        ),
        (
            "ghcr.io/evil/x",
            "two globs, ghcr.io/evil/x:* and ghcr.io/evil/x@*",
        ),
        ("localhost/x", "two globs, localhost/x:* and localhost/x@*"),
        (
            "ghcr.io/**/app",
            "two globs, ghcr.io/**/app:* and ghcr.io/**/app@*",
        ),
        ("nginx:*", "index.docker.io/library/nginx:*"),
        ("busybox*", "index.docker.io/library/busybox*"),
        ("library/nginx*", "index.docker.io/library/nginx*"),
        ("myuser/*", "index.docker.io/myuser/*"),
    ] {
        assert!(translate(glob).is_ok(), "{glob}");
        let reason = never_matches(glob).unwrap_or_else(|| panic!("{glob}"));
        assert!(reason.starts_with("it can never match: "), "{reason}");
        assert!(
            reason.ends_with(&format!("write {write}")),
            "{glob}: {reason}"
        );
        // ... and they indeed match none of the canonical names built from their own text.
        let image = glob.replace('*', "x");
        if let Ok(r) = crate::reference::ImageRef::parse(&image) {
            assert_eq!(
                image_matches(glob, &image, true),
                Ok(false),
                "{glob} on {image}"
            );
            assert!(!r.glob_candidates().is_empty());
        }
    }
    for fine in [
        "**",
        "*",
        "*/*",
        "**:latest",
        "**demo**",
        "*/**",
        "ghcr.io/**",
        "localhost/**",
        "localhost:5000/*",
        "index.docker.io/library/nginx*",
        "index.docker.io/library/nginx:*",
        "index.docker.io/library/nginx@*",
        "ghcr.io/org/app:v1",
        "ghcr.io/**app",
        "gcr.io/projectsigstore/policy-webhook@sha256:d1e7af59381793687db4673277005276eb73a06cf555503138dd18eaa1ca47d6",
    ] {
        assert_eq!(never_matches(fine), None, "{fine}");
    }
}

/// Review finding: a 90 KB glob passed validation, then globset panicked building its regex
/// at admission (`regex compilation shouldn't fail`). More characters than any image name has
/// are refused.
#[test]
fn globs_longer_than_any_name_are_refused() {
    let huge = format!("ghcr.io/{}x", "a**".repeat(30_000));
    assert_eq!(translate(&huge), Err(GlobError::TooLong(30_009)));
    assert!(GlobMatcher::new([(0, huge.as_str())]).is_err());
    let longest = format!("ghcr.io/{}", "a".repeat(MAX_LITERAL_BYTES - 8));
    assert!(translate(&longest).is_ok());
    assert!(translate(&format!("{longest}a")).is_err());
    // Star-heavy globs within the bound still compile and match (no panic).
    let stars = format!("ghcr.io/{}", "*a".repeat(2000));
    let m = GlobMatcher::new([(0, stars.as_str())]).unwrap();
    assert!(
        m.matching_owners(&[format!("ghcr.io/{}", "a".repeat(2000))])
            .contains(&0)
    );
    assert_eq!(
        GlobError::TooLong(30_009).to_string(),
        format!(
            "glob is invalid: it has 30009 characters other than *, more than any image name can have ({MAX_LITERAL_BYTES})"
        )
    );
}
