//! The subset of Kubernetes JSONPath that CRD printer columns use:
//! `.spec.replicas`, `.metadata.labels.app`, `.metadata.annotations['a.b/c']`,
//! `.items[0]`, `.items[-1]`, `.items[1:3]`, `.items[*].name`, `..name`,
//! `['a','b']`, and filters such as `.status.conditions[?(@.type=="Ready")].status`
//! (`==`, `!=`, `<`, `<=`, `>`, `>=` against a literal or another `@` path, or a
//! bare `[?(@.field)]` existence test). Missing keys select nothing rather than
//! failing, as printer columns evaluate with missing keys allowed.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Child(String),
    Wildcard,
    /// `..`: the node itself and everything below it.
    Descend,
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Union(Vec<Step>),
    Filter(Box<Filter>),
}

#[derive(Clone, Debug, PartialEq)]
struct Filter {
    left: Vec<Step>,
    compare: Option<(Op, Operand)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Path(Vec<Step>),
    Literal(Value),
}

/// A parsed JSONPath expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses an expression, with or without the `{...}` template braces.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut t = text.trim();
        if let Some(inner) = t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            t = inner.trim();
        }
        let t = t.strip_prefix('$').unwrap_or(t);
        Ok(JsonPath {
            steps: parse_steps(t).map_err(|e| format!("invalid JSONPath {text:?}: {e}"))?,
        })
    }

    /// Everything the expression selects, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        eval(&self.steps, vec![root])
    }

    /// The first value the expression selects.
    pub fn first<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.find(root).into_iter().next()
    }
}

fn parse_steps(s: &str) -> Result<Vec<Step>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    // A relative path may start with '@'; a leading bare name is tolerated.
    if chars.first() == Some(&'@') {
        i = 1;
    } else if !chars.is_empty() && chars[0] != '.' && chars[0] != '[' {
        let (name, next) = read_name(&chars, 0)?;
        steps.push(Step::Child(name));
        i = next;
    }
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'.') {
                    i += 1;
                    steps.push(Step::Descend);
                }
                match chars.get(i) {
                    Some('*') => {
                        steps.push(Step::Wildcard);
                        i += 1;
                    }
                    Some('[') => {}
                    Some('.') | None => return Err("empty field name".into()),
                    Some(_) => {
                        let (name, next) = read_name(&chars, i)?;
                        steps.push(Step::Child(name));
                        i = next;
                    }
                }
            }
            '[' => {
                let end = closing_bracket(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = end + 1;
            }
            c => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(steps)
}

/// A field name up to the next unescaped '.' or '['; `\.` escapes a dot.
/// Operators, quotes, parentheses and spaces are not allowed unescaped.
fn read_name(chars: &[char], mut i: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' if i + 1 < chars.len() => {
                name.push(chars[i + 1]);
                i += 2;
            }
            '.' | '[' => break,
            '=' | '!' | '<' | '>' | '~' | '(' | ')' | '\'' | '"' | ',' | '@' | ']' => {
                return Err(format!("unexpected {c:?} in field name"));
            }
            c if c.is_whitespace() => return Err("unexpected space in field name".into()),
            c => {
                name.push(c);
                i += 1;
            }
        }
    }
    Ok((name, i))
}

/// The index of the ']' matching the '[' at `open`, skipping quoted text and
/// nested brackets.
fn closing_bracket(chars: &[char], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(_) if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    Err("unclosed '['".into())
}

/// Splits at top-level commas (outside quotes and brackets).
fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut depth = 0i32;
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' | '(' => depth += 1,
                ']' | ')' => depth -= 1,
                c if c == sep && depth == 0 => {
                    parts.push(&s[start..i]);
                    start = i + c.len_utf8();
                }
                _ => {}
            },
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if let Some(filter) = inner.strip_prefix('?') {
        let expr = filter
            .trim()
            .strip_prefix('(')
            .and_then(|f| f.strip_suffix(')'))
            .ok_or("filter must be ?(...)")?;
        return Ok(Step::Filter(Box::new(parse_filter(expr.trim())?)));
    }
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    let parts = split_top_level(inner, ',');
    if parts.len() > 1 {
        return parts
            .iter()
            .map(|p| parse_subscript(p.trim()))
            .collect::<Result<_, _>>()
            .map(Step::Union);
    }
    parse_subscript(inner)
}

fn parse_subscript(s: &str) -> Result<Step, String> {
    if let Some(name) = unquote(s) {
        return Ok(Step::Child(name));
    }
    if s.contains(':') {
        let bounds: Vec<&str> = s.split(':').collect();
        if bounds.len() > 3 {
            return Err(format!("bad slice {s:?}"));
        }
        let bound = |i: usize| -> Result<Option<i64>, String> {
            match bounds.get(i).map(|b| b.trim()) {
                None | Some("") => Ok(None),
                Some(b) => b
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("bad slice bound {b:?}")),
            }
        };
        return Ok(Step::Slice(bound(0)?, bound(1)?, bound(2)?));
    }
    s.parse()
        .map(Step::Index)
        .map_err(|_| format!("bad subscript {s:?}"))
}

