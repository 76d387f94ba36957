//! Authorities: one authority of a CIP checked against one image.
//!
//! Source: `sigstore/policy-controller` `pkg/webhook/validator.go` L545-627. A passing
//! authority yields its entry of the Rego input's `authorityMatches` (`{"static": true}` for a
//! static one); a failing one yields upstream's message (`disallowed by static policy: <msg>`).

use crate::cip::Authority;
use crate::host::Host;
use crate::reference::ImageRef;
use serde_json::{Value, json};

/// A passing authority: its `authorityMatches` entry and, for signature authorities, the
/// digest the host verified.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorityPass {
    /// `authorityMatches[<name>]`.
    pub matches: Value,
    /// `sha256:<hex>` verified by the host, when a signature was checked.
    pub digest: Option<String>,
}

/// Checks `authority` against `image`. `Err` is the failure message.
pub fn check(
    authority: &Authority,
    image: &ImageRef,
    _host: &dyn Host,
) -> Result<AuthorityPass, String> {
    let _ = image;
    if let Some(st) = &authority.static_ {
        return match st.action.as_str() {
            "pass" => Ok(AuthorityPass {
                matches: json!({"static": true}),
                digest: None,
            }),
            "fail" => Err(format!(
                "disallowed by static policy: {}",
                st.message.as_deref().unwrap_or("")
            )),
            other => Err(format!("unsupported static action {other:?}")),
        };
    }
    Err(format!(
        "failed to process authority: {} (not supported by this policy)",
        authority.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cip::StaticRef;
    use crate::host::fake::FakeHost;

    fn static_authority(action: &str, message: Option<&str>) -> Authority {
        Authority {
            name: Some("authority-0".into()),
            static_: Some(StaticRef {
                action: action.into(),
                message: message.map(String::from),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn static_pass_and_fail() {
        let host = FakeHost::default();
        let img = ImageRef::parse("nginx").unwrap();
        assert_eq!(
            check(&static_authority("pass", None), &img, &host),
            Ok(AuthorityPass {
                matches: json!({"static": true}),
                digest: None
            })
        );
        assert_eq!(
            check(&static_authority("fail", Some("no way")), &img, &host),
            Err("disallowed by static policy: no way".into())
        );
        assert_eq!(
            check(&static_authority("fail", None), &img, &host),
            Err("disallowed by static policy: ".into())
        );
        assert_eq!(
            check(&static_authority("maybe", None), &img, &host),
            Err("unsupported static action \"maybe\"".into())
        );
        assert!(host.calls().is_empty());
    }

    #[test]
    fn authority_without_kind_fails() {
        let host = FakeHost::default();
        let img = ImageRef::parse("nginx").unwrap();
        let a = Authority {
            name: Some("x".into()),
            ..Default::default()
        };
        assert!(check(&a, &img, &host).is_err());
    }
}
