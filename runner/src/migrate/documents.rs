//! The YAML documents of one input file, each parsed on its own, so that one document that is
//! not valid YAML is reported (with its line and column in the file) and the others are still
//! read.
//!
//! `serde_yaml`'s multi-document `Deserializer` cannot do this: once libyaml's parser has failed
//! it keeps returning the same error, so the stream ends at the first bad document (yaml_serde
//! 0.10 `src/libyaml/parser.rs` `Parser::next`, `src/loader.rs` `Loader::next_document`).
//! [`split`] therefore cuts the text at the document markers first, as the YAML 1.2 spec
//! defines them (§9.1.3, §9.1.4, `c-forbidden`): a line that starts with `---` (directives end)
//! or `...` (document end), followed by a space, a tab or the end of the line. Such a line ends
//! a document even inside a block scalar or a quoted string (the spec forbids it there), so the
//! cut never falls inside a document libyaml would read as one. The unit tests check that valid
//! streams give the same documents as the streaming parser.

use serde_yaml::Value;

/// One document's text and where it starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentText<'a> {
    /// The text, from its first line (its `---`, or the comments and directives before it) to
    /// the line before the next document.
    pub text: &'a str,
    /// 0-based number of the document's first line in the file.
    pub first_line: usize,
}

/// `---` or `...` at the start of `line`, followed by a space, a tab or the end of the line.
fn marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Whether `line` is part of no node: blank, a comment, or a directive (`%YAML`, `%TAG`).
fn outside_nodes(line: &str) -> bool {
    let trimmed = line.trim_start_matches([' ', '\t']);
    trimmed.trim_end_matches(['\r', '\n']).is_empty()
        || trimmed.starts_with('#')
        || line.starts_with('%')
}

/// Splits a YAML stream into its documents, in order.
///
/// A `---` line starts a new document unless everything before it in the current one is
/// blank lines, comments or directives (then it is that document's own start); a `...` line
/// ends the current document. Text after the last document that is only blank lines and
/// comments is no document, as for libyaml. An input without any node gives no document at
/// all (libyaml gives one empty document; both mean nothing to read). A leading byte-order mark
/// is skipped.
pub fn split(stream: &str) -> Vec<DocumentText<'_>> {
    let stream = stream.strip_prefix('\u{feff}').unwrap_or(stream);
    let mut documents = Vec::new();
    // The current document: its start (byte offset, line), whether it has a node line or a
    // `---` of its own yet.
    let (mut start, mut start_line) = (0, 0);
    let (mut has_node, mut has_marker) = (false, false);
    let mut offset = 0;
    for (number, line) in stream.split_inclusive('\n').enumerate() {
        if marker(line, "---") {
            if has_node || has_marker {
                documents.push(DocumentText {
                    text: &stream[start..offset],
                    first_line: start_line,
                });
                (start, start_line) = (offset, number);
            }
            has_marker = true;
            // `--- value` holds a node on the marker's line.
            has_node = !outside_nodes(line[3..].trim_start_matches([' ', '\t']));
        } else if marker(line, "...") {
            offset += line.len();
            if has_node || has_marker {
                documents.push(DocumentText {
                    text: &stream[start..offset],
                    first_line: start_line,
                });
            }
            (start, start_line, has_node, has_marker) = (offset, number + 1, false, false);
            continue;
        } else if !outside_nodes(line) {
            has_node = true;
        }
        offset += line.len();
    }
    if has_node || has_marker {
        documents.push(DocumentText {
            text: &stream[start..],
            first_line: start_line,
        });
    }
    documents
}

/// Parses one document of [`split`].
///
/// # Errors
/// The parser's message with positions in the whole file: `found unknown escape character at
/// line 23 column 41, while parsing a quoted scalar at line 23 column 26`, or, for an error
/// whose text has no position (`duplicate entry with key "a"`), the text followed by ` at line
/// L column C`. The document is parsed again after as many empty lines as precede it, so that
/// libyaml itself counts the lines (only on this error path).
pub fn parse(document: &DocumentText<'_>) -> Result<Value, String> {
    let first = match serde_yaml::from_str::<Value>(document.text) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let padded = "\n".repeat(document.first_line) + document.text;
    let error = serde_yaml::from_str::<Value>(&padded)
        .err()
        .unwrap_or(first);
    let text = error.to_string();
    match error.location() {
        Some(location) if !text.contains(" at line ") => Err(format!(
            "{text} at line {} column {}",
            location.line(),
            location.column()
        )),
        _ => Err(text),
    }
}

