//! ClusterImagePolicies as people wrote them (`test_data/real-cips/`, one CIP per file, its
//! first line naming the source) against the verdicts of `test_data/real-cips/EXPECTED.tsv`,
//! each CIP alone in the settings, through [`validate_settings_payload`] on the JSON converted
//! from the YAML (as kwctl and policy-server hand it to the module). `e2e.bats` runs the same
//! table through the wasm module.
//!
//! | expect | checked |
//! |---|---|
//! | `accept` | accepted, with and without the trust declaration |
//! | `accept-if-host-trust-declared` | rejected without `hostSigstoreTrust` (the message names the field and `hostSigstoreTrust`), accepted with `host-sigstore-trust.yaml` |
//! | `reject-host-limit` | rejected naming the field, with a reason line, with and without the declaration |
//! | `reject-invalid-upstream-too` | rejected naming the field (`yaml`: the file is not YAML, reported as such) |

use crate::settings::validate_settings_payload;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/real-cips")
}

/// One row of EXPECTED.tsv.
#[derive(Debug)]
struct Row {
    file: String,
    expect: String,
    field: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(dir().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut cols = line.split('\t');
            let mut col = || cols.next().unwrap_or("").trim().to_string();
            Row {
                file: col(),
                expect: col(),
                field: col(),
            }
        })
        .collect()
}

/// What settings validation made of one CIP file.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The file is not YAML: the harness's own report, the module never sees it.
    NotYaml(String),
    Accepted,
    Rejected(String),
}

/// The declaration the `accept-if-host-trust-declared` CIPs need, as a settings fragment.
fn declaration() -> Map<String, Value> {
    let text =
        std::fs::read_to_string(dir().join("host-sigstore-trust.yaml")).expect("declaration");
    match serde_yaml::from_str::<Value>(&text).expect("declaration YAML") {
        Value::Object(map) => map,
        other => panic!("host-sigstore-trust.yaml is not a mapping: {other}"),
    }
}

fn outcome(file: &str, declared: bool) -> Outcome {
    let text = std::fs::read_to_string(dir().join(file)).expect("CIP file");
    let cip: Value = match serde_yaml::from_str(&text) {
        Ok(cip) => cip,
        Err(e) => return Outcome::NotYaml(format!("{file} is not valid YAML: {e}")),
    };
    let mut settings = if declared { declaration() } else { Map::new() };
    settings.insert("policies".into(), Value::Array(vec![cip]));
    let payload = serde_json::to_vec(&settings).expect("JSON");
    match validate_settings_payload(&payload) {
        Ok(()) => Outcome::Accepted,
        Err(message) => Outcome::Rejected(message),
    }
}

/// Checks one row; `Err` says how it differs from EXPECTED.tsv.
fn check(row: &Row) -> Result<(), String> {
    let rejected_naming = |declared: bool, needle: &str| match outcome(&row.file, declared) {
        Outcome::Rejected(m) if m.contains(&row.field) && m.contains(needle) => Ok(m),
        other => Err(format!(
            "declared={declared}: expected a rejection naming {:?} and {needle:?}, got {other:?}",
            row.field
        )),
    };
    let accepted = |declared: bool| match outcome(&row.file, declared) {
        Outcome::Accepted => Ok(()),
        other => Err(format!(
            "declared={declared}: expected acceptance, got {other:?}"
        )),
    };
    match row.expect.as_str() {
        "accept" => {
            accepted(false)?;
            accepted(true)
        }
        "accept-if-host-trust-declared" => {
            rejected_naming(false, "hostSigstoreTrust")?;
            accepted(true)
        }
        "reject-host-limit" => {
            for declared in [false, true] {
                let message = rejected_naming(declared, "not supported")?;
                // The reason is the line after the field error.
                if !message.contains('\n') {
                    return Err(format!("no reason given: {message:?}"));
                }
            }
            Ok(())
        }
        "reject-invalid-upstream-too" if row.field == "yaml" => match outcome(&row.file, false) {
            Outcome::NotYaml(report) if report.contains("is not valid YAML") => Ok(()),
            other => Err(format!(
                "expected the harness to report invalid YAML, got {other:?}"
            )),
        },
        "reject-invalid-upstream-too" => rejected_naming(false, "").map(|_| ()),
        other => Err(format!("unknown verdict {other:?} in EXPECTED.tsv")),
    }
}

#[test]
fn every_real_cip_gets_its_expected_verdict() {
    let rows = rows();
    let files: Vec<String> = std::fs::read_dir(dir())
        .expect("test_data/real-cips")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "host-sigstore-trust.yaml")
        .collect();
    assert_eq!(
        files.len(),
        rows.len(),
        "every CIP file has one row in EXPECTED.tsv"
    );
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| check(row).err().map(|e| format!("{}: {e}", row.file)))
        .collect();
    let accepted = rows
        .iter()
        .filter(|r| outcome(&r.file, true) == Outcome::Accepted)
        .count();
    println!(
        "{accepted} of {} real CIPs accepted (with the trust declaration)",
        rows.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The source line is kept in every copied file, as the fixtures' README asks.
#[test]
fn every_copied_cip_keeps_its_source_line() {
    for row in rows() {
        let text = std::fs::read_to_string(dir().join(&row.file)).expect("CIP file");
        assert!(text.starts_with("# source: "), "{}", row.file);
    }
}
