//! The CUE parser: tokens → [`File`], for the subset [`super`] documents.
//!
//! Grammar from the CUE spec (cue-lang/cue `doc/ref/spec.md`: "Package clause", "Import
//! declarations", "Struct literals", "List literals", "Operators", "Comprehensions"). Every
//! construct outside the subset is an error naming it at its position, never skipped.
//! Recursion is bounded by [`MAX_DEPTH`] (unary chains, brackets and `a: b: c:` shorthand all
//! count), so no input can exhaust the stack.

use super::Pos;
use super::ast::{Decl, Expr, File, ListLit, StructLit};
use super::lexer::Tok;

/// Deepest bracket nesting (`{`, `[`, `(`) accepted, checked on the tokens before parsing
/// ([`super::CuePolicy::compile`]).
pub const MAX_DEPTH: usize = 64;

/// Deepest recursion of the parser: each expression, struct, list, unary operator and level of
/// `a: b: c` shorthand counts (a struct inside a field counts two), so that a policy within
/// [`MAX_DEPTH`] brackets parses, and no input recurses further.
pub const MAX_PARSE_DEPTH: usize = 3 * MAX_DEPTH;

/// A parse error: position and message.
pub type Error = (Pos, String);

/// Parses tokens from [`super::lexer::lex`].
pub fn parse(toks: Vec<(Tok, Pos)>) -> Result<File, Error> {
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
        next_id: 1,
    };
    p.file()
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    at: usize,
    depth: usize,
    next_id: usize,
}

/// Binary operators by precedence level (spec, "Operator precedence"); `|` is level 1.
const LEVELS: [&[&str]; 6] = [
    &["&"],
    &["||"],
    &["&&"],
    &["==", "!=", "<", "<=", ">", ">=", "=~", "!~"],
    &["+", "-"],
    &["*", "/"],
];

impl Parser {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> &Tok {
        self.toks
            .get(self.at + k)
            .or(self.toks.last())
            .map(|t| &t.0)
            .unwrap_or(&Tok::Eof)
    }

