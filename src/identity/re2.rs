//! Identity expressions as cosign reads them: Go RE2 syntax, parsed here with `regex-syntax`.
//!
//! cosign compiles `issuerRegExp`/`subjectRegExp` with Go's `regexp.Compile` and matches them
//! unanchored with `MatchString` (sigstore/cosign `pkg/cosign/verify.go`
//! `CheckCertificatePolicy` L467-L531, at cosign d6d86c2). This policy parses them with
//! `regex-syntax` 0.8 (the parser the `regex` crate uses). The two
//! grammars agree on the common syntax but not everywhere; where `regex-syntax` accepts a
//! spelling that Go rejects or reads differently, the expression is refused here, so that no
//! decision is ever taken on a tree Go would not build. Go's rules are those of
//! `src/regexp/syntax/parse.go` (Go 1.25, which policy-controller v0.15 is built with):
//!
//! | spelling | Go | regex-syntax | here |
//! |---|---|---|---|
//! | `a**`, `a{2}{3}`, `a*??` (a repetition of a repetition) | error "invalid nested repetition operator" (`repeat`, `lastRepeat`) | nested repetition | refused |
//! | `a{1, 3}`, `a{ 2}`, `a{01}` | a literal `{` (`parseRepeat`, `parseInt` refuses spaces and leading zeros) | a counted repetition | refused |
//! | counts over 1000, alone or multiplied through nesting (`(a{100}){100}`) | error "invalid repeat count" (`repeatIsValid(re, 1000)`) | accepted | refused |
//! | `[[a]]`, `[a&&b]`, `[a--b]`, `[a~~b]` | `[` and `&`, `-`, `~` are class members | nested classes, set operations | refused |
//! | flags `x`, `u`, `R` | error "invalid or unsupported Perl syntax" (`parsePerlFlags` knows `i m s U`) | verbose, Unicode, CRLF modes | refused |
//! | `\<`, `\>`, `\b{start}`, … | `\<` is the literal `<`; the others are errors | word-boundary assertions | refused |
//! | `\u0041`, `\U00000041`, `\u{41}` | error "invalid escape sequence" | a literal | refused |
//! | capture names with `.`, `[`, `]` | error "invalid named capture" (`isValidCaptureName`: `[A-Za-z0-9_]+`) | accepted | refused |
//! | `\Q…\E`, `\C`, `\0`, octal | `\Q…\E` quotes, `\C` and backreferences are errors, `\0`… is octal | errors | refused (regex-syntax cannot parse it) |
//!
//! The Perl classes `\d`, `\s`, `\w` and the word boundaries `\b`, `\B` are ASCII in Go and
//! Unicode in `regex-syntax` (`.`, `\pL` and case folding are Unicode in both). For the host
//! checks ([`super`]) they are never turned into literal text (only `.`, read as a literal dot, a
//! narrowing, and case folds), so the difference cannot widen a decision; where the module
//! matches certificate texts itself ([`go_regex`]), they are rewritten to their ASCII meaning.

use regex_syntax::ast::{self, Ast, ClassSet, ClassSetItem, Flag, FlagsItemKind, GroupKind};
use regex_syntax::hir::Hir;

/// Go's largest repetition count (`parse.go`, `parse`: `min > 1000 || max > 1000`).
const MAX_REPEAT: u32 = 1000;

/// Parses `pattern` as Go's `regexp.Compile` would read it, into `regex-syntax`'s HIR (Unicode
/// mode, as the `regex` crate compiles it).
///
/// Errors: `regex-syntax` cannot parse it (its message), or it uses a spelling Go rejects or
/// reads differently (the table above), e.g. `a{1, 3}: a counted repetition must be written
/// {n}, {n,} or {n,m} without spaces or leading zeros, as Go's RE2 reads it`.
pub fn parse(pattern: &str) -> Result<Hir, String> {
    let ast = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| format!("regex is invalid: {e}"))?;
    check(&ast, pattern)?;
    regex_syntax::hir::translate::Translator::new()
        .translate(pattern, &ast)
        .map_err(|e| format!("regex is invalid: {e}"))
}

