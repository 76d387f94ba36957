//! Compile-time checks of a parsed policy, as cuelang's compiler makes them
//! (`internal/core/compile`): every identifier resolves (`reference "x" not found`), every
//! import is a supported package and is used (`imported and not used: "strings"`), and every
//! package member used exists in this module's builtins ([`super::builtins::check_use`]).

use super::Pos;
use super::ast::{Decl, Expr, File, StructLit};
use super::builtins::{self, PACKAGES};

/// Names that resolve without a declaration (spec, "Predeclared identifiers", the subset).
const PREDECLARED: &[&str] = &["string", "int", "float", "number", "bool", "bytes", "len"];

/// Errors: position and message, the first found.
pub fn check(file: &File) -> Result<(), (Pos, String)> {
    for (_, path, pos) in &file.imports {
        if !PACKAGES.contains(&path.as_str()) {
            return Err((
                *pos,
                format!(
                    "package {path:?} is not supported (supported: {})",
                    PACKAGES.join(", ")
                ),
            ));
        }
    }
    let mut c = Checker {
        file,
        used: vec![false; file.imports.len()],
    };
    let mut scopes = vec![&file.root];
    c.lit(&file.root, &mut scopes)?;
    if let Some(i) = c.used.iter().position(|u| !u) {
        let (_, path, pos) = &file.imports[i];
        return Err((*pos, format!("imported and not used: {path:?}")));
    }
    Ok(())
}

struct Checker<'a> {
    file: &'a File,
    used: Vec<bool>,
}

impl<'a> Checker<'a> {
    fn lit(
        &mut self,
        lit: &'a StructLit,
        scopes: &mut Vec<&'a StructLit>,
    ) -> Result<(), (Pos, String)> {
        for d in &lit.decls {
            match d {
                Decl::Field { value, .. } | Decl::Let { value, .. } => self.expr(value, scopes)?,
                Decl::If { cond, body } => {
                    self.expr(cond, scopes)?;
                    scopes.push(body);
                    let r = self.lit(body, scopes);
                    scopes.pop();
                    r?;
                }
            }
        }
        Ok(())
    }

    /// The import named `name`, unless a field or let shadows it.
    fn import(&self, name: &str, scopes: &[&StructLit]) -> Option<usize> {
        if scopes.iter().any(|s| s.declares(name)) {
            return None;
        }
        self.file.imports.iter().position(|(n, _, _)| n == name)
    }

    fn expr(&mut self, e: &'a Expr, scopes: &mut Vec<&'a StructLit>) -> Result<(), (Pos, String)> {
        match e {
            Expr::Ident(name, pos) => {
                if scopes.iter().any(|s| s.declares(name)) {
                    return Ok(());
                }
                if self.import(name, scopes).is_some() {
                    return Err((*pos, format!("cannot use package {name} as a value")));
                }
                if PREDECLARED.contains(&name.as_str()) {
                    if name == "len" {
                        return Err((*pos, "len is a function: call it".into()));
                    }
                    return Ok(());
                }
                Err((*pos, format!("reference {name:?} not found")))
            }
            Expr::Struct(lit) => {
                scopes.push(lit);
                let r = self.lit(lit, scopes);
                scopes.pop();
                r
            }
            Expr::List(l) => {
                for x in &l.elems {
                    self.expr(x, scopes)?;
                }
                match &l.rest {
                    Some(r) => self.expr(r, scopes),
                    None => Ok(()),
                }
            }
            Expr::Unary(_, x, _) => self.expr(x, scopes),
            Expr::Binary(_, l, r, _) => {
                self.expr(l, scopes)?;
                self.expr(r, scopes)
            }
            Expr::Disj(alts, _) => {
                for (x, _) in alts {
                    self.expr(x, scopes)?;
                }
                Ok(())
            }
            Expr::Select(x, name, pos) => self.member(x, name, *pos, None, scopes),
            Expr::Index(x, i, _) => {
                self.expr(x, scopes)?;
                self.expr(i, scopes)
            }
            Expr::Call(f, args, pos) => {
                for a in args {
                    self.expr(a, scopes)?;
                }
                match &**f {
                    Expr::Ident(n, _) if n == "len" && !scopes.iter().any(|s| s.declares(n)) => {
                        if args.len() == 1 {
                            Ok(())
                        } else {
                            Err((*pos, "len takes 1 argument".into()))
                        }
                    }
                    Expr::Select(x, name, p) if matches!(&**x, Expr::Ident(n, _) if self.import(n, scopes).is_some()) => {
                        self.member(x, name, *p, Some(args.len()), scopes)
                    }
                    Expr::Ident(n, p)
                        if n == "close"
                            || n == "and"
                            || n == "or"
                            || n == "div"
                            || n == "mod"
                            || n == "quo"
                            || n == "rem" =>
                    {
                        Err((*p, format!("the builtin {n} is not supported")))
                    }
                    other => {
                        self.expr(other, scopes)?;
                        Err((*pos, "cannot call non-function".into()))
                    }
                }
            }
            Expr::Top
            | Expr::Null
            | Expr::Bool(_)
            | Expr::Int(_)
            | Expr::Float(_)
            | Expr::Str(_) => Ok(()),
        }
    }

    /// `x.name`: a package member (checked against the builtins) or a field selection.
    fn member(
        &mut self,
        x: &'a Expr,
        name: &str,
        pos: Pos,
        args: Option<usize>,
        scopes: &mut Vec<&'a StructLit>,
    ) -> Result<(), (Pos, String)> {
        if let Expr::Ident(pkg, _) = x
            && let Some(i) = self.import(pkg, scopes)
        {
            self.used[i] = true;
            let path = &self.file.imports[i].1;
            return builtins::check_use(path, name, args).map_err(|e| (pos, e));
        }
        self.expr(x, scopes)
    }
}