    fn pos(&self) -> Pos {
        self.toks
            .get(self.at)
            .or(self.toks.last())
            .map(|t| t.1)
            .unwrap_or(Pos { line: 1, col: 1 })
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.at < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn expect(&mut self, p: &str) -> Result<(), Error> {
        if self.is(p) {
            self.bump();
            Ok(())
        } else {
            Err((
                self.pos(),
                format!("expected '{p}', found {}", describe(self.peek())),
            ))
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err((
                self.pos(),
                format!(
                    "nesting too deep (more than {MAX_PARSE_DEPTH} levels of expressions, structs and lists)"
                ),
            ));
        }
        Ok(())
    }

    fn id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    fn file(&mut self) -> Result<File, Error> {
        if matches!(self.peek(), Tok::Ident(k) if k == "package") {
            self.bump();
            match self.bump() {
                Tok::Ident(_) => {}
                t => {
                    return Err((
                        self.pos(),
                        format!("expected package name, found {}", describe(&t)),
                    ));
                }
            }
            self.end_decl()?;
        }
        let mut imports = Vec::new();
        while matches!(self.peek(), Tok::Ident(k) if k == "import") {
            self.bump();
            if self.is("(") {
                self.bump();
                while !self.is(")") {
                    imports.push(self.import_spec()?);
                    if matches!(self.peek(), Tok::Comma) {
                        self.bump();
                    } else if !self.is(")") {
                        return Err((
                            self.pos(),
                            format!("expected ')', found {}", describe(self.peek())),
                        ));
                    }
                }
                self.bump();
            } else {
                imports.push(self.import_spec()?);
            }
            self.end_decl()?;
        }
        let root = self.decls(true)?;
        Ok(File { imports, root })
    }

    fn import_spec(&mut self) -> Result<(String, String, Pos), Error> {
        let pos = self.pos();
        let alias = match self.peek().clone() {
            Tok::Ident(a) => {
                self.bump();
                Some(a)
            }
            _ => None,
        };
        match self.bump() {
            Tok::Str(path) => {
                let name =
                    alias.unwrap_or_else(|| path.rsplit('/').next().unwrap_or(&path).to_string());
                Ok((name, path, pos))
            }
            t => Err((pos, format!("expected import path, found {}", describe(&t)))),
        }
    }

    /// After a declaration: a comma, or the end of the enclosing struct / file.
    fn end_decl(&mut self) -> Result<(), Error> {
        match self.peek() {
            Tok::Comma => {
                self.bump();
                Ok(())
            }
            Tok::Eof => Ok(()),
            Tok::Punct("}") => Ok(()),
            t => Err((
                self.pos(),
                format!("expected ',' or '}}', found {}", describe(t)),
            )),
        }
    }

    /// Declarations up to `}` (or the end of the file when `top`).
    fn decls(&mut self, top: bool) -> Result<StructLit, Error> {
        let id = self.id();
        let mut decls = Vec::new();
        loop {
            match self.peek() {
                Tok::Eof if top => break,
                Tok::Eof => return Err((self.pos(), "expected '}', found EOF".into())),
                Tok::Punct("}") if !top => break,
                Tok::Comma => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            if self.is("...") {
                // An open-struct marker: structs are open already (definitions are refused).
                self.bump();
            } else if let Some(d) = self.decl()? {
                decls.push(d);
            }
            self.end_decl()?;
        }
        Ok(StructLit { id, decls })
    }

    fn decl(&mut self) -> Result<Option<Decl>, Error> {
        let pos = self.pos();
        let next_is_colon = matches!(self.peek_at(1), Tok::Punct(":"));
        match self.peek().clone() {
            Tok::Ident(k) if k == "let" && !next_is_colon => {
                self.bump();
                let name = match self.bump() {
                    Tok::Ident(n) => n,
                    t => {
                        return Err((
                            pos,
                            format!("expected identifier after let, found {}", describe(&t)),
                        ));
                    }
                };
                self.expect("=")?;
                let value = self.expr()?;
                Ok(Some(Decl::Let { name, value }))
            }
            Tok::Ident(k) if k == "if" && !next_is_colon => {
                self.bump();
                let cond = self.expr()?;
                if !self.is("{") {
                    return Err((
                        self.pos(),
                        format!(
                            "expected '{{' after if condition, found {}",
                            describe(self.peek())
                        ),
                    ));
                }
                self.enter()?;
                self.bump();
                let body = self.decls(false)?;
                self.expect("}")?;
                self.depth -= 1;
                Ok(Some(Decl::If { cond, body }))
            }
            Tok::Ident(k) if k == "for" && !next_is_colon => {
                Err((pos, "for comprehensions are not supported".into()))
            }
            Tok::Punct("[") => Err((pos, "pattern constraints ([…]: …) are not supported".into())),
            Tok::Punct("(") => Err((
                pos,
                "dynamic fields and embedded expressions are not supported".into(),
            )),
            Tok::Ident(_) | Tok::Str(_) => {
                let label = self.label()?;
                match self.peek() {
                    Tok::Punct(":") => {
                        self.bump();
                        let value = self.field_value()?;
                        Ok(Some(Decl::Field { label, value }))
                    }
                    Tok::Punct("?") => {
                        Err((pos, format!("optional fields ({label}?) are not supported")))
                    }
                    Tok::Punct("!") => {
                        Err((pos, format!("required fields ({label}!) are not supported")))
                    }
                    Tok::Punct("=") => Err((pos, format!("aliases ({label}=) are not supported"))),
                    _ => Err((
                        pos,
                        "embedded expressions in a struct are not supported (write label: value)"
                            .into(),
                    )),
                }
            }
            _ => Err((
                pos,
                "embedded expressions in a struct are not supported (write label: value)".into(),
            )),
        }
    }

    /// A field label: an identifier (not a definition or hidden name) or a string.
    fn label(&mut self) -> Result<String, Error> {
        let pos = self.pos();
        match self.bump() {
            Tok::Ident(n) if n.starts_with('#') => {
                Err((pos, format!("definitions ({n}) are not supported")))
            }
            Tok::Ident(n) if n.starts_with('_') => {
                Err((pos, format!("hidden fields ({n}) are not supported")))
            }
            Tok::Ident(n) if n.starts_with('$') => {
                Err((pos, format!("identifiers with $ ({n}) are not supported")))
            }
            Tok::Ident(n) | Tok::Str(n) => Ok(n),
            t => Err((pos, format!("expected label, found {}", describe(&t)))),
        }
    }

    /// The value after `label:`: another `label:` (shorthand for a one-field struct) or an
    /// expression.
    fn field_value(&mut self) -> Result<Expr, Error> {
        let shorthand = matches!(self.peek(), Tok::Ident(_) | Tok::Str(_))
            && matches!(self.peek_at(1), Tok::Punct(":" | "?" | "!"));
        if !shorthand {
            return self.expr();
        }
        self.enter()?;
        let id = self.id();
        let d = self.decl()?;
        self.depth -= 1;
        Ok(Expr::Struct(StructLit {
            id,
            decls: d.into_iter().collect(),
        }))
    }

    fn expr(&mut self) -> Result<Expr, Error> {
        self.enter()?;
        let pos = self.pos();
        let first = self.binary(0)?;
        let e = if self.is("|") {
            let mut alts = vec![default_of(first)];
            while self.is("|") {
                self.bump();
                alts.push(default_of(self.binary(0)?));
            }
            Expr::Disj(alts, pos)
        } else {
            match first {
                Expr::Unary("*", x, p) => Expr::Disj(vec![(*x, true)], p),
                e => e,
            }
        };
        self.depth -= 1;
        Ok(e)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, Error> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        while let Tok::Punct(op) = self.peek().clone() {
            if !LEVELS[level].contains(&op) {
                break;
            }
            let pos = self.pos();
            self.bump();
            let rhs = self.binary(level + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs), pos);
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        let pos = self.pos();
        if let Tok::Punct(op) = self.peek().clone()
            && matches!(
                op,
                "-" | "+" | "!" | "<" | "<=" | ">" | ">=" | "!=" | "=~" | "!~" | "*"
            )
        {
            self.enter()?;
            self.bump();
            let x = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Unary(op, Box::new(x), pos));
        }
        let mut e = self.operand()?;
        loop {
            let pos = self.pos();
            if self.is(".") {
                self.bump();
                let name = match self.bump() {
                    Tok::Ident(n) if n.starts_with('#') || n.starts_with('_') => {
                        return Err((
                            pos,
                            format!(
                                "selecting definitions or hidden fields ({n}) is not supported"
                            ),
                        ));
                    }
                    Tok::Ident(n) | Tok::Str(n) => n,
                    t => return Err((pos, format!("expected selector, found {}", describe(&t)))),
                };
                e = Expr::Select(Box::new(e), name, pos);
            } else if self.is("[") {
                self.enter()?;
                self.bump();
                let i = self.expr()?;
                if self.is(":") {
                    return Err((pos, "slices (x[a:b]) are not supported".into()));
                }
                self.expect("]")?;
                self.depth -= 1;
                e = Expr::Index(Box::new(e), Box::new(i), pos);
            } else if self.is("(") {
                self.enter()?;
                self.bump();
                let mut args = Vec::new();
                while !self.is(")") {
                    args.push(self.expr()?);
                    match self.peek() {
                        Tok::Comma => {
                            self.bump();
                        }
                        Tok::Punct(")") => {}
                        t => {
                            return Err((
                                self.pos(),
                                format!("expected ',' or ')', found {}", describe(t)),
                            ));
                        }
                    }
                }
                self.bump();
                self.depth -= 1;
                e = Expr::Call(Box::new(e), args, pos);
            } else {
                return Ok(e);
            }
        }
    }

    fn operand(&mut self) -> Result<Expr, Error> {
        let pos = self.pos();
        match self.bump() {
            Tok::Int(v) => Ok(Expr::Int(v)),
            Tok::Float(v) => Ok(Expr::Float(v)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Ident(n) => match n.as_str() {
                "null" => Ok(Expr::Null),
                "true" => Ok(Expr::Bool(true)),
                "false" => Ok(Expr::Bool(false)),
                "_" => Ok(Expr::Top),
                "_|_" => Err((pos, "bottom (_|_) is not supported".into())),
                "for" | "if" | "let" | "import" | "package" | "in" => {
                    Err((pos, format!("unexpected keyword {n}")))
                }
                _ if n.starts_with('#') => {
                    Err((pos, format!("definitions ({n}) are not supported")))
                }
                _ if n.starts_with('_') => {
                    Err((pos, format!("hidden fields ({n}) are not supported")))
                }
                _ if n.starts_with('$') => {
                    Err((pos, format!("identifiers with $ ({n}) are not supported")))
                }
                _ => Ok(Expr::Ident(n, pos)),
            },
            Tok::Punct("{") => {
                self.enter()?;
                let s = self.decls(false)?;
                self.expect("}")?;
                self.depth -= 1;
                Ok(Expr::Struct(s))
            }
            Tok::Punct("[") => {
                self.enter()?;
                let l = self.list()?;
                self.depth -= 1;
                Ok(Expr::List(l))
            }
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            t => Err((pos, format!("expected operand, found {}", describe(&t)))),
        }
    }

    /// After `[`: elements, an optional `...T`, then `]`.
    fn list(&mut self) -> Result<ListLit, Error> {
        let mut elems = Vec::new();
        let mut rest = None;
        loop {
            while matches!(self.peek(), Tok::Comma) && !elems.is_empty() {
                self.bump();
            }
            if self.is("]") {
                self.bump();
                return Ok(ListLit { elems, rest });
            }
            if rest.is_some() {
                return Err((
                    self.pos(),
                    "expected ']' after the open-list element (...T)".into(),
                ));
            }
            if matches!(self.peek(), Tok::Ident(k) if k == "for" || k == "if") {
                return Err((self.pos(), "list comprehensions are not supported".into()));
            }
            if self.is("...") {
                self.bump();
                rest = Some(Box::new(
                    if self.is("]") || matches!(self.peek(), Tok::Comma) {
                        Expr::Top
                    } else {
                        self.expr()?
                    },
                ));
            } else {
                elems.push(self.expr()?);
            }
            match self.peek() {
                Tok::Comma | Tok::Punct("]") => {}
                t => {
                    return Err((
                        self.pos(),
                        format!("expected ',' or ']', found {}", describe(t)),
                    ));
                }
            }
        }
    }
}

/// A disjunct and whether it is marked default (`*x`).
fn default_of(e: Expr) -> (Expr, bool) {
    match e {
        Expr::Unary("*", x, _) => (*x, true),
        e => (e, false),
    }
}

/// A token as error messages name it (CUE's style: `'}'`, `EOF`, `newline`).
fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(n) => n.clone(),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Int(v) => v.to_string(),
        Tok::Float(v) => v.to_string(),
        Tok::Punct(p) => format!("'{p}'"),
        Tok::Comma => "newline or ','".into(),
        Tok::Eof => "EOF".into(),
    }
}