/// `pattern` compiled to match as Go's `regexp` does (for choosing candidate identities from a
/// `.sig` manifest's certificates, [`crate::authority`]): the spellings Go reads differently
/// refused as [`parse`] does, and the Perl classes and word boundaries, which are ASCII in Go
/// (`\d` = `[0-9]`, `\w` = `[0-9A-Za-z_]`, `\s` = `[\t\n\f\r ]`, `\b` on `\w`; Go
/// `src/regexp/syntax/perl_groups.go`, `doc.go`) but Unicode in `regex-syntax`, rewritten to
/// their ASCII meaning in the syntax tree before it is compiled. Everything else (`.`, `\pL`,
/// case folding) is Unicode-aware in both.
///
/// Errors: as [`parse`].
pub fn go_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut ast = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| format!("regex is invalid: {e}"))?;
    check(&ast, pattern)?;
    asciify(&mut ast);
    let hir = regex_syntax::hir::translate::Translator::new()
        .translate(pattern, &ast)
        .map_err(|e| format!("regex is invalid: {e}"))?;
    // The HIR prints as an equivalent expression (regex-syntax's `Display` contract).
    regex::Regex::new(&hir.to_string()).map_err(|e| format!("regex is invalid: {e}"))
}

/// Rewrites Perl classes and word boundaries to their ASCII (Go) meaning, in place.
fn asciify(node: &mut Ast) {
    match node {
        Ast::ClassPerl(perl) => *node = Ast::ClassBracketed(Box::new(perl_class(perl))),
        Ast::Assertion(assertion)
            if matches!(
                assertion.kind,
                ast::AssertionKind::WordBoundary | ast::AssertionKind::NotWordBoundary
            ) =>
        {
            let span = assertion.span;
            let inner = std::mem::replace(node, Ast::empty(span));
            *node = Ast::group(ast::Group {
                span,
                kind: GroupKind::NonCapturing(ast::Flags {
                    span,
                    items: vec![
                        ast::FlagsItem {
                            span,
                            kind: FlagsItemKind::Negation,
                        },
                        ast::FlagsItem {
                            span,
                            kind: FlagsItemKind::Flag(Flag::Unicode),
                        },
                    ],
                }),
                ast: Box::new(inner),
            });
        }
        Ast::ClassBracketed(class) => asciify_set(&mut class.kind),
        Ast::Repetition(rep) => asciify(&mut rep.ast),
        Ast::Group(group) => asciify(&mut group.ast),
        Ast::Alternation(alt) => alt.asts.iter_mut().for_each(asciify),
        Ast::Concat(concat) => concat.asts.iter_mut().for_each(asciify),
        _ => {}
    }
}

fn asciify_set(set: &mut ClassSet) {
    match set {
        ClassSet::Item(item) => asciify_item(item),
        ClassSet::BinaryOp(op) => {
            asciify_set(&mut op.lhs);
            asciify_set(&mut op.rhs);
        }
    }
}

fn asciify_item(item: &mut ClassSetItem) {
    match item {
        ClassSetItem::Perl(perl) => *item = ClassSetItem::Bracketed(Box::new(perl_class(perl))),
        ClassSetItem::Bracketed(class) => asciify_set(&mut class.kind),
        ClassSetItem::Union(union) => union.items.iter_mut().for_each(asciify_item),
        _ => {}
    }
}

/// A Perl class (`\d`, `\s`, `\w`, negated or not) as the bracketed ASCII class Go means.
fn perl_class(perl: &ast::ClassPerl) -> ast::ClassBracketed {
    let span = perl.span;
    let literal = |c: char| ast::Literal {
        span,
        kind: ast::LiteralKind::Verbatim,
        c,
    };
    let range = |start: char, end: char| {
        ClassSetItem::Range(ast::ClassSetRange {
            span,
            start: literal(start),
            end: literal(end),
        })
    };
    let items = match perl.kind {
        ast::ClassPerlKind::Digit => vec![range('0', '9')],
        ast::ClassPerlKind::Word => vec![
            range('0', '9'),
            range('A', 'Z'),
            range('a', 'z'),
            ClassSetItem::Literal(literal('_')),
        ],
        ast::ClassPerlKind::Space => ['\t', '\n', '\x0C', '\r', ' ']
            .into_iter()
            .map(|c| ClassSetItem::Literal(literal(c)))
            .collect(),
    };
    ast::ClassBracketed {
        span,
        negated: perl.negated,
        kind: ClassSet::Item(ClassSetItem::Union(ast::ClassSetUnion { span, items })),
    }
}

