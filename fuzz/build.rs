//! Converts `../test_data/settings/*.yaml` to JSON at build time, for `validate_request` and
//! the seed generator: `$OUT_DIR/test_settings.rs` defines
//! `TEST_SETTINGS: &[(&str, &str)]`, (file stem, settings JSON), sorted by name.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test_data/settings");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("test_data/settings")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    entries.sort();
    let mut out = String::from("pub const TEST_SETTINGS: &[(&str, &str)] = &[\n");
    for path in entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json = serde_json::to_string(&value).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy();
        writeln!(out, "    ({stem:?}, {json:?}),").unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("test_settings.rs");
    std::fs::write(dest, out).unwrap();
}