/// A hint for a parser message that has a common cause: a backslash in a double-quoted
/// string (`subjectRegExp: "https://github\.com/…"`), which YAML reads as an escape sequence.
pub fn hint(message: &str) -> Option<&'static str> {
    message.starts_with("found unknown escape character").then_some(
        "in a double-quoted YAML string a backslash starts an escape sequence: write \\\\ for a backslash (\"https://github\\\\.com/.*\"), or single-quote the string ('https://github\\.com/.*')",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn texts(stream: &str) -> Vec<(&str, usize)> {
        split(stream)
            .into_iter()
            .map(|d| (d.text, d.first_line))
            .collect()
    }

    #[test]
    fn cuts_at_markers_with_their_first_lines() {
        assert_eq!(texts(""), Vec::<(&str, usize)>::new());
        assert_eq!(texts("# only a comment\n\n"), Vec::<(&str, usize)>::new());
        assert_eq!(texts("a: 1\n"), [("a: 1\n", 0)]);
        assert_eq!(
            texts("# head\n---\na: 1\n---\nb: 2\n"),
            [("# head\n---\na: 1\n", 0), ("---\nb: 2\n", 3)]
        );
        assert_eq!(
            texts("a: 1\n---\n---\n"),
            [("a: 1\n", 0), ("---\n", 1), ("---\n", 2)]
        );
        assert_eq!(
            texts("%YAML 1.2\n---\na: 1\n...\n# tail\n"),
            [("%YAML 1.2\n---\na: 1\n...\n", 0)]
        );
        assert_eq!(
            texts("--- {a: 1}\n--- [b]\n"),
            [("--- {a: 1}\n", 0), ("--- [b]\n", 1)]
        );
        // Not markers: indented, or followed by other characters.
        assert_eq!(
            texts("a: |\n  ---\nb: ---x\n----\n"),
            [("a: |\n  ---\nb: ---x\n----\n", 0)]
        );
        // CRLF line ends, a byte-order mark.
        assert_eq!(
            texts("\u{feff}a: 1\r\n---\r\nb: 2\r\n"),
            [("a: 1\r\n", 0), ("---\r\nb: 2\r\n", 1)]
        );
    }

    /// Valid streams: the same documents as serde_yaml's own multi-document parser.
    #[test]
    fn valid_streams_give_the_streaming_parsers_documents() {
        let streams = [
            "a: 1\n",
            "a: 1\n---\nb: 2\n",
            "---\na: 1\n---\nb: 2\n---\n",
            "# c\n---\n# c\na: 1\n...\n---\nb: 2\n...\n",
            "%YAML 1.2\n---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n",
            "--- |\n  text\n--- >\n  folded\n",
            "a: |\n  ---x\n  ...y\nb: \"--- in a string\"\n",
            "kind: List\nitems:\n- {kind: ClusterImagePolicy}\n---\n- 1\n- 2\n",
            "a: &x 1\nb: *x\n---\nc: &x 2\nd: *x\n",
            "a: 1\r\n---\r\nb: 2\r\n",
        ];
        for stream in streams {
            let streamed: Vec<Value> = serde_yaml::Deserializer::from_str(stream)
                .map(|d| Value::deserialize(d).expect("valid"))
                .collect();
            let split: Vec<Value> = split(stream)
                .iter()
                .map(|d| parse(d).expect("valid"))
                .collect();
            assert_eq!(split, streamed, "{stream:?}");
        }
    }

    #[test]
    fn errors_have_the_files_line_and_column() {
        let stream = "a: 1\n---\nb: \"x\\.y\"\n---\nc: 3\n---\nd: 1\nd: 2\n";
        let documents = split(stream);
        assert_eq!(documents.len(), 4);
        assert_eq!(
            parse(&documents[0]),
            Ok(serde_yaml::from_str("a: 1").expect("yaml"))
        );
        assert_eq!(
            parse(&documents[1]),
            Err("found unknown escape character at line 3 column 6, while parsing a quoted scalar at line 3 column 4".to_owned())
        );
        assert_eq!(
            parse(&documents[2]),
            Ok(serde_yaml::from_str("c: 3").expect("yaml"))
        );
        assert_eq!(
            parse(&documents[3]),
            Err("duplicate entry with key \"d\" at line 7 column 1".to_owned())
        );
    }
}
