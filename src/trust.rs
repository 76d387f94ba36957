//! The host's Sigstore trust, as the administrator declares it: which Fulcio, Rekor and
//! policy-controller `TrustRoot`s the policy-server's one trust configuration stands for.
//!
//! ```yaml
//! hostSigstoreTrust:
//!   publicGoodInstance: false                  # default true: the public-good Fulcio and Rekor
//!   fulcioUrls: [https://fulcio.example.com]   # keyless.url values the configuration covers
//!   rekorUrls: [https://rekor.example.com]     # ctlog.url values it covers
//!   trustRoots: [my-sigstore-keys]             # keyless/ctlog trustRootRef names it stands for
//! ```
//!
//! The model. policy-controller picks trust material per authority: the public-good instance
//! from TUF, or the `TrustRoot` a `trustRootRef` names (`pkg/webhook/validator.go` L1591-1713).
//! A Kubewarden host has one Sigstore trust configuration for every policy it runs: the
//! public-good instance by default, or the PolicyServer's `spec.sigstoreTrustConfig` (kwctl
//! `--sigstore-trust-config`), a `ClientTrustConfig` whose `trustedRoot` gives the Fulcio
//! certificates and Rekor keys (kubewarden-controller@3460bb7
//! `crates/policy-evaluator/src/callback_handler/sigstore_verification.rs` L50-65: the cosign
//! client is built `with_trust_repository(trust_root)`). The policy cannot pass a Fulcio, a
//! Rekor or a trust root with a verification call, and cannot read the host's configuration.
//! So a CIP that names a private Sigstore is accepted only when the settings declare that the
//! host's configuration covers it; the host then verifies with all of its configuration (not
//! with the one `TrustRoot` upstream would pick). The declaration is the administrator's word:
//! nothing here can check that it matches the host, and a wrong one makes the host refuse
//! signatures (it never makes it accept more than its configuration trusts).
//!
//! Checked per authority ([`undeclared`]), each field as upstream reads it:
//!
//! - `keyless.trustRootRef`: must be in `trustRoots`. With it, upstream takes the Fulcio roots
//!   from the TrustRoot and never reads `keyless.url` (only its presence counts,
//!   validator.go L849), so the url (defaulted or not) is then not checked.
//! - `keyless.url` otherwise: `https://fulcio.sigstore.dev` (with or without a trailing slash)
//!   needs `publicGoodInstance`; any other must be in `fulcioUrls`.
//! - `ctlog.trustRootRef`: must be in `trustRoots` (upstream takes the Rekor keys and URL from
//!   it, validator.go L1679-1695).
//! - `ctlog.url` otherwise: `https://rekor.sigstore.dev` needs `publicGoodInstance`; any other
//!   must be in `rekorUrls`. `ctlog` without either means no transparency log upstream for a key
//!   (validator.go L1699-1700), which is what the host does for keys: nothing to declare.
//!
//! What the host verifies differently whatever the declaration (a key authority's `ctlog`
//! with a log, `rfc3161timestamp`, `ca-cert`) is refused in [`crate::cip::host_limits`], and
//! those authorities are not checked here.
//!
//! URLs are compared without a trailing `/` and with the scheme and host in lower case.
//!
//! Checked by settings validation only ([`crate::settings::Settings::validate`]), not again at
//! admission as the host limits are: the declaration describes the host, and the host
//! validates the settings before it runs the policy.

use crate::cip::validation::FieldError;
use crate::cip::{Authority, ClusterImagePolicy};
use serde::Deserialize;

/// The public-good Fulcio, upstream's default `keyless.url` (`clusterimagepolicy_defaults.go`
/// L37-39).
pub const PUBLIC_FULCIO: &str = "https://fulcio.sigstore.dev";

/// The public-good Rekor.
pub const PUBLIC_REKOR: &str = "https://rekor.sigstore.dev";

