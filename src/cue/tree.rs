//! The value tree of an evaluation: selecting a child of a value, the input's JSON as values,
//! and the fatal errors of a tree with their paths (cuelang prints paths as `a."b/c".0.d`).

use super::eval::Seg;
use super::value::{self, Severity, Val};
use serde_json::Value as Json;
use std::rc::Rc;

/// The child `seg` of a value, if it has one.
pub fn select(v: &Val, seg: &Seg) -> Option<Val> {
    match (v, seg) {
        (Val::Struct(f), Seg::F(l)) => f.iter().find(|(k, _)| k == l).map(|(_, v)| v.clone()),
        (Val::List(e, r), Seg::I(i)) => e.get(*i).cloned().or_else(|| r.as_deref().cloned()),
        _ => None,
    }
}

/// `x.name` / `x[i]` on a value: the child, or why not.
pub fn select_or_error(v: &Val, seg: &Seg) -> Val {
    if let Val::Bottom(_) = v {
        return v.clone();
    }
    match (v, seg) {
        (Val::List(e, _), Seg::I(i)) if *i < e.len() => e[*i].clone(),
        (Val::List(_, Some(_)), Seg::I(i)) => {
            Val::incomplete(format!("index {i} out of range of an open list"))
        }
        (Val::List(e, None), Seg::I(i)) => {
            Val::fatal(format!("index out of range [{i}] with length {}", e.len()))
        }
        (Val::Struct(_), _) => select(v, seg)
            .unwrap_or_else(|| Val::incomplete(format!("undefined field: {}", seg_text(seg)))),
        (v, _) if v.is_scalar() || matches!(v, Val::List(..)) => {
            Val::fatal(format!("invalid selector {} on {v}", seg_text(seg)))
        }
        _ => Val::incomplete(format!("undefined field: {}", seg_text(seg))),
    }
}

/// A path step as cuelang prints it: a label (quoted unless an identifier) or an index.
pub fn seg_text(seg: &Seg) -> String {
    match seg {
        Seg::F(l) => value::label(l),
        Seg::I(i) => i.to_string(),
    }
}

/// The input's JSON as a value (whole numbers are ints, others floats, as CUE reads JSON).
pub fn from_json(j: &Json) -> Val {
    match j {
        Json::Null => Val::Null,
        Json::Bool(b) => Val::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Val::Int(i as i128),
            (_, Some(u)) => Val::Int(u as i128),
            _ => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Val::str(s),
        Json::Array(a) => Val::List(Rc::new(a.iter().map(from_json).collect()), None),
        Json::Object(m) => Val::Struct(Rc::new(
            m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect(),
        )),
    }
}

/// The fatal errors of a value tree, `path: message`, the sub-errors of a disjunction after it.
pub fn collect(v: &Val, path: &mut Vec<String>, out: &mut Vec<String>) {
    match v {
        Val::Bottom(e) if e.severity == Severity::Fatal => {
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{}: ", path.join("."))
            };
            out.push(format!("{prefix}{}", e.msg));
            out.extend(e.sub.iter().map(|s| format!("{prefix}{s}")));
        }
        Val::Struct(fields) => {
            for (l, v) in fields.iter() {
                path.push(value::label(l));
                collect(v, path, out);
                path.pop();
            }
        }
        Val::List(elems, _) => {
            for (i, v) in elems.iter().enumerate() {
                path.push(i.to_string());
                collect(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}
