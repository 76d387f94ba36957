//! Image references: parsing, and the one canonical name every decision is made on.
//!
//! A Pod's image string is parsed with the distribution reference grammar ([`grammar`], the
//! language of `distribution/reference` that containerd, CRI-O, the kubelet and the
//! Kubewarden host's `oci-client` use). Many strings name the same registry, repository and
//! content: the container runtime pulls `GHCR.IO/evil/x:1` and `ghcr.io:443/evil/x:1` from
//! `ghcr.io/evil/x:1`. If globs were matched on the string as written, every such spelling
//! would dodge a deny glob (the class of Kubewarden trusted-repos' CVE-2026-63121). So every
//! decision that depends on the name (glob matching, the Rego input's `image`) is made on one
//! canonical name; host calls and digest pinning keep the image as written, so that what runs
//! is what was verified.
//!
//! # Spellings
//!
//! Every way this module knows for a string to name the same thing as another, and what is
//! done with it. Sources: distribution/reference `normalize.go` (`splitDockerDomain`,
//! `ParseNormalizedNamed`), `regexp.go` (the grammar) and `reference.go` (digest validation
//! through go-digest) at distribution/reference 0965666 (2026-04-18); go-containerregistry
//! `pkg/name/registry.go` (`NewRegistry`: `docker.io` → `index.docker.io`, nothing else
//! rewritten, case and port kept), `repository.go` (`library/` on `index.docker.io` only),
//! `digest.go` (`checkDigest`: `sha256:` and 64 lowercase hex only), as policy-controller
//! parses images (`pkg/apis/glob/glob.go` L79-97); containerd's docker resolver (`host:port`
//! used as written in `https://host:port/v2/`, so the default port names the same endpoint).
//!
//! | # | spelling | same as | here | policy-controller |
//! |---|---|---|---|---|
//! | 1 | registry host in upper or mixed case (`GHCR.IO/x`) | `ghcr.io/x` (DNS and HTTP hosts are case-insensitive; the grammar allows upper case in the domain) | lower-cased | kept as written: a deny glob on `ghcr.io/**` is dodged |
//! | 2 | explicit default port `:443` (`ghcr.io:443/x`) | `ghcr.io/x` (the runtime dials the same endpoint, `https://ghcr.io/v2/`) | dropped (kept on a single-label host such as `myhost:443`, which without a port would be a Docker Hub namespace) | kept: dodged |
//! | 2b | explicit port `:80` (`ghcr.io:80/x`) | no one endpoint: containerd dials `https://ghcr.io:80/v2/`, Docker and go-containerregistry `http://ghcr.io/v2/` (`pkg/name/registry.go` `Scheme`) | refused (dropping it would let an allow glob on `ghcr.io/**` admit whatever serves port 80; keeping it would let the http reading dodge a deny glob) | kept |
//! | 3 | port with leading zeros (`localhost:05000/x`) | `localhost:5000/x` (ports are decimal numbers) | zeros dropped (then row 2) | kept: dodged |
//! | 4 | port 0 or over 65535 | nothing (no endpoint) | refused | kept |
//! | 5 | Docker Hub: no registry, `docker.io`, `index.docker.io`, `registry-1.docker.io` (the endpoint the runtimes call), `registry.hub.docker.com` | one registry | `index.docker.io` (policy-controller's name, so its globs keep working) | `docker.io` → `index.docker.io` only: the other two dodge |
//! | 6 | Docker Hub repository without a namespace (`nginx`, `docker.io/nginx`) | `library/nginx` | `library/` added, on every Docker Hub spelling | added on `index.docker.io` only |
//! | 7 | no tag and no digest (`nginx`) | `nginx:latest` | `:latest` added | same |
//! | 8 | a tag beside a digest (`x:v1@sha256:…`) | `x@sha256:…` (the runtime pulls the digest; any tag can be written beside any digest) | the digest decides; the tag counts (globs, Rego) only when the host confirms that it names that digest (`oci/v1/manifest_digest`, asked only when the tag would change a decision) | the tag is dropped (#888) |
//! | 9 | digest in upper-case hex | nothing (go-digest refuses it) | refused | refused |
//! | 10 | a digest other than sha256 (`sha512:…`) | the same manifest as its sha256 digest, where the registry serves it (zot does) | refused, as upstream: a glob or rule written with the sha256 digest would not see it | refused |
//! | 11 | `localhost/x` (no port) | the registry on `localhost`, for the runtimes and the host | registry `localhost` | Docker Hub repository `index.docker.io/localhost/x`: a Docker Hub allow glob admits an image the node pulls from itself |
//! | 12 | an upper-case first component without `.` or `:` (`MyHost/x`) | registry `myhost` for the runtimes (`splitDockerDomain` treats a non-lowercase first element as a domain) | refused | refused (upper case in a repository) |
//! | 13 | a trailing dot on the host (`ghcr.io./x`) | `ghcr.io` in DNS | refused (the grammar has no empty domain component; the runtimes refuse it too) | accepted as another registry: dodged, but nothing runs it |
//! | 14 | IPv6 literal hosts (`[::1]:5000/x`) | many spellings of one address | refused | refused |
//! | 15 | upper case in the repository path | nothing (the grammar refuses it) | refused | refused |
//!
//! Not spellings of one name, and so matched as different registries: other host names that
//! serve the same content (mirrors such as `mirror.gcr.io`, CNAMEs, an IP address for a host
//! name, `127.1` for `127.0.0.1`: Go's resolver, which the runtimes use, does not read `127.1`
//! as an address). A deny glob must name each registry it means.

