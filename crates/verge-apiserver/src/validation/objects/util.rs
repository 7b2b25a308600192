//! Building field errors the way Kubernetes words them, and reading JSON.

use serde_json::{Map, Value};

use super::FieldError;

pub const REQUIRED: &str = "FieldValueRequired";
pub const INVALID: &str = "FieldValueInvalid";
pub const NOT_SUPPORTED: &str = "FieldValueNotSupported";
pub const DUPLICATE: &str = "FieldValueDuplicate";
pub const FORBIDDEN: &str = "FieldValueForbidden";
pub const NOT_FOUND: &str = "FieldValueNotFound";
pub const TOO_LONG: &str = "FieldValueTooLong";
pub const TOO_MANY: &str = "FieldValueTooMany";

/// How a bad value appears in a message: strings quoted as Go's `%q` does,
/// numbers bare, anything else as compact JSON.
pub trait Bad {
    fn render(&self) -> String;
}

impl Bad for str {
    fn render(&self) -> String {
        go_quote(self)
    }
}

impl Bad for String {
    fn render(&self) -> String {
        go_quote(self)
    }
}

impl Bad for i64 {
    fn render(&self) -> String {
        self.to_string()
    }
}

impl Bad for Value {
    fn render(&self) -> String {
        match self {
            Value::String(s) => go_quote(s),
            Value::Null => "null".to_owned(),
            other => other.to_string(),
        }
    }
}

impl<T: Bad + ?Sized> Bad for &T {
    fn render(&self) -> String {
        (**self).render()
    }
}

/// A value already rendered (Go-style maps and the like).
pub struct Raw(pub String);

impl Bad for Raw {
    fn render(&self) -> String {
        self.0.clone()
    }
}

/// Go's `strconv.Quote`, near enough.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string map as Go's `%#v` prints a `map[string]string`.
pub fn go_string_map(m: Option<&Map<String, Value>>) -> Raw {
    let Some(m) = m else {
        return Raw("map[string]string(nil)".to_owned());
    };
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = entries
        .into_iter()
        .map(|(k, v)| {
            let v = v.as_str().map(go_quote).unwrap_or_else(|| v.to_string());
            format!("{}:{}", go_quote(k), v)
        })
        .collect();
    Raw(format!("map[string]string{{{}}}", body.join(", ")))
}

/// The errors found so far.
#[derive(Default)]
pub struct Errs {
    pub list: Vec<FieldError>,
}

impl Errs {
    pub fn push(&mut self, field: impl Into<String>, reason: &'static str, message: String) {
        self.list.push(FieldError {
            field: field.into(),
            reason,
            message,
        });
    }

    pub fn required(&mut self, field: impl Into<String>, detail: &str) {
        let message = if detail.is_empty() {
            "Required value".to_owned()
        } else {
            format!("Required value: {detail}")
        };
        self.push(field, REQUIRED, message);
    }

    pub fn invalid(&mut self, field: impl Into<String>, value: impl Bad, detail: &str) {
        let mut message = format!("Invalid value: {}", value.render());
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        self.push(field, INVALID, message);
    }

    /// One Invalid error per message, as Kubernetes reports format problems.
    pub fn invalid_each(&mut self, field: &str, value: &str, msgs: Vec<String>) {
        for m in msgs {
            self.invalid(field, value, &m);
        }
    }

    pub fn not_supported(&mut self, field: impl Into<String>, value: impl Bad, supported: &[&str]) {
        let mut message = format!("Unsupported value: {}", value.render());
        if !supported.is_empty() {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            message.push_str(": supported values: ");
            message.push_str(&quoted.join(", "));
        }
        self.push(field, NOT_SUPPORTED, message);
    }

    pub fn duplicate(&mut self, field: impl Into<String>, value: impl Bad) {
        self.push(
            field,
            DUPLICATE,
            format!("Duplicate value: {}", value.render()),
        );
    }

    pub fn forbidden(&mut self, field: impl Into<String>, detail: &str) {
        self.push(field, FORBIDDEN, format!("Forbidden: {detail}"));
    }

