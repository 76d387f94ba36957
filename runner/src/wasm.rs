//! Byte-level helpers for wasm binary modules: walking the sections, reading
//! and replacing a custom section, and collecting the data segments and export
//! names (the last two with `wasmparser`, the reader wasmtime itself uses).
//!
//! kwctl does the same with `walrus` (kubewarden-controller
//! `crates/kwctl/src/annotate.rs`) and reads the metadata back with
//! `wasmparser` (`crates/policy-evaluator/src/policy_metadata.rs`,
//! `Metadata::from_contents`). Here the module is not re-encoded: annotating
//! only drops the custom sections of one name and appends a new one, so every
//! other byte of the module stays as it was.

use std::ops::Range;

use anyhow::{Context, Result, anyhow, bail};

/// The 8-byte preamble of a core wasm module (magic + version 1).
const MODULE_PREAMBLE: &[u8; 8] = b"\0asm\x01\0\0\0";

/// Reads one unsigned LEB128 `u32` at `*pos`.
fn read_leb_u32(bytes: &[u8], pos: &mut usize) -> Result<u32> {
    let mut result: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes
            .get(*pos)
            .ok_or_else(|| anyhow!("truncated wasm section header"))?;
        *pos += 1;
        result |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(result);
        }
    }
    bail!("invalid LEB128 in wasm section header")
}

/// Appends `value` as unsigned LEB128.
fn write_leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let low = u8::try_from(value & 0x7f).unwrap_or_default();
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// One section of a module, as byte ranges into the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section id (0 = custom).
    pub id: u8,
    /// The whole section, header included.
    pub full: Range<usize>,
    /// For a custom section, its name (else empty).
    pub name: String,
    /// The payload (for a custom section: after the name).
    pub payload: Range<usize>,
}

/// The sections of a binary module, in order.
///
/// # Errors
/// When `bytes` is not a wasm binary or is malformed at the section level.
pub fn sections(bytes: &[u8]) -> Result<Vec<Section>> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        bail!("not a WebAssembly binary module");
    }
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < bytes.len() {
        let start = pos;
        let id = bytes[pos];
        pos += 1;
        let size = read_leb_u32(bytes, &mut pos)? as usize;
        let end = pos
            .checked_add(size)
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| anyhow!("truncated wasm section"))?;
        let (name, payload) = if id == 0 {
            let mut p = pos;
            let name_len = read_leb_u32(bytes, &mut p)? as usize;
            let name_end = p
                .checked_add(name_len)
                .filter(|e| *e <= end)
                .ok_or_else(|| anyhow!("truncated wasm custom section name"))?;
            let name = std::str::from_utf8(&bytes[p..name_end])
                .context("wasm custom section name is not UTF-8")?;
            (name.to_owned(), name_end..end)
        } else {
            (String::new(), pos..end)
        };
        out.push(Section {
            id,
            full: start..end,
            name,
            payload,
        });
        pos = end;
    }
    Ok(out)
}

/// Returns the payload of the first custom section named `name`, if any
/// (the one kwctl's `Metadata::from_contents` reads).
///
/// # Errors
/// When `bytes` is not a well-formed wasm binary at the section level.
pub fn custom_section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    Ok(sections(bytes)?
        .into_iter()
        .find(|s| s.id == 0 && s.name == name)
        .map(|s| &bytes[s.payload]))
}

/// A copy of the module without any custom section named `name`.
///
/// # Errors
/// As [`sections`].
pub fn without_custom_section(bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut out = bytes[..8].to_vec();
    for section in sections(bytes)? {
        if !(section.id == 0 && section.name == name) {
            out.extend_from_slice(&bytes[section.full]);
        }
    }
    Ok(out)
}

/// A copy of the module where the custom section `name` holds `payload`:
/// every existing section of that name is dropped and one new section is
/// appended at the end (custom sections may appear anywhere; walrus, which
/// kwctl uses, also writes them after the known sections).
///
/// # Errors
/// As [`sections`]; also when the name or payload is larger than 4 GiB.
pub fn with_custom_section(bytes: &[u8], name: &str, payload: &[u8]) -> Result<Vec<u8>> {
    let mut out = without_custom_section(bytes, name)?;
    let name_len = u32::try_from(name.len()).context("custom section name too long")?;
    let mut content = Vec::with_capacity(name.len() + payload.len() + 5);
    write_leb_u32(&mut content, name_len);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let size = u32::try_from(content.len()).context("custom section too large")?;
    out.push(0);
    write_leb_u32(&mut out, size);
    out.extend_from_slice(&content);
    Ok(out)
}