/// `hostSigstoreTrust`: what the host's Sigstore trust configuration holds (module docs).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostSigstoreTrust {
    /// The configuration trusts the public-good Fulcio and Rekor (the host's default, and what
    /// a `sigstoreTrustConfig` holds only if its `trustedRoot` includes them).
    #[serde(default = "yes")]
    pub public_good_instance: bool,
    /// Fulcio URLs (`keyless.url`) whose certificates the configuration holds.
    #[serde(default)]
    pub fulcio_urls: Vec<String>,
    /// Rekor URLs (`ctlog.url`) whose keys the configuration holds.
    #[serde(default)]
    pub rekor_urls: Vec<String>,
    /// policy-controller `TrustRoot` names (`trustRootRef`) whose keys the configuration holds.
    #[serde(default)]
    pub trust_roots: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for HostSigstoreTrust {
    /// The host's default: the public-good instance only.
    fn default() -> Self {
        HostSigstoreTrust {
            public_good_instance: true,
            fulcio_urls: Vec::new(),
            rekor_urls: Vec::new(),
            trust_roots: Vec::new(),
        }
    }
}

/// `url` without a trailing `/`, its scheme and host in lower case: the form URLs are
/// compared in.
pub fn normalise_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!(
                "{}://{}{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_string(),
    }
}

/// A declared URL must be `http://` or `https://` with a host.
fn check_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("expected an http:// or https:// URL")?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("expected an http:// or https:// URL with a host");
    }
    Ok(())
}

impl HostSigstoreTrust {
    /// The declaration's own errors, each naming its field (`hostSigstoreTrust.fulcioUrls[0]`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (field, urls) in [
            ("fulcioUrls", &self.fulcio_urls),
            ("rekorUrls", &self.rekor_urls),
        ] {
            for (i, url) in urls.iter().enumerate() {
                if let Err(why) = check_url(url) {
                    errs.push(FieldError {
                        message: format!("invalid value: {url}"),
                        paths: vec![format!("hostSigstoreTrust.{field}[{i}]")],
                        details: Some(why.to_string()),
                    });
                }
            }
        }
        for (i, name) in self.trust_roots.iter().enumerate() {
            if name.trim().is_empty() {
                errs.push(FieldError {
                    message: "missing field(s)".into(),
                    paths: vec![format!("hostSigstoreTrust.trustRoots[{i}]")],
                    details: Some("a TrustRoot name".into()),
                });
            }
        }
        errs
    }

    fn has_url(urls: &[String], url: &str) -> bool {
        let url = normalise_url(url);
        urls.iter().any(|u| normalise_url(u) == url)
    }

    fn has_trust_root(&self, name: &str) -> bool {
        self.trust_roots.iter().any(|n| n == name)
    }
}

/// Where a CIP's trust field stands against the declaration.
enum Lookup {
    Declared,
    /// Not declared: the details line.
    Undeclared(String),
}

const HOW: &str = "the host verifies with its own Sigstore trust configuration (PolicyServer spec.sigstoreTrustConfig, kwctl --sigstore-trust-config) and cannot be given another per call; once that configuration holds it, declare it in the settings";

fn lookup_url(trust: &HostSigstoreTrust, url: &str, service: &Service) -> Lookup {
    let (field, what) = (service.field, service.what);
    if HostSigstoreTrust::has_url((service.declared)(trust), url) {
        return Lookup::Declared;
    }
    if normalise_url(url) == service.public {
        return if trust.public_good_instance {
            Lookup::Declared
        } else {
            Lookup::Undeclared(format!(
                "the public-good {what}, and hostSigstoreTrust.publicGoodInstance is false: the host's Sigstore trust configuration does not hold the public-good instance; name the {what} the configuration holds, or set hostSigstoreTrust.publicGoodInstance: true if it does hold it"
            ))
        };
    }
    Lookup::Undeclared(format!(
        "this {what} is not declared in hostSigstoreTrust.{field}: {HOW}: hostSigstoreTrust: {{{field}: [\"{url}\"]}}"
    ))
}