/// Refuses what Go parses differently (module docs). Recursion is bounded by regex-syntax's
/// nesting limit (250).
fn check(node: &Ast, pattern: &str) -> Result<(), String> {
    match node {
        Ast::Empty(_) | Ast::Dot(_) | Ast::ClassPerl(_) | Ast::ClassUnicode(_) => Ok(()),
        Ast::Flags(set) => flags(&set.flags),
        Ast::Literal(literal) => literal_kind(literal),
        Ast::Assertion(assertion) => {
            use ast::AssertionKind::*;
            match assertion.kind {
                StartLine | EndLine | StartText | EndText | WordBoundary | NotWordBoundary => {
                    Ok(())
                }
                _ => Err(format!(
                    "{}: only ^ $ \\A \\z \\b \\B are assertions in Go's RE2, which cosign uses",
                    span_text(pattern, &assertion.span)
                )),
            }
        }
        Ast::ClassBracketed(class) => class_set(&class.kind, pattern),
        Ast::Repetition(rep) => {
            if matches!(*rep.ast, Ast::Repetition(_)) {
                return Err(format!(
                    "{}: Go's RE2 refuses a repetition of a repetition (invalid nested repetition operator); group the inner one: (?:…)",
                    span_text(pattern, &rep.span)
                ));
            }
            if let ast::RepetitionKind::Range(range) = &rep.op.kind {
                counted(pattern, &rep.op.span)?;
                let (min, max) = bounds(range);
                if (min >= 2 || max.is_some_and(|m| m >= 2)) && !repeat_is_valid(node, MAX_REPEAT) {
                    return Err(format!(
                        "{}: Go's RE2 refuses more than {MAX_REPEAT} repetitions, counted through nesting (invalid repeat count)",
                        span_text(pattern, &rep.span)
                    ));
                }
            }
            check(&rep.ast, pattern)
        }
        Ast::Group(group) => {
            match &group.kind {
                GroupKind::CaptureIndex(_) => {}
                GroupKind::CaptureName { name, .. } => {
                    if !name
                        .name
                        .chars()
                        .all(|c| c == '_' || c.is_ascii_alphanumeric())
                    {
                        return Err(format!(
                            "capture name {:?}: Go's RE2 allows only [A-Za-z0-9_] in names",
                            name.name
                        ));
                    }
                }
                GroupKind::NonCapturing(set) => flags(set)?,
            }
            check(&group.ast, pattern)
        }
        Ast::Alternation(alt) => alt.asts.iter().try_for_each(|a| check(a, pattern)),
        Ast::Concat(concat) => concat.asts.iter().try_for_each(|a| check(a, pattern)),
    }
}

fn flags(set: &ast::Flags) -> Result<(), String> {
    for item in &set.items {
        if let FlagsItemKind::Flag(flag) = &item.kind
            && !matches!(
                flag,
                Flag::CaseInsensitive | Flag::MultiLine | Flag::DotMatchesNewLine | Flag::SwapGreed
            )
        {
            return Err(format!(
                "flag {flag:?}: Go's RE2 knows only the flags i, m, s and U"
            ));
        }
    }
    Ok(())
}

fn literal_kind(literal: &ast::Literal) -> Result<(), String> {
    match &literal.kind {
        ast::LiteralKind::HexFixed(ast::HexLiteralKind::X)
        | ast::LiteralKind::HexBrace(ast::HexLiteralKind::X)
        | ast::LiteralKind::Verbatim
        | ast::LiteralKind::Meta
        | ast::LiteralKind::Superfluous
        | ast::LiteralKind::Special(_) => Ok(()),
        _ => Err(format!(
            "the escape for {:?}: Go's RE2 has no \\u or \\U escapes; write \\x{{…}}",
            literal.c
        )),
    }
}

