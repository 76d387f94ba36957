//! Policy settings (`--settings-path` / `--settings-json`).
//!
//! Mirrors kwctl's `PolicyDefinition::from_cli`
//! (kubewarden-controller `crates/kwctl/src/config/policy_definition.rs`
//! L380-398) and `PolicySettings`
//! (`crates/policy-evaluator/src/policy_evaluator.rs` L84-105):
//! `--settings-path` is parsed as YAML (so JSON works too) and wins over
//! `--settings-json`; the value must be a mapping or `null` (= `{}`); with
//! neither flag the settings are `{}`. The guest receives the settings
//! re-serialized as compact JSON.

use std::path::Path;

use anyhow::{Result, anyhow};

/// The settings object handed to the guest (upstream `PolicySettings`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PolicySettings(pub serde_json::Map<String, serde_json::Value>);

impl PolicySettings {
    /// Accepts a JSON mapping, or `null` as `{}`.
    ///
    /// # Errors
    /// `Invalid settings in CRD, not an object` (kwctl's text) for any other value.
    pub fn from_value(value: serde_json::Value) -> Result<Self> {
        match value {
            serde_json::Value::Null => Ok(Self::default()),
            serde_json::Value::Object(map) => Ok(Self(map)),
            _ => Err(anyhow!("Invalid settings in CRD, not an object")),
        }
    }

    /// Reads a settings file as YAML.
    ///
    /// # Errors
    /// `Cannot open settings file <path>: <io error>`,
    /// `Cannot parse settings file <path>: <yaml error>`, or the
    /// [`PolicySettings::from_value`] error.
    pub fn from_path(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| anyhow!("Cannot open settings file {}: {e}", path.display()))?;
        let value: serde_json::Value = serde_yaml::from_reader(file)
            .map_err(|e| anyhow!("Cannot parse settings file {}: {e}", path.display()))?;
        Self::from_value(value)
    }

    /// Parses `--settings-json`.
    ///
    /// # Errors
    /// `Cannot parse settings JSON: <serde error>`, or the
    /// [`PolicySettings::from_value`] error.
    pub fn from_json_str(json: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| anyhow!("Cannot parse settings JSON: {e}"))?;
        Self::from_value(value)
    }

    /// Resolves the two CLI flags (path first, as kwctl).
    ///
    /// # Errors
    /// See [`PolicySettings::from_path`] and [`PolicySettings::from_json_str`].
    pub fn from_cli(path: Option<&Path>, json: Option<&str>) -> Result<Self> {
        match (path, json) {
            (Some(path), _) => Self::from_path(path),
            (None, Some(json)) => Self::from_json_str(json),
            (None, None) => Ok(Self::default()),
        }
    }

    /// The compact JSON given to `validate_settings`.
    ///
    /// # Errors
    /// serde_json's error (not expected for a JSON map).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_defaults() {
        assert_eq!(
            PolicySettings::from_cli(None, None)
                .expect("ok")
                .to_json()
                .expect("json"),
            "{}"
        );
        let s = PolicySettings::from_cli(None, Some(r#"{"a": [1, "x"]}"#)).expect("ok");
        assert_eq!(s.to_json().expect("json"), r#"{"a":[1,"x"]}"#);
        assert_eq!(
            PolicySettings::from_json_str("null").expect("ok"),
            PolicySettings::default()
        );
        let e = PolicySettings::from_json_str("[1]").expect_err("not an object");
        assert_eq!(e.to_string(), "Invalid settings in CRD, not an object");
        let e = PolicySettings::from_json_str("{").expect_err("bad json");
        assert!(
            e.to_string().starts_with("Cannot parse settings JSON: "),
            "{e}"
        );
    }

    #[test]
    fn yaml_file_wins_over_json() {
        let dir = std::env::temp_dir().join(format!("cip-runner-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("s.yaml");
        std::fs::write(&path, "images:\n  - glob: 'ghcr.io/*'\nflag: true\n").expect("write");
        let s = PolicySettings::from_cli(Some(&path), Some("{}")).expect("ok");
        assert_eq!(
            serde_json::Value::Object(s.0),
            json!({"images": [{"glob": "ghcr.io/*"}], "flag": true})
        );
        let e = PolicySettings::from_path(&dir.join("missing.yaml")).expect_err("missing");
        assert!(
            e.to_string().starts_with("Cannot open settings file "),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
