//! The CUE lexer: source text → tokens with their line and column.
//!
//! Follows the CUE spec (cue-lang/cue `doc/ref/spec.md`, "Lexical elements"): `//` comments,
//! identifiers (`#` and `_` prefixes are kept in the name, for the parser to refuse
//! definitions and hidden fields by name), decimal/`0x`/`0o`/`0b` integers with `_`
//! separators, decimal floats, double-quoted strings with Go escapes, and the automatic comma
//! ("Commas": a comma is inserted after a line's last token when it is an identifier, a
//! keyword, a literal, `)`, `]`, `}` or `...`).
//!
//! Refused here, by name and position (outside the subset [`super`] documents): string
//! interpolation `\(…)`, multi-line strings `"""`, raw strings `#"…"#`, byte literals `'…'`,
//! number multipliers (`1Ki`), attributes `@…`.

use super::Pos;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Identifier or keyword (`package`, `import`, `let`, `if`, `for`, `in`, `null`, `true`,
    /// `false`), possibly starting with `#` or `_`.
    Ident(String),
    /// A string literal, unescaped.
    Str(String),
    /// An integer literal.
    Int(i128),
    /// A float literal: its value.
    Float(f64),
    /// An operator or delimiter, e.g. `{`, `<=`, `...`.
    Punct(&'static str),
    /// `,`, written or inserted.
    Comma,
    /// End of input.
    Eof,
}

/// Operators and delimiters, longest first.
const PUNCTS: &[&str] = &[
    "...", "<=", ">=", "!=", "=~", "!~", "==", "&&", "||", "{", "}", "[", "]", "(", ")", ":", ".",
    "&", "|", "*", "<", ">", "!", "=", "+", "-", "/", "?",
];

/// Tokenises `src`. Errors: `(position, message)`.
pub fn lex(src: &str) -> Result<Vec<(Tok, Pos)>, (Pos, String)> {
    let mut out: Vec<(Tok, Pos)> = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let needs_comma = |out: &Vec<(Tok, Pos)>| match out.last() {
        Some((Tok::Ident(_) | Tok::Str(_) | Tok::Int(_) | Tok::Float(_), _)) => true,
        Some((Tok::Punct(p), _)) => matches!(*p, ")" | "]" | "}" | "..."),
        _ => false,
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        if c == '\n' {
            if needs_comma(&out) {
                out.push((Tok::Comma, pos));
            }
            i += 1;
            line += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        // `_|_` is one token in CUE (spec "Bottom and errors", `bottom_lit`), not `_ | _`.
        if c == '_' && chars.get(i + 1) == Some(&'|') && chars.get(i + 2) == Some(&'_') {
            return Err((pos, "bottom (_|_) is not supported".into()));
        }
        if c.is_alphabetic() || c == '_' || c == '$' || (c == '#' && ident_start(chars.get(i + 1)))
        {
            i += 1;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), pos));
        } else if c == '#' {
            return Err((pos, "raw strings (#\"…\"#) are not supported".into()));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (tok, len) = number(&chars[i..]).map_err(|e| (pos, e))?;
            i += len;
            out.push((tok, pos));
        } else if c == '"' {
            if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                return Err((pos, "multi-line strings (\"\"\") are not supported".into()));
            }
            let (text, len) = string(&chars[i..]).map_err(|(off, e)| {
                (
                    Pos {
                        line,
                        col: col + off as u32,
                    },
                    e,
                )
            })?;
            i += len;
            out.push((Tok::Str(text), pos));
        } else if c == '\'' {
            return Err((pos, "byte literals ('…') are not supported".into()));
        } else if c == '@' {
            return Err((pos, "attributes (@…) are not supported".into()));
        } else if c == ',' {
            i += 1;
            out.push((Tok::Comma, pos));
        } else if let Some(p) = PUNCTS.iter().find(|p| {
            p.chars()
                .enumerate()
                .all(|(k, pc)| chars.get(i + k) == Some(&pc))
        }) {
            i += p.len();
            out.push((Tok::Punct(p), pos));
        } else {
            return Err((pos, format!("illegal character {c:?}")));
        }
        col += (i - start) as u32;
    }
    let pos = Pos { line, col };
    if needs_comma(&out) {
        out.push((Tok::Comma, pos));
    }
    out.push((Tok::Eof, pos));
    Ok(out)
}

fn ident_start(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphabetic() || *c == '_' || *c == '$')
}