/// The text of a quoted string literal, with backslash escapes removed.
fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = s.strip_prefix(q)?.strip_suffix(q)?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn parse_filter(expr: &str) -> Result<Filter, String> {
    let Some((at, op, len)) = find_operator(expr) else {
        return Ok(Filter {
            left: parse_relative(expr)?,
            compare: None,
        });
    };
    let left = parse_relative(expr[..at].trim())?;
    let right = expr[at + len..].trim();
    let operand = if right.starts_with('@') {
        Operand::Path(parse_relative(right)?)
    } else {
        Operand::Literal(parse_literal(right)?)
    };
    Ok(Filter {
        left,
        compare: Some((op, operand)),
    })
}

fn parse_relative(s: &str) -> Result<Vec<Step>, String> {
    if !s.starts_with('@') {
        return Err(format!("filter operand {s:?} must start with '@'"));
    }
    parse_steps(s)
}

/// The first comparison operator outside quotes: (byte offset, op, length).
fn find_operator(expr: &str) -> Option<(usize, Op, usize)> {
    let mut quote: Option<char> = None;
    let bytes = expr.as_bytes();
    for (i, c) in expr.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => {
                let next = bytes.get(i + 1).copied();
                let found = match (c, next) {
                    ('\'' | '"', _) => {
                        quote = Some(c);
                        None
                    }
                    ('=', Some(b'=')) => Some((Op::Eq, 2)),
                    ('!', Some(b'=')) => Some((Op::Ne, 2)),
                    ('<', Some(b'=')) => Some((Op::Le, 2)),
                    ('>', Some(b'=')) => Some((Op::Ge, 2)),
                    ('<', _) => Some((Op::Lt, 1)),
                    ('>', _) => Some((Op::Gt, 1)),
                    _ => None,
                };
                if let Some((op, len)) = found {
                    return Some((i, op, len));
                }
            }
        }
    }
    None
}

fn parse_literal(s: &str) -> Result<Value, String> {
    if let Some(text) = unquote(s) {
        return Ok(Value::String(text));
    }
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" | "nil" => return Ok(Value::Null),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Ok(i.into());
    }
    s.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| format!("bad literal {s:?}"))
}

fn eval<'a>(steps: &[Step], mut current: Vec<&'a Value>) -> Vec<&'a Value> {
    for step in steps {
        if current.is_empty() {
            break;
        }
        current = current.into_iter().flat_map(|v| apply(step, v)).collect();
    }
    current
}

fn apply<'a>(step: &Step, v: &'a Value) -> Vec<&'a Value> {
    match step {
        Step::Child(name) => v.get(name.as_str()).into_iter().collect(),
        Step::Wildcard => match v {
            Value::Object(m) => m.values().collect(),
            Value::Array(a) => a.iter().collect(),
            _ => Vec::new(),
        },
        Step::Descend => {
            let mut out = Vec::new();
            descendants(v, &mut out);
            out
        }
        Step::Index(i) => {
            let Some(a) = v.as_array() else {
                return Vec::new();
            };
            let idx = if *i < 0 { *i + a.len() as i64 } else { *i };
            usize::try_from(idx)
                .ok()
                .and_then(|i| a.get(i))
                .into_iter()
                .collect()
        }
        Step::Slice(start, end, stride) => {
            let Some(a) = v.as_array() else {
                return Vec::new();
            };
            let len = a.len() as i64;
            let clamp = |b: i64| if b < 0 { (b + len).max(0) } else { b.min(len) };
            let from = clamp(start.unwrap_or(0));
            let to = clamp(end.unwrap_or(len));
            let stride = stride.filter(|s| *s > 0).unwrap_or(1);
            (from..to)
                .step_by(stride as usize)
                .filter_map(|i| a.get(i as usize))
                .collect()
        }
        Step::Union(steps) => steps.iter().flat_map(|s| apply(s, v)).collect(),
        Step::Filter(f) => match v {
            Value::Array(a) => a.iter().filter(|el| f.matches(el)).collect(),
            _ => Vec::new(),
        },
    }
}

fn descendants<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Object(m) => m.values().for_each(|c| descendants(c, out)),
        Value::Array(a) => a.iter().for_each(|c| descendants(c, out)),
        _ => {}
    }
}

impl Filter {
    fn matches(&self, el: &Value) -> bool {
        let lefts = eval(&self.left, vec![el]);
        let Some((op, operand)) = &self.compare else {
            return !lefts.is_empty();
        };
        // Kubernetes compares exactly one value at a time.
        let [left] = lefts.as_slice() else {
            return false;
        };
        let right = match operand {
            Operand::Literal(v) => v,
            Operand::Path(p) => match eval(p, vec![el]).first() {
                Some(v) => *v,
                None => return false,
            },
        };
        compare(*op, left, right)
    }
}