mod grammar;

/// Longest reference accepted, in bytes: a repository name is at most 255 bytes, a tag 128, a
/// sha512 digest 135, and a registry host a few hundred more.
pub const MAX_REFERENCE_LEN: usize = 4096;

/// The canonical Docker Hub registry (go-containerregistry's `name.DefaultRegistry`).
pub const DOCKER_HUB: &str = "index.docker.io";

/// Host names of Docker Hub's registry (table row 5), after lower-casing and port rules.
pub const DOCKER_HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// A parsed image reference: the string as written and its canonical parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    raw: String,
    /// Canonical registry: lower case, no default port, Docker Hub as [`DOCKER_HUB`].
    registry: String,
    /// Canonical repository (`library/nginx`).
    repository: String,
    /// The tag written, or the implied `latest` of an image with neither tag nor digest.
    tag: Option<String>,
    digest: Option<String>,
    tag_written: bool,
}

/// A reference that does not parse, or a spelling refused; displays as upstream's
/// `could not parse reference: <img>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The image string as written (its first 64 bytes and `…` when it is over
    /// [`MAX_REFERENCE_LEN`]).
    pub image: String,
    /// Why: the grammar's reason (`repository name must be lowercase`, ...) or the spelling
    /// refused (see the table in the module docs).
    pub reason: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not parse reference: {}", self.image)
    }
}

/// Whether `host` is already in canonical form, i.e. [`canonical_registry`] gives it back
/// unchanged, without allocating for the common case: a host in lower case, without a port,
/// and not one of Docker Hub's other names is canonical (each rewrite of [`canonical_registry`]
/// needs an upper-case letter, a `:` or an alias). Anything else is decided by
/// [`canonical_registry`] itself.
pub fn is_canonical_registry(host: &str) -> bool {
    if !host.bytes().any(|b| b.is_ascii_uppercase() || b == b':')
        && !DOCKER_HUB_ALIASES.contains(&host)
    {
        return true;
    }
    canonical_registry(host).is_ok_and(|canonical| canonical == host)
}

/// A registry host as written (`GHCR.IO:0443`) in canonical form (`ghcr.io`): lower case, the
/// port without leading zeros and without the default port 443, Docker Hub's names as
/// [`DOCKER_HUB`]. Table rows 1-5.
///
/// Errors: a port that names no endpoint (0, or over 65535), and port 80, which the runtimes
/// read as different endpoints (row 2b).
pub fn canonical_registry(host: &str) -> Result<String, String> {
    let lower = host.to_ascii_lowercase();
    let (name, port) = match lower.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (lower.as_str(), None),
    };
    let port = match port {
        None => None,
        Some(digits) => {
            let trimmed = digits.trim_start_matches('0');
            let number: u32 = if trimmed.is_empty() {
                0
            } else if trimmed.len() > 5 {
                u32::MAX
            } else {
                trimmed.parse().unwrap_or(u32::MAX)
            };
            if number == 0 || number > 65_535 {
                return Err(format!(
                    "the registry port {digits} names no endpoint (ports are 1 to 65535)"
                ));
            }
            // Port 80 names no one endpoint: containerd dials `https://host:80/v2/` (the port
            // as written, https for every host but localhost), Docker and go-containerregistry
            // `http://host/v2/` (`pkg/name/registry.go` `Scheme`: a `:80` suffix means http);
            // neither is `https://host/v2/`. Refused (row 2).
            if number == 80 {
                return Err(format!(
                    "the registry port {digits} is read differently by the container runtimes (containerd dials https on port 80, Docker plain http): write the registry without a port, or with the port it serves on"
                ));
            }
            // A single-label host other than `localhost` is a registry only with its port
            // (without one, `myhost/x` is a Docker Hub repository): its default port is kept,
            // as 443, so that the canonical name still names the registry.
            let single_label = !name.contains('.') && name != "localhost";
            match number {
                443 if single_label => Some(443),
                443 => None,
                other => Some(other),
            }
        }
    };
    if port.is_none() && DOCKER_HUB_ALIASES.contains(&name) {
        return Ok(DOCKER_HUB.to_string());
    }
    Ok(match port {
        Some(p) => format!("{name}:{p}"),
        None => name.to_string(),
    })
}