/// A number literal at the start of `s`: the token and its length in chars.
fn number(s: &[char]) -> Result<(Tok, usize), String> {
    let mut n = 0;
    let radix = match (s.first(), s.get(1)) {
        (Some('0'), Some('x' | 'X')) => 16,
        (Some('0'), Some('o' | 'O')) => 8,
        (Some('0'), Some('b' | 'B')) => 2,
        _ => 10,
    };
    if radix != 10 {
        n = 2;
        let start = n;
        while n < s.len() && (s[n].is_digit(radix) || s[n] == '_') {
            n += 1;
        }
        let digits: String = s[start..n].iter().filter(|c| **c != '_').collect();
        let v = i128::from_str_radix(&digits, radix)
            .map_err(|_| "invalid integer literal".to_string())?;
        return suffix_check(s, n).map(|_| (Tok::Int(v), n));
    }
    let mut is_float = false;
    while n < s.len() && (s[n].is_ascii_digit() || s[n] == '_') {
        n += 1;
    }
    if n < s.len() && s[n] == '.' && s.get(n + 1).is_some_and(char::is_ascii_digit) {
        is_float = true;
        n += 1;
        while n < s.len() && (s[n].is_ascii_digit() || s[n] == '_') {
            n += 1;
        }
    } else if n < s.len() && s[n] == '.' && s.get(n + 1).is_none_or(|c| *c != '.') {
        // `1.` is a float in CUE.
        is_float = true;
        n += 1;
    }
    if n < s.len() && (s[n] == 'e' || s[n] == 'E') {
        let mut m = n + 1;
        if m < s.len() && (s[m] == '+' || s[m] == '-') {
            m += 1;
        }
        if m < s.len() && s[m].is_ascii_digit() {
            is_float = true;
            n = m;
            while n < s.len() && s[n].is_ascii_digit() {
                n += 1;
            }
        }
    }
    suffix_check(s, n)?;
    let text: String = s[..n].iter().filter(|c| **c != '_').collect();
    // A decimal literal is `0` or starts with 1-9 (spec "Integer and number literals",
    // `decimal_lit`): cuelang refuses `017`.
    if !is_float && text.len() > 1 && text.starts_with('0') {
        return Err(format!(
            "illegal integer number {text:?}: a decimal literal cannot start with 0"
        ));
    }
    if is_float {
        let v: f64 = text
            .parse()
            .map_err(|_| "invalid float literal".to_string())?;
        // cuelang's numbers are arbitrary-precision decimals; one past f64's range would be
        // infinite here and equal to every other.
        if !v.is_finite() {
            return Err(format!(
                "float literal {text} is out of the range this evaluator reads"
            ));
        }
        Ok((Tok::Float(v), n))
    } else {
        let v: i128 = text
            .parse()
            .map_err(|_| "integer literal out of range".to_string())?;
        Ok((Tok::Int(v), n))
    }
}

/// Refuses a multiplier suffix (`1K`, `2Mi`) or letters glued to a number.
fn suffix_check(s: &[char], n: usize) -> Result<(), String> {
    match s.get(n) {
        Some(c) if c.is_alphanumeric() || *c == '_' => {
            Err("number multipliers (1K, 1Mi, …) are not supported".into())
        }
        _ => Ok(()),
    }
}

/// A double-quoted string at the start of `s`: its value and length in chars. Errors carry
/// the char offset of the problem.
fn string(s: &[char]) -> Result<(String, usize), (usize, String)> {
    let mut out = String::new();
    let mut n = 1;
    loop {
        match s.get(n) {
            None | Some('\n') => return Err((0, "string literal not terminated".into())),
            Some('"') => return Ok((out, n + 1)),
            Some('\\') => {
                let esc = s.get(n + 1).copied();
                n += 2;
                match esc {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('v') => out.push('\u{b}'),
                    Some('a') => out.push('\u{7}'),
                    Some('/') => out.push('/'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some('(') => {
                        return Err((
                            n - 2,
                            "string interpolation (\\(…)) is not supported".into(),
                        ));
                    }
                    Some(u @ ('u' | 'U')) => {
                        let len = if u == 'u' { 4 } else { 8 };
                        let hex: String = s.iter().skip(n).take(len).collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == len)
                            .and_then(char::from_u32)
                            .ok_or((n - 2, "invalid unicode escape".to_string()))?;
                        out.push(ch);
                        n += len;
                    }
                    _ => return Err((n - 2, "unknown escape sequence".into())),
                }
            }
            Some(c) => {
                out.push(*c);
                n += 1;
            }
        }
    }
}