fn compare(op: Op, left: &Value, right: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (left, right) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => a
                .as_f64()
                .zip(b.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, Op::Eq | Op::Ne) => Some(a.cmp(b)),
        (Value::Null, Value::Null) if matches!(op, Op::Eq | Op::Ne) => Some(Ordering::Equal),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "metadata": {
                "name": "w",
                "labels": {"app": "web", "app.kubernetes.io/name": "widget"},
                "annotations": {"example.com/owner": "team-a"}
            },
            "spec": {"replicas": 3, "ratio": 0.5, "enabled": true, "nothing": null,
                     "items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}, {"name": "c", "n": 3}]},
            "status": {
                "conditions": [
                    {"type": "Synced", "status": "True", "reason": "Ok"},
                    {"type": "Ready", "status": "False", "reason": "Waiting"},
                    {"type": "Ready", "status": "True", "reason": "Late duplicate"}
                ]
            }
        })
    }

    fn first(path: &str) -> Option<Value> {
        let p = JsonPath::parse(path).unwrap_or_else(|e| panic!("{e}"));
        p.first(&doc()).cloned()
    }

    fn all(path: &str) -> Vec<Value> {
        let p = JsonPath::parse(path).unwrap_or_else(|e| panic!("{e}"));
        p.find(&doc()).into_iter().cloned().collect()
    }

    #[test]
    fn fields() {
        assert_eq!(first(".spec.replicas"), Some(json!(3)));
        assert_eq!(first("{.spec.replicas}"), Some(json!(3)));
        assert_eq!(first("$.metadata.name"), Some(json!("w")));
        assert_eq!(first(".metadata.labels.app"), Some(json!("web")));
        assert_eq!(first(".spec.nothing"), Some(Value::Null));
        assert_eq!(first(".spec.missing"), None);
        assert_eq!(first(".spec.replicas.deeper"), None);
        assert_eq!(first(".spec.items.name"), None);
        assert_eq!(first("spec.replicas"), Some(json!(3)));
    }

    #[test]
    fn quoted_and_escaped_keys() {
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']"),
            Some(json!("widget"))
        );
        assert_eq!(
            first(".metadata.annotations[\"example.com/owner\"]"),
            Some(json!("team-a"))
        );
        assert_eq!(
            first(".metadata.labels.app\\.kubernetes\\.io/name"),
            Some(json!("widget"))
        );
    }

    #[test]
    fn indexes_slices_wildcards() {
        assert_eq!(first(".spec.items[1].name"), Some(json!("b")));
        assert_eq!(first(".spec.items[-1].name"), Some(json!("c")));
        assert_eq!(first(".spec.items[7].name"), None);
        assert_eq!(
            all(".spec.items[*].name"),
            [json!("a"), json!("b"), json!("c")]
        );
        assert_eq!(all(".spec.items[1:].n"), [json!(2), json!(3)]);
        assert_eq!(all(".spec.items[:2].n"), [json!(1), json!(2)]);
        assert_eq!(all(".spec.items[0:3:2].n"), [json!(1), json!(3)]);
        assert_eq!(all(".spec.items[0,2].name"), [json!("a"), json!("c")]);
        assert_eq!(all(".metadata.labels['app','missing']"), [json!("web")]);
        assert_eq!(all(".spec.items.*").len(), 3);
        assert_eq!(all(".metadata.labels.*"), [json!("web"), json!("widget")]);
        assert_eq!(
            all("..reason"),
            [json!("Ok"), json!("Waiting"), json!("Late duplicate")]
        );
    }

    #[test]
    fn filters() {
        assert_eq!(
            first(".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("False"))
        );
        assert_eq!(
            all(".status.conditions[?(@.type == 'Ready')].reason").len(),
            2
        );
        assert_eq!(
            first(".status.conditions[?(@.status!=\"True\")].type"),
            Some(json!("Ready"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type==\"Missing\")].status"),
            None
        );
        assert_eq!(all(".spec.items[?(@.n>=2)].name"), [json!("b"), json!("c")]);
        assert_eq!(all(".spec.items[?(@.n<2)].name"), [json!("a")]);
        assert_eq!(
            all(".spec.items[?(@.n > 1.5)].name"),
            [json!("b"), json!("c")]
        );
        assert_eq!(all(".spec.items[?(@.name)].n").len(), 3);
        assert_eq!(all(".spec.items[?(@.nope)].n").len(), 0);
        assert_eq!(all(".spec.items[?(@.name==@.name)].n").len(), 3);
        // A value with ')' or ']' inside quotes.
        assert_eq!(all(".spec.items[?(@.name=='a)]')].n").len(), 0);
        // Filters apply to lists only.
        assert_eq!(all(".spec[?(@.replicas)]").len(), 0);
    }

    #[test]
    fn bad_paths() {
        for p in [
            ".spec[",
            ".spec.[x]",
            ".spec..",
            ".a[?(@.x=~'y')]",
            ".a[1:2:3:4]",
            ".a['x'",
        ] {
            assert!(JsonPath::parse(p).is_err(), "{p}");
        }
    }
}