impl ImageRef {
    /// Parses `image` (`[registry/]repository[:tag][@digest]`) with the distribution grammar
    /// ([`grammar`], oci-spec's language) and computes its canonical parts (module docs, table).
    ///
    /// Errors: whatever the grammar rejects (empty, uppercase repository, malformed tag, digest
    /// of the wrong length), with its reason; references over [`MAX_REFERENCE_LEN`] bytes; the
    /// spellings the table refuses (rows 4, 9, 10, 12, 13, 14), each with its reason.
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
        if parsed.repository().bytes().any(|b| b.is_ascii_uppercase()) {
            // Row 12: `MyHost/app` is the registry `myhost` for the runtimes, a Docker Hub
            // repository for oci-spec and go-containerregistry.
            return Err(err(
                "an upper-case first component names a registry for the container runtime but a Docker Hub repository for policy-controller: write the registry host in lower case with its domain or port (myhost.example.com/…, myhost:5000/…)".to_string(),
            ));
        }
        if let Some(digest) = parsed.digest() {
            let (algorithm, hex) = digest.split_once(':').unwrap_or((digest, ""));
            if !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(err("invalid checksum digest format".to_string()));
            }
            if algorithm != "sha256" {
                return Err(err(format!(
                    "only sha256 digests are accepted, as upstream: the same manifest can be named by its {algorithm} and its sha256 digest, and a glob or rule written with one would not see the other"
                )));
            }
        }
        // oci-spec calls Docker Hub `docker.io`; its other names, case and ports are
        // canonicalised here.
        let registry = canonical_registry(parsed.registry()).map_err(err)?;
        let repository = if registry == DOCKER_HUB && !parsed.repository().contains('/') {
            format!("library/{}", parsed.repository())
        } else {
            parsed.repository().to_string()
        };
        Ok(ImageRef {
            raw: image.to_string(),
            registry,
            repository,
            tag: parsed.tag().map(str::to_string),
            digest: parsed.digest().map(str::to_string),
            tag_written: has_explicit_tag(image),
        })
    }

    /// The image exactly as written in the resource (what host calls are made with).
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

    /// The image as written without its digest (`ghcr.io/x:v1` for `ghcr.io/x:v1@sha256:…`):
    /// what the host resolves to confirm the tag of a pinned image (row 8).
    pub fn tag_as_written(&self) -> &str {
        self.raw.split('@').next().unwrap_or(&self.raw)
    }

    /// Canonical repository name: `index.docker.io/library/nginx`.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Canonical registry: `ghcr.io`, `localhost:5000`, `index.docker.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Whether the image carries both a written tag and a digest: then the tag counts for a
    /// decision only once the host has confirmed that it names the digest (row 8).
    pub fn tag_needs_confirmation(&self) -> bool {
        self.tag_written && self.digest.is_some()
    }

    /// The canonical tag form `registry/repository:tag`, when there is a tag.
    pub fn tag_name(&self) -> Option<String> {
        let tag = self.tag.as_ref()?;
        Some(format!("{}:{tag}", self.repository_name()))
    }

    /// The canonical digest form `registry/repository@digest`, when pinned.
    pub fn digest_name(&self) -> Option<String> {
        let digest = self.digest.as_ref()?;
        Some(format!("{}@{digest}", self.repository_name()))
    }

    /// The canonical names globs are matched on: the tag form for an image with a tag only,
    /// the digest form for a pinned image, and for an image with both the digest form and,
    /// when `tag_confirmed`, the tag form too (row 8). Upstream's `glob.Match` fallback to the
    /// string as written (`pkg/apis/glob/glob.go` L92-97) is not used: it would make the
    /// decision depend on the spelling (it is dead in upstream's admission too, which passes
    /// the normalised name).
    pub fn match_names(&self, tag_confirmed: bool) -> Vec<String> {
        let mut names = Vec::with_capacity(2);
        if !self.tag_needs_confirmation() || tag_confirmed {
            names.extend(self.tag_name());
        }
        names.extend(self.digest_name());
        names
    }

    /// [`ImageRef::match_names`] before any tag is confirmed.
    pub fn glob_candidates(&self) -> Vec<String> {
        self.match_names(false)
    }

    /// The canonical image, as the Rego input's `image`: `registry/repository:tag`,
    /// `registry/repository@digest`, or `registry/repository:tag@digest` when the tag beside
    /// the digest is confirmed (row 8; unconfirmed, the tag is left out).
    pub fn canonical(&self, tag_confirmed: bool) -> String {
        match (self.tag_name(), &self.digest) {
            (Some(tag_name), Some(digest)) if self.tag_written && tag_confirmed => {
                format!("{tag_name}@{digest}")
            }
            (_, Some(_)) => self.digest_name().unwrap_or_default(),
            (Some(tag_name), None) => tag_name,
            (None, None) => self.repository_name(),
        }
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
mod tests;