/// What `annotate` needs from a module's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleContents {
    /// The bytes of every data segment, each followed by a `0xFF` separator
    /// (as kwctl's `wasm_scanner::scan`, so that a match never spans two
    /// segments).
    pub data: Vec<u8>,
    /// The names of the module's exports.
    pub exports: Vec<String>,
}

/// Reads the data segments and the export names of a core module.
///
/// # Errors
/// When `bytes` is not a core wasm binary module or is malformed.
pub fn module_contents(bytes: &[u8]) -> Result<ModuleContents> {
    if !bytes.starts_with(MODULE_PREAMBLE) {
        bail!("not a WebAssembly binary module (version 1)");
    }
    let mut contents = ModuleContents::default();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload? {
            wasmparser::Payload::DataSection(reader) => {
                for segment in reader {
                    contents.data.extend_from_slice(segment?.data);
                    contents.data.push(0xFF);
                }
            }
            wasmparser::Payload::ExportSection(reader) => {
                for export in reader {
                    contents.exports.push(export?.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal wasm binary: header + one custom section.
    fn wasm_with_custom(name: &str, payload: &[u8]) -> Vec<u8> {
        with_custom_section(MODULE_PREAMBLE, name, payload).expect("encode")
    }

    #[test]
    fn leb_round_trip() {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut out = Vec::new();
            write_leb_u32(&mut out, value);
            let mut pos = 0;
            assert_eq!(read_leb_u32(&out, &mut pos).expect("read"), value);
            assert_eq!(pos, out.len());
        }
        let mut out = Vec::new();
        write_leb_u32(&mut out, 624_485);
        assert_eq!(out, [0xE5, 0x8E, 0x26]);
    }

    #[test]
    fn finds_and_replaces_custom_sections() {
        let one = wasm_with_custom("io.kubewarden.metadata", b"{}");
        assert_eq!(
            custom_section(&one, "io.kubewarden.metadata").expect("parse"),
            Some(&b"{}"[..])
        );
        assert_eq!(custom_section(&one, "other").expect("parse"), None);
        let big = vec![b'x'; 300];
        let two = with_custom_section(&one, "other", &big).expect("add");
        let three = with_custom_section(&two, "io.kubewarden.metadata", b"[1]").expect("replace");
        let found: Vec<(String, Vec<u8>)> = sections(&three)
            .expect("parse")
            .into_iter()
            .map(|s| (s.name, three[s.payload].to_vec()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("other".to_owned(), big),
                ("io.kubewarden.metadata".to_owned(), b"[1]".to_vec())
            ]
        );
        assert_eq!(
            without_custom_section(&three, "io.kubewarden.metadata").expect("strip"),
            with_custom_section(MODULE_PREAMBLE, "other", &vec![b'x'; 300]).expect("encode")
        );
    }

    #[test]
    fn rejects_non_wasm_and_truncated() {
        assert!(custom_section(b"hello world!", "x").is_err());
        let mut bytes = wasm_with_custom("x", b"abc");
        bytes.truncate(bytes.len() - 1);
        assert!(custom_section(&bytes, "x").is_err());
        assert!(module_contents(b"(module)").is_err());
    }

    #[test]
    fn reads_data_segments_and_exports() {
        let wasm = wat::parse_str(
            r#"(module
                 (memory (export "memory") 1)
                 (data (i32.const 0) "kubewarden")
                 (data (i32.const 64) "oci")
                 (func (export "opa_eval")))"#,
        )
        .expect("wat");
        let contents = module_contents(&wasm).expect("parse");
        assert_eq!(contents.data, b"kubewarden\xFFoci\xFF");
        assert_eq!(contents.exports, vec!["memory", "opa_eval"]);
    }
}