fn lookup_trust_root(trust: &HostSigstoreTrust, name: &str) -> Lookup {
    if trust.has_trust_root(name) {
        Lookup::Declared
    } else {
        Lookup::Undeclared(format!(
            "TrustRoot {name:?} is not declared in hostSigstoreTrust.trustRoots: {HOW} (`cip-runner migrate` turns a TrustRoot with sigstoreKeys into that configuration and this declaration): hostSigstoreTrust: {{trustRoots: [\"{name}\"]}}"
        ))
    }
}

/// A `trustRootRef` as upstream reads it: `""` is none (validator.go L1593, L1679).
fn non_empty(name: &Option<String>) -> Option<&String> {
    name.as_ref().filter(|n| !n.is_empty())
}

/// The trust fields of one authority that the declaration does not cover (module docs).
/// Authorities whose trust fields the host cannot honour at all are left to
/// [`crate::cip::host_limits`].
fn authority(a: &Authority, path: &str, trust: &HostSigstoreTrust, errs: &mut Vec<FieldError>) {
    if a.keyless.as_ref().is_some_and(|k| k.ca_cert.is_some()) {
        return;
    }
    if let Some(keyless) = &a.keyless {
        let path = format!("{path}.keyless");
        check(
            errs,
            trust,
            &path,
            &keyless.trust_root_ref,
            &keyless.url,
            &FULCIO,
        );
    }
    if let Some(ctlog) = &a.ctlog
        && a.keyless.is_some()
    {
        let path = format!("{path}.ctlog");
        check(
            errs,
            trust,
            &path,
            &ctlog.trust_root_ref,
            &ctlog.url,
            &REKOR,
        );
    }
}

/// A service a trust field names: its public-good URL, its declaration list, its name.
struct Service {
    public: &'static str,
    declared: fn(&HostSigstoreTrust) -> &[String],
    field: &'static str,
    what: &'static str,
}

const FULCIO: Service = Service {
    public: PUBLIC_FULCIO,
    declared: |t| &t.fulcio_urls,
    field: "fulcioUrls",
    what: "Fulcio",
};

const REKOR: Service = Service {
    public: PUBLIC_REKOR,
    declared: |t| &t.rekor_urls,
    field: "rekorUrls",
    what: "Rekor",
};

/// The `trustRootRef` (which decides when set) or else the `url` of a `keyless` or `ctlog`
/// block at `path`, against the declaration.
fn check(
    errs: &mut Vec<FieldError>,
    trust: &HostSigstoreTrust,
    path: &str,
    trust_root_ref: &Option<String>,
    url: &Option<String>,
    service: &Service,
) {
    let (lookup, value, field) = match (non_empty(trust_root_ref), url) {
        (Some(name), _) => (lookup_trust_root(trust, name), name, "trustRootRef"),
        (None, Some(url)) => (lookup_url(trust, url, service), url, "url"),
        (None, None) => return,
    };
    if let Lookup::Undeclared(details) = lookup {
        errs.push(FieldError {
            message: format!("invalid value: {value}"),
            paths: vec![format!("{path}.{field}")],
            details: Some(details),
        });
    }
}

