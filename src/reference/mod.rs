//! Image references: parsing with `oci-spec`, and the normalised names globs are matched on.
//!
//! Upstream (`pkg/apis/glob/glob.go` L79-97, go-containerregistry `name.ParseReference`)
//! matches globs on a normalised name: Docker Hub is `index.docker.io`, a Hub repository
//! without `/` gets `library/`, a missing tag is `latest`, and the first path component is a
//! registry only when it contains `.` or `:` (so `localhost/app` is the Hub repository
//! `localhost/app`). Admission upstream always sees a digest reference, whose name drops the
//! tag (`repo@sha256:…`); we also match the name with its tag (`repo:tag`), which fixes
//! sigstore/policy-controller#888 (globs pinning a tag never matched).

mod grammar;

/// Longest reference accepted, in bytes: a repository name is at most 255 bytes, a tag 128, a
/// sha512 digest 135, and a registry host a few hundred more.
pub const MAX_REFERENCE_LEN: usize = 4096;

/// A parsed image reference, keeping the string exactly as written in the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    raw: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
    tag_written: bool,
}

/// A reference that does not parse; displays as upstream's `could not parse reference: <img>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The image string as written (its first 64 bytes and `…` when it is over
    /// [`MAX_REFERENCE_LEN`]).
    pub image: String,
    /// oci-spec's reason (`repository name must be lowercase`, ...).
    pub reason: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not parse reference: {}", self.image)
    }
}

impl ImageRef {
    /// Parses `image` as an OCI reference (`[registry/]repository[:tag][@digest]`) into an
    /// `oci_spec` reference, with the grammar of [`grammar`] (oci-spec's language without its
    /// per-instance regex compilation).
    ///
    /// Errors: whatever oci-spec rejects (empty, uppercase repository, malformed tag, digest of
    /// the wrong length or an unknown algorithm), with oci-spec's reason; references over
    /// [`MAX_REFERENCE_LEN`] bytes.
    pub fn parse(image: &str) -> Result<Self, ParseError> {
        if image.len() > MAX_REFERENCE_LEN {
            let mut end = 64;
            while !image.is_char_boundary(end) {
                end -= 1;
            }
            return Err(ParseError {
                image: format!("{}…", &image[..end]),
                reason: format!(
                    "the reference is {} bytes long; at most {MAX_REFERENCE_LEN} are accepted",
                    image.len()
                ),
            });
        }
        let err = |reason: String| ParseError {
            image: image.to_string(),
            reason,
        };
        let parsed = grammar::parse(image).map_err(|e| {
            // The grammar only knows lowercase names; say why when case is the problem.
            let name = image.split(['@']).next().unwrap_or(image);
            let lowered = format!("{}{}", name.to_ascii_lowercase(), &image[name.len()..]);
            if lowered != image && grammar::parse(&lowered).is_ok() {
                err("repository name must be lowercase".to_string())
            } else {
                err(e.to_string())
            }
        })?;
        // oci-spec keeps a registry `localhost`; go-containerregistry treats it as a Hub
        // repository component unless it carries a port.
        let (registry, repository) = match parsed.registry() {
            "docker.io" => (
                "index.docker.io".to_string(),
                parsed.repository().to_string(),
            ),
            "localhost" => (
                "index.docker.io".to_string(),
                format!("localhost/{}", parsed.repository()),
            ),
            other => (other.to_string(), parsed.repository().to_string()),
        };
        if let Some(digest) = parsed.digest() {
            let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or("");
            if !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(err("invalid checksum digest format".to_string()));
            }
        }
        let tag_written = has_explicit_tag(image);
        Ok(ImageRef {
            raw: image.to_string(),
            registry,
            repository,
            tag: parsed.tag().map(str::to_string),
            digest: parsed.digest().map(str::to_string),
            tag_written,
        })
    }

    /// The image exactly as written in the resource.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The digest (`sha256:<hex>`), when the image is pinned.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The tag, explicit or the implied `latest` of an image with neither tag nor digest.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Whether the tag was written (`nginx:1.25`), not implied (`nginx`).
    pub fn tag_written(&self) -> bool {
        self.tag_written
    }

    /// The repository as written, without tag or digest: `nginx`, `127.0.0.1:5000/demo/app`.
    /// The host normalises it the same way as the image itself.
    pub fn name_as_written(&self) -> &str {
        let name = self.raw.split('@').next().unwrap_or(&self.raw);
        if self.tag_written {
            name.rsplit_once(':').map(|(n, _)| n).unwrap_or(name)
        } else {
            name
        }
    }

    /// Normalised repository name: `index.docker.io/library/nginx`.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The names globs are matched on, in order: the tag form
    /// (`index.docker.io/library/nginx:latest`) unless the image is pinned without a tag, the
    /// digest form (`…/nginx@sha256:…`) when pinned, then the image as written (upstream's
    /// `glob.Match` fallback, `pkg/apis/glob/glob.go` L92-97), when it differs.
    pub fn glob_candidates(&self) -> Vec<String> {
        let repo = self.repository_name();
        let mut names = Vec::with_capacity(2);
        if let Some(tag) = &self.tag {
            names.push(format!("{repo}:{tag}"));
        }
        if let Some(digest) = &self.digest {
            names.push(format!("{repo}@{digest}"));
        }
        // Upstream's `glob.Match` falls back to the string as written (glob.go L92-97).
        if !names.iter().any(|n| n == &self.raw) {
            names.push(self.raw.clone());
        }
        names
    }
}

/// Whether a tag is written after the last path component (a `:` after the last `/`, before
/// any `@`).
fn has_explicit_tag(image: &str) -> bool {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350";

    #[test]
    fn docker_hub_normalisation() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(
            r.glob_candidates(),
            vec!["index.docker.io/library/nginx:latest", "nginx"]
        );
        assert!(!r.tag_written());
        let r = ImageRef::parse("docker.io/bitnami/redis:7").unwrap();
        assert_eq!(
            r.glob_candidates(),
            vec![
                "index.docker.io/bitnami/redis:7",
                "docker.io/bitnami/redis:7"
            ]
        );
        assert!(r.tag_written());
        let r = ImageRef::parse("index.docker.io/library/foo:1").unwrap();
        assert_eq!(r.glob_candidates(), vec!["index.docker.io/library/foo:1"]);
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!(
            r.glob_candidates(),
            vec!["index.docker.io/localhost/app:latest", "localhost/app"]
        );
        let r = ImageRef::parse("localhost:5000/app:v1").unwrap();
        assert_eq!(r.glob_candidates(), vec!["localhost:5000/app:v1"]);
    }

    #[test]
    fn digest_and_tag() {
        let r = ImageRef::parse(&format!("ghcr.io/foo:v1@{H}")).unwrap();
        assert_eq!(
            r.glob_candidates(),
            vec![
                "ghcr.io/foo:v1".to_string(),
                format!("ghcr.io/foo@{H}"),
                format!("ghcr.io/foo:v1@{H}")
            ]
        );
        assert_eq!(r.digest(), Some(H));
        let r = ImageRef::parse(&format!("ghcr.io/foo@{H}")).unwrap();
        assert_eq!(r.glob_candidates(), vec![format!("ghcr.io/foo@{H}")]);
        assert_eq!(r.raw(), format!("ghcr.io/foo@{H}"));
        assert_eq!(r.name_as_written(), "ghcr.io/foo");
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
}