fn class_set(set: &ClassSet, pattern: &str) -> Result<(), String> {
    match set {
        ClassSet::BinaryOp(op) => Err(format!(
            "{}: Go's RE2 has no class set operations (&&, --, ~~): it reads them as class members",
            span_text(pattern, &op.span)
        )),
        ClassSet::Item(item) => class_item(item, pattern),
    }
}

fn class_item(item: &ClassSetItem, pattern: &str) -> Result<(), String> {
    match item {
        ClassSetItem::Bracketed(inner) => Err(format!(
            "{}: Go's RE2 has no nested classes: it reads [ inside a class as a member",
            span_text(pattern, &inner.span)
        )),
        ClassSetItem::Union(union) => union.items.iter().try_for_each(|i| class_item(i, pattern)),
        ClassSetItem::Literal(literal) => literal_kind(literal),
        ClassSetItem::Range(range) => {
            literal_kind(&range.start)?;
            literal_kind(&range.end)
        }
        ClassSetItem::Empty(_)
        | ClassSetItem::Ascii(_)
        | ClassSetItem::Unicode(_)
        | ClassSetItem::Perl(_) => Ok(()),
    }
}

/// A counted repetition must be spelled as Go's `parseRepeat` accepts it: `{n}`, `{n,}` or
/// `{n,m}`, decimal without spaces or leading zeros (Go's `parseInt`), optionally followed by
/// the non-greedy `?`.
fn counted(pattern: &str, span: &ast::Span) -> Result<(), String> {
    let text = span_text(pattern, span);
    let body = text.strip_suffix('?').unwrap_or(text);
    let ok = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .is_some_and(|inner| {
            let (min, max) = match inner.split_once(',') {
                Some((min, max)) => (min, Some(max)),
                None => (inner, None),
            };
            let number = |s: &str| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (s == "0" || !s.starts_with('0'))
            };
            number(min) && max.is_none_or(|m| m.is_empty() || number(m))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{text}: a counted repetition must be written {{n}}, {{n,}} or {{n,m}} without spaces or leading zeros, as Go's RE2 reads it (otherwise Go reads the {{ as a literal)"
        ))
    }
}

fn bounds(range: &ast::RepetitionRange) -> (u32, Option<u32>) {
    match *range {
        ast::RepetitionRange::Exactly(n) => (n, Some(n)),
        ast::RepetitionRange::AtLeast(n) => (n, None),
        ast::RepetitionRange::Bounded(m, n) => (m, Some(n)),
    }
}

/// Go's `repeatIsValid` (`parse.go`): the counted repetitions along any nesting path multiply
/// to at most `n` copies of the innermost expression (`{n,}` counts `n`; a `{0}` ends the path).
fn repeat_is_valid(node: &Ast, mut n: u32) -> bool {
    if let Ast::Repetition(rep) = node
        && let ast::RepetitionKind::Range(range) = &rep.op.kind
    {
        let (min, max) = bounds(range);
        let m = max.unwrap_or(min);
        if m == 0 {
            return true;
        }
        if m > n {
            return false;
        }
        n /= m;
    }
    match node {
        Ast::Repetition(rep) => repeat_is_valid(&rep.ast, n),
        Ast::Group(group) => repeat_is_valid(&group.ast, n),
        Ast::Alternation(alt) => alt.asts.iter().all(|a| repeat_is_valid(a, n)),
        Ast::Concat(concat) => concat.asts.iter().all(|a| repeat_is_valid(a, n)),
        _ => true,
    }
}