/// Every trust field of `cip` (after [`ClusterImagePolicy::apply_defaults`]) that `trust`
/// does not declare, as `invalid value: <value>: <path>` with how to declare it.
pub fn undeclared(cip: &ClusterImagePolicy, trust: &HostSigstoreTrust) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, a) in cip.spec.authorities.iter().enumerate() {
        authority(a, &format!("spec.authorities[{i}]"), trust, &mut errs);
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn cip(authority: Value) -> ClusterImagePolicy {
        let mut c: ClusterImagePolicy = serde_json::from_value(json!({
            "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": "p"},
            "spec": {"images": [{"glob": "**"}], "authorities": [authority]}
        }))
        .unwrap();
        c.apply_defaults();
        c
    }

    fn errors(authority: Value, trust: &HostSigstoreTrust) -> Vec<String> {
        undeclared(&cip(authority), trust)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn keyless(extra: Value) -> Value {
        let mut k = json!({"identities": [{"issuer": "https://i", "subject": "s"}]});
        for (key, v) in extra.as_object().unwrap() {
            k[key] = v.clone();
        }
        json!({"keyless": k})
    }

    fn private() -> HostSigstoreTrust {
        HostSigstoreTrust {
            public_good_instance: false,
            fulcio_urls: vec!["https://Fulcio.Example.com/".into()],
            rekor_urls: vec!["http://rekor.rekor-system.svc".into()],
            trust_roots: vec!["my-sigstore-keys".into()],
        }
    }

    #[test]
    fn the_public_good_instance_is_the_default() {
        let trust = HostSigstoreTrust::default();
        assert_eq!(errors(keyless(json!({})), &trust), Vec::<String>::new());
        let mut a = keyless(json!({"url": "https://fulcio.sigstore.dev/"}));
        a["ctlog"] = json!({"url": "https://rekor.sigstore.dev/"});
        assert_eq!(errors(a.clone(), &trust), Vec::<String>::new());
        a["ctlog"] = json!({});
        assert_eq!(errors(a, &trust), Vec::<String>::new());
    }

    #[test]
    fn a_private_fulcio_and_rekor_must_be_declared() {
        let mut a = keyless(json!({"url": "https://fulcio.example.com"}));
        a["ctlog"] = json!({"url": "http://rekor.rekor-system.svc/"});
        let errs = errors(a.clone(), &HostSigstoreTrust::default());
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0],
            "invalid value: https://fulcio.example.com: spec.authorities[0].keyless.url\nthis Fulcio is not declared in hostSigstoreTrust.fulcioUrls: the host verifies with its own Sigstore trust configuration (PolicyServer spec.sigstoreTrustConfig, kwctl --sigstore-trust-config) and cannot be given another per call; once that configuration holds it, declare it in the settings: hostSigstoreTrust: {fulcioUrls: [\"https://fulcio.example.com\"]}"
        );
        assert!(
            errs[1].starts_with("invalid value: http://rekor.rekor-system.svc/: spec.authorities[0].ctlog.url\nthis Rekor is not declared in hostSigstoreTrust.rekorUrls: "),
            "{}",
            errs[1]
        );
        // Declared with another spelling of the same URL (case of the host, trailing slash).
        assert_eq!(errors(a, &private()), Vec::<String>::new());
    }

    /// Only the public-good URL itself (any case of its scheme and host, a trailing slash)
    /// stands for the public-good instance; look-alikes must be declared.
    #[test]
    fn look_alikes_of_the_public_instance_are_not_it() {
        let trust = HostSigstoreTrust::default();
        for url in [
            "HTTPS://FULCIO.SIGSTORE.DEV",
            "https://fulcio.sigstore.dev//",
        ] {
            assert_eq!(
                errors(keyless(json!({"url": url})), &trust),
                Vec::<String>::new(),
                "{url}"
            );
        }
        for url in [
            "https://fulcio.sigstore.dev.evil.example",
            "http://fulcio.sigstore.dev",
            "https://fulcio.sigstore.dev:443",
            "https://fulcio.sigstore.dev/other",
            " https://fulcio.sigstore.de",
            "",
        ] {
            let errs = errors(keyless(json!({"url": url})), &trust);
            assert_eq!(errs.len(), 1, "{url:?}");
            assert!(
                errs[0].contains("is not declared in hostSigstoreTrust.fulcioUrls"),
                "{url:?}"
            );
        }
        // An empty trustRootRef is none, as upstream: the url decides.
        let a = keyless(json!({"trustRootRef": "", "url": "https://fulcio.example.com"}));
        assert!(errors(a, &trust)[0].contains("spec.authorities[0].keyless.url"));
    }

    #[test]
    fn a_path_is_compared_as_written() {
        let trust = HostSigstoreTrust {
            fulcio_urls: vec!["https://sigstore.example.com/fulcio".into()],
            ..Default::default()
        };
        let a = keyless(json!({"url": "https://sigstore.example.com/FULCIO"}));
        assert_eq!(errors(a, &trust).len(), 1);
        let a = keyless(json!({"url": "https://sigstore.example.com/fulcio/"}));
        assert_eq!(errors(a, &trust), Vec::<String>::new());
    }

    #[test]
    fn the_public_good_instance_can_be_declared_absent() {
        let errs = errors(keyless(json!({})), &private());
        assert_eq!(
            errs,
            vec![
                "invalid value: https://fulcio.sigstore.dev: spec.authorities[0].keyless.url\nthe public-good Fulcio, and hostSigstoreTrust.publicGoodInstance is false: the host's Sigstore trust configuration does not hold the public-good instance; name the Fulcio the configuration holds, or set hostSigstoreTrust.publicGoodInstance: true if it does hold it"
            ]
        );
        let mut a = keyless(json!({"url": "https://fulcio.example.com"}));
        a["ctlog"] = json!({"url": "https://rekor.sigstore.dev"});
        let errs = errors(a, &private());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("invalid value: https://rekor.sigstore.dev: spec.authorities[0].ctlog.url\nthe public-good Rekor, and hostSigstoreTrust.publicGoodInstance is false"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn trust_roots_must_be_declared_and_then_decide() {
        // With a trustRootRef, upstream never reads keyless.url: the defaulted public url is
        // not checked against publicGoodInstance.
        let mut a = keyless(json!({"trustRootRef": "my-sigstore-keys"}));
        a["ctlog"] = json!({"trustRootRef": "my-sigstore-keys", "url": "https://rekor.elsewhere"});
        assert_eq!(errors(a.clone(), &private()), Vec::<String>::new());
        let errs = errors(a, &HostSigstoreTrust::default());
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0],
            "invalid value: my-sigstore-keys: spec.authorities[0].keyless.trustRootRef\nTrustRoot \"my-sigstore-keys\" is not declared in hostSigstoreTrust.trustRoots: the host verifies with its own Sigstore trust configuration (PolicyServer spec.sigstoreTrustConfig, kwctl --sigstore-trust-config) and cannot be given another per call; once that configuration holds it, declare it in the settings (`cip-runner migrate` turns a TrustRoot with sigstoreKeys into that configuration and this declaration): hostSigstoreTrust: {trustRoots: [\"my-sigstore-keys\"]}"
        );
        assert!(errs[1].contains("spec.authorities[0].ctlog.trustRootRef"));
        // Names are exact.
        let a = keyless(json!({"trustRootRef": "My-Sigstore-Keys"}));
        assert_eq!(errors(a, &private()).len(), 1);
    }

    #[test]
    fn key_and_static_authorities_need_no_declaration() {
        let key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";
        // A key authority's ctlog with a log is a host limit (host_limits), not a declaration.
        let a = json!({"key": {"data": key}, "ctlog": {"url": "https://rekor.example.com"}});
        assert_eq!(errors(a, &private()), Vec::<String>::new());
        let a = json!({"static": {"action": "pass"}});
        assert_eq!(errors(a, &private()), Vec::<String>::new());
    }

    #[test]
    fn the_declaration_is_validated() {
        let trust: HostSigstoreTrust = serde_json::from_value(json!({
            "fulcioUrls": ["fulcio.example.com", "https://"], "rekorUrls": ["https://rekor.example.com"],
            "trustRoots": [""]
        }))
        .unwrap();
        assert!(trust.public_good_instance, "defaults to true");
        let errs: Vec<String> = trust.validate().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "invalid value: fulcio.example.com: hostSigstoreTrust.fulcioUrls[0]\nexpected an http:// or https:// URL",
                "invalid value: https://: hostSigstoreTrust.fulcioUrls[1]\nexpected an http:// or https:// URL with a host",
                "missing field(s): hostSigstoreTrust.trustRoots[0]\na TrustRoot name",
            ]
        );
        let e = serde_json::from_value::<HostSigstoreTrust>(json!({"timestampAuthorities": []}))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown field `timestampAuthorities`"), "{e}");
    }

    #[test]
    fn urls_are_normalised_for_comparison_only() {
        assert_eq!(
            normalise_url("HTTPS://Rekor.Example.COM/Path/"),
            "https://rekor.example.com/Path"
        );
        assert_eq!(normalise_url("not a url/"), "not a url");
    }
}