    pub fn not_found(&mut self, field: impl Into<String>, value: impl Bad) {
        self.push(field, NOT_FOUND, format!("Not found: {}", value.render()));
    }

    pub fn too_long(&mut self, field: impl Into<String>, max: usize) {
        self.push(
            field,
            TOO_LONG,
            format!("Too long: may not be more than {max} bytes"),
        );
    }

    pub fn too_many(&mut self, field: impl Into<String>, actual: usize, max: usize) {
        self.push(
            field,
            TOO_MANY,
            format!("Too many: {actual}: must have at most {max} items"),
        );
    }

    /// A value that must be one of a fixed set; empty or absent is Required.
    pub fn one_of(&mut self, field: impl Into<String>, value: Option<&str>, supported: &[&str]) {
        match value {
            None | Some("") => self.required(field, ""),
            Some(v) if !supported.contains(&v) => self.not_supported(field, v, supported),
            Some(_) => {}
        }
    }

    /// Like `one_of`, but absence is fine.
    pub fn opt_one_of(
        &mut self,
        field: impl Into<String>,
        value: Option<&str>,
        supported: &[&str],
    ) {
        if let Some(v) = value
            && !supported.contains(&v)
        {
            self.not_supported(field, v, supported);
        }
    }

    /// `must be greater than or equal to 0` for an optional integer.
    pub fn non_negative(&mut self, field: impl Into<String>, value: Option<i64>) {
        if let Some(v) = value
            && v < 0
        {
            self.invalid(field, v, "must be greater than or equal to 0");
        }
    }

    /// `must be greater than 0` for an optional integer.
    pub fn positive(&mut self, field: impl Into<String>, value: Option<i64>) {
        if let Some(v) = value
            && v <= 0
        {
            self.invalid(field, v, "must be greater than 0");
        }
    }

    /// `field is immutable` when the two differ.
    pub fn immutable(
        &mut self,
        field: impl Into<String>,
        new: Option<&Value>,
        old: Option<&Value>,
    ) {
        if !semantic_eq(new, old) {
            self.invalid(field, new.unwrap_or(&Value::Null), "field is immutable");
        }
    }
}

/// Equality where an absent field, null and an empty object/array/string mean
/// the same (Go's zero values).
pub fn semantic_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn empty(v: Option<&Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        }
    }
    if empty(a) && empty(b) {
        return true;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.iter().all(|(k, v)| semantic_eq(Some(v), y.get(k)))
                && y.iter()
                    .all(|(k, v)| x.contains_key(k) || semantic_eq(Some(v), None))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| semantic_eq(Some(p), Some(q)))
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

// ---- JSON accessors: wrong types read as absent (schema validation reports them). ----

pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// `spec`, or an empty object when there is none.
pub fn spec_of(obj: &Value) -> &Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    field(obj, "spec").unwrap_or_else(|| EMPTY.get_or_init(|| Value::Object(Map::new())))
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

/// A string field, "" when absent.
pub fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    str_of(v, key).unwrap_or("")
}

pub fn int_of(v: &Value, key: &str) -> Option<i64> {
    as_int(v.get(key)?)
}

pub fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
    })
}

pub fn bool_of(v: &Value, key: &str) -> Option<bool> {
    v.get(key)?.as_bool()
}

pub fn arr_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn map_of<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key)?.as_object()
}

/// An IntOrString port: a number in range, or an IANA port name.
pub fn validate_port_num_or_name(errs: &mut Errs, path: &str, port: Option<&Value>) {
    use super::names;
    match port {
        None => errs.required(path, ""),
        Some(Value::String(s)) => errs.invalid_each(path, s, names::is_valid_port_name(s)),
        Some(v) => match as_int(v) {
            Some(n) => {
                for m in names::is_valid_port_num(n) {
                    errs.invalid(path, n, &m);
                }
            }
            None => errs.invalid(path, v, "must be an integer or a port name"),
        },
    }
}