fn span_text<'p>(pattern: &'p str, span: &ast::Span) -> &'p str {
    pattern
        .get(span.start.offset..span.end.offset)
        .unwrap_or(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(pattern: &str) -> String {
        parse(pattern).expect_err(pattern)
    }

    #[test]
    fn common_syntax_parses() {
        for p in [
            r"^https://github\.com/acme/",
            r"(?i)^https://github\.com/",
            r"(?m)^a$",
            r"(?s:.)",
            r"(?U)a*",
            r"(?-i:a)",
            r"a{2}",
            r"a{2,}",
            r"a{0,3}?",
            r"a{1000}",
            r"(?:a*)*",
            r"(?P<name>a)(?<other_1>b)",
            r"[a-z_.-]",
            r"[[:alpha:]]",
            r"\x41\x{42}\t\n\%\/\-",
            r"\A\z\b\B",
            r"^*",
            "",
        ] {
            assert!(parse(p).is_ok(), "{p}: {:?}", parse(p));
        }
    }

    #[test]
    fn go_reads_differently_or_rejects() {
        assert!(refused("a**").contains("repetition of a repetition"));
        assert!(refused("a{2}{3}").contains("repetition of a repetition"));
        assert!(refused("a*??").contains("repetition of a repetition"));
        assert!(refused("a{1, 3}").contains("without spaces or leading zeros"));
        assert!(refused("a{ 2}").contains("without spaces or leading zeros"));
        assert!(refused("a{01}").contains("without spaces or leading zeros"));
        assert!(refused("a{1001}").contains("more than 1000"));
        assert!(refused("(a{100}){100}").contains("more than 1000"));
        assert!(refused("(?:(?:a{10}){10}){11}").contains("more than 1000"));
        assert!(parse("(?:(?:a{10}){10}){10}").is_ok());
        assert!(refused("[[a]]").contains("no nested classes"));
        assert!(refused("[a&&b]").contains("set operations"));
        assert!(refused("[a--b]").contains("set operations"));
        assert!(refused("[a~~b]").contains("set operations"));
        assert!(refused("(?x)a b").contains("flags i, m, s and U"));
        assert!(refused("(?u:a)").contains("flags i, m, s and U"));
        assert!(refused("(?R)^a").contains("flags i, m, s and U"));
        assert!(refused(r"\<a").contains("assertions"));
        assert!(refused(r"\b{start}a").contains("assertions"));
        assert!(refused(r"\u0041").contains(r"no \u"));
        assert!(refused(r"[\U00000041]").contains(r"no \u"));
        assert!(refused("(?P<a.b>x)").contains("[A-Za-z0-9_]"));
        assert!(refused(r"\Qa.b\E").starts_with("regex is invalid: "));
        assert!(refused(r"\0").starts_with("regex is invalid: "));
        assert!(refused(r"\C").starts_with("regex is invalid: "));
    }

    /// Review finding: the `.sig` path matched `\d`, `\w`, `\s`, `\b` as Unicode classes;
    /// cosign's Go regexp reads them as ASCII (a subject with an Arabic-Indic digit passed
    /// `^build-\d+!ci\.example\.com$` here and not upstream).
    #[test]
    fn perl_classes_and_word_boundaries_match_as_go() {
        let m = |re: &str, text: &str| go_regex(re).unwrap().is_match(text);
        assert!(m(
            r"^build-\d+!ci\.example\.com$",
            "build-42!ci.example.com"
        ));
        assert!(!m(
            r"^build-\d+!ci\.example\.com$",
            "build-\u{661}!ci.example.com"
        ));
        assert!(
            regex::Regex::new(r"^build-\d+$")
                .unwrap()
                .is_match("build-\u{661}")
        );
        assert!(!m(r"^\w+$", "caf\u{e9}"));
        assert!(m(r"^\W$", "\u{e9}"));
        assert!(!m(r"^a\sb$", "a\u{b}b"), "Go's \\s has no vertical tab");
        assert!(m(r"^a\sb$", "a\x0cb"));
        assert!(!m(r"^a\sb$", "a\u{a0}b"));
        assert!(m(r"^[\d_]+$", "1_2"));
        assert!(!m(r"^[\d_]+$", "\u{661}"));
        assert!(m(r"^[^\D]$", "7"));
        assert!(!m(r"^[^\D]$", "\u{661}"));
        // \b on ASCII word characters: é is not one in Go.
        assert!(m(r"\bx", "\u{e9}x"));
        assert!(!m(r"\Bx", "\u{e9}x"));
        // Unicode classes, `.` and case folding stay Unicode, as in Go.
        assert!(m(r"^\pN$", "\u{661}"));
        assert!(m(r"^.$", "\u{e9}"));
        assert!(m("(?i)^\u{c9}$", "\u{e9}"));
        assert!(go_regex("a{1, 3}").is_err());
    }
}
