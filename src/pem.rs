//! PEM public keys as found in `key.data`: one or more `PUBLIC KEY` blocks.
//!
//! Upstream parses `key.data` with sigstore's `cryptoutils.UnmarshalPEMToPublicKey` and, when
//! verifying, accepts any one of several keys (`pkg/webhook/validation.go` L39-63). Each block
//! is kept byte for byte as written (plus a final newline), because the host compares the key
//! strings of recorded sessions exactly.

/// Splits `data` into its PEM public keys, each `-----BEGIN PUBLIC KEY-----…-----END PUBLIC
/// KEY-----\n` exactly as written.
///
/// Errors: no block, text outside blocks, a block with another label, or a body that is not a
/// DER SubjectPublicKeyInfo.
pub fn public_keys(data: &str) -> Result<Vec<String>, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let mut keys = Vec::new();
    let mut rest = data;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        if !trimmed.starts_with(BEGIN) {
            return Err("expected a PEM block \"-----BEGIN PUBLIC KEY-----\"".into());
        }
        let end = trimmed
            .find(END)
            .ok_or_else(|| "unterminated PEM block".to_string())?;
        let block = &trimmed[..end + END.len()];
        let parsed = ::pem::parse(block).map_err(|e| format!("invalid PEM block: {e}"))?;
        if parsed.tag() != "PUBLIC KEY" {
            return Err(format!(
                "PEM block is a {:?}, not a PUBLIC KEY",
                parsed.tag()
            ));
        }
        spki::SubjectPublicKeyInfoRef::try_from(parsed.contents())
            .map_err(|e| format!("PEM block is not a public key: {e}"))?;
        keys.push(format!("{block}\n"));
        rest = &trimmed[end + END.len()..];
    }
    if keys.is_empty() {
        return Err("no PEM public key found".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const K1: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk2SIAFL3NjsOkTvjt2QG54X7NzY5\n7KFe4WSAWsamZqtD2uI/7bvQDQWwx5+Z9U8z9ucV58RB3c/zI87vgrZJ9Q==\n-----END PUBLIC KEY-----\n";
    pub const K2: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFB2vRB56GkNlssONMXhgnaP6ukgc\nOR0gBt+icXhzHA7QOKpKbI5TGx9nd/9tbOilk8LqsvBfkhd97c4lANfL1A==\n-----END PUBLIC KEY-----\n";

    #[test]
    fn splits_several_keys_exactly() {
        assert_eq!(public_keys(K1).unwrap(), vec![K1.to_string()]);
        let both = format!("{K2}{K1}");
        assert_eq!(
            public_keys(&both).unwrap(),
            vec![K2.to_string(), K1.to_string()]
        );
        let no_final_newline = K1.trim_end();
        assert_eq!(public_keys(no_final_newline).unwrap(), vec![K1.to_string()]);
    }

    #[test]
    fn rejects_non_keys() {
        assert!(public_keys("").is_err());
        assert!(public_keys("hello").is_err());
        assert!(
            public_keys("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err()
        );
        assert!(public_keys("-----BEGIN PUBLIC KEY-----\nMFkw").is_err());
        let cert = K1.replace("PUBLIC KEY", "CERTIFICATE");
        assert!(public_keys(&cert).is_err());
    }
}
