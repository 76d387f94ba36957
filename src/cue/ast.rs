//! The syntax tree of a CUE policy in the subset [`super`] documents.
//!
//! Shapes follow the CUE spec (cue-lang/cue `doc/ref/spec.md`): "Structs" (fields, `let`,
//! `if` comprehensions), "Lists" (`[a, b, ...T]`), "Operators" (precedence `|` < `&` < `||` <
//! `&&` < comparisons < `+ -` < `* /`), "Bounds" (unary `<`, `<=`, `>`, `>=`, `!=`, `=~`,
//! `!~`), "Default values" (`*x` in a disjunction).

use super::Pos;

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `_`.
    Top,
    /// `null`.
    Null,
    /// `true`, `false`.
    Bool(bool),
    /// An integer literal.
    Int(i128),
    /// A float literal.
    Float(f64),
    /// A string literal.
    Str(String),
    /// An identifier: a field, a `let`, an import, or predeclared (`string`, `len`, …).
    Ident(String, Pos),
    /// A struct literal.
    Struct(StructLit),
    /// A list literal.
    List(ListLit),
    /// A unary operator: `-`, `+`, `!`, a bound (`<`, `<=`, `>`, `>=`, `!=`, `=~`, `!~`), or
    /// `*` (default marker).
    Unary(&'static str, Box<Expr>, Pos),
    /// A binary operator other than `|`.
    Binary(&'static str, Box<Expr>, Box<Expr>, Pos),
    /// `a | *b | c`: the alternatives, each with whether it is marked default.
    Disj(Vec<(Expr, bool)>, Pos),
    /// `x.name`.
    Select(Box<Expr>, String, Pos),
    /// `x[i]`.
    Index(Box<Expr>, Box<Expr>, Pos),
    /// `f(args)`.
    Call(Box<Expr>, Vec<Expr>, Pos),
}

/// A struct literal `{…}` (also the file itself, and each level of `a: b: c` shorthand).
#[derive(Debug, Clone, PartialEq)]
pub struct StructLit {
    /// Unique in its file: the key of its `let` bindings.
    pub id: usize,
    /// Its declarations, in order.
    pub decls: Vec<Decl>,
}

/// One declaration of a struct.
#[derive(Debug, Clone, PartialEq)]
pub enum Decl {
    /// `label: value`.
    Field {
        /// The label, unquoted.
        label: String,
        /// Its value.
        value: Expr,
    },
    /// `let name = value`.
    Let {
        /// The bound name.
        name: String,
        /// Its value.
        value: Expr,
    },
    /// `if cond { body }`.
    If {
        /// The condition (must evaluate to a concrete bool).
        cond: Expr,
        /// The fields added when it holds.
        body: StructLit,
    },
}

/// A list literal `[a, b, ...T]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListLit {
    /// The leading elements.
    pub elems: Vec<Expr>,
    /// `...T`: the list is open and every further element is `T` (`_` for a bare `...`).
    pub rest: Option<Box<Expr>>,
}

/// A parsed file: its imports (local name → package path) and its top-level struct.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// `import "strings"` or `import s "strings"`: (name, package, position).
    pub imports: Vec<(String, String, Pos)>,
    /// The file's declarations.
    pub root: StructLit,
}

impl StructLit {
    /// Whether evaluating this struct can add a field named `label`: a field with that
    /// label, or a comprehension whose body can.
    pub fn may_declare(&self, label: &str) -> bool {
        self.decls.iter().any(|d| match d {
            Decl::Field { label: l, .. } => l == label,
            Decl::Let { .. } => false,
            Decl::If { body, .. } => body.may_declare(label),
        })
    }

    /// Whether a reference to `name` from inside this struct resolves here: a field label
    /// (quoted or not) or a `let` (spec, "Declarations and scopes"). Fields of comprehension
    /// bodies are in the body's own scope.
    pub fn declares(&self, name: &str) -> bool {
        self.decls.iter().any(|d| match d {
            Decl::Field { label, .. } | Decl::Let { name: label, .. } => label == name,
            Decl::If { .. } => false,
        })
    }

    /// The `let` named `name`, if any.
    pub fn let_named(&self, name: &str) -> Option<&Expr> {
        self.decls.iter().find_map(|d| match d {
            Decl::Let { name: n, value } if n == name => Some(value),
            _ => None,
        })
    }
}
