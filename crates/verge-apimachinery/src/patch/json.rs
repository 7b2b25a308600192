//! RFC 6902 JSON patch, with the Kubernetes extensions: negative array
//! indices count from the end (`/spec/containers/-1` is the last container;
//! for `add`, `-1` appends), and at most [`MAX_JSON_PATCH_OPERATIONS`]
//! operations per patch.

use serde_json::{Map, Value};

use super::{PatchError, json_equal};
use crate::labels::json_type_name;

/// The most operations one JSON patch may have (Kubernetes' limit).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// The deepest nesting (objects and lists) a JSON patch may produce. Deeper
/// documents could not be read back by a JSON parser with the usual
/// recursion limit of 128.
pub const MAX_PATCHED_DEPTH: usize = 100;

/// Upper bound on the bytes that `copy` operations may duplicate in one
/// patch, so that a short patch cannot blow a document up exponentially.
const MAX_COPIED_BYTES: usize = 8 * 1024 * 1024;

/// Applies a JSON patch given as the raw request body.
pub fn json_patch(doc: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let patch: Value =
        serde_json::from_slice(patch).map_err(|e| PatchError::InvalidJson(e.to_string()))?;
    json_patch_value(doc, &patch)
}

/// Applies an already-decoded JSON patch (a JSON list of operations).
pub fn json_patch_value(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::NotAList {
            found: json_type_name(patch),
        });
    };
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            count: operations.len(),
            max: MAX_JSON_PATCH_OPERATIONS,
        });
    }
    let operations = operations
        .iter()
        .enumerate()
        .map(|(index, op)| Operation::decode(index, op))
        .collect::<Result<Vec<_>, _>>()?;
    let mut doc = doc.clone();
    let mut copied_bytes = 0usize;
    for op in &operations {
        op.apply(&mut doc, &mut copied_bytes)?;
    }
    Ok(doc)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Add => "add",
            Kind::Remove => "remove",
            Kind::Replace => "replace",
            Kind::Move => "move",
            Kind::Copy => "copy",
            Kind::Test => "test",
        }
    }
}

/// A parsed JSON pointer: its original text and its unescaped tokens.
#[derive(Debug, Clone)]
struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer {
                text: String::new(),
                tokens: Vec::new(),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "{text:?} is not a JSON pointer: it must be empty or start with '/'"
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(format!(
                            "{text:?} is not a valid JSON pointer: '~' must be followed by '0' or '1'"
                        ));
                    }
                }
            }
            tokens.push(token);
        }
        Ok(Pointer {
            text: text.to_string(),
            tokens,
        })
    }

    fn display(&self) -> String {
        if self.text.is_empty() {
            "the document root".to_string()
        } else {
            self.text.clone()
        }
    }

    /// Whether `self` lies strictly inside `other`.
    fn is_strictly_inside(&self, other: &Pointer) -> bool {
        self.tokens.len() > other.tokens.len() && self.tokens.starts_with(&other.tokens)
    }
}

#[derive(Debug)]
struct Operation {
    index: usize,
    kind: Kind,
    path: Pointer,
    from: Option<Pointer>,
    value: Option<Value>,
}

impl Operation {
    fn decode(index: usize, op: &Value) -> Result<Operation, PatchError> {
        let malformed = |message: String| PatchError::MalformedOperation { index, message };
        let Value::Object(fields) = op else {
            return Err(malformed(format!(
                "an operation must be a JSON object, got {}",
                json_type_name(op)
            )));
        };
        let kind = match fields.get("op") {
            Some(Value::String(name)) => match name.as_str() {
                "add" => Kind::Add,
                "remove" => Kind::Remove,
                "replace" => Kind::Replace,
                "move" => Kind::Move,
                "copy" => Kind::Copy,
                "test" => Kind::Test,
                other => {
                    return Err(malformed(format!(
                        "unsupported \"op\" {other:?}; it must be one of add, remove, replace, move, copy, test"
                    )));
                }
            },
            None => return Err(malformed("it has no \"op\"".to_string())),
            Some(other) => {
                return Err(malformed(format!(
                    "\"op\" must be a string, got {}",
                    json_type_name(other)
                )));
            }
        };
        let pointer = |name: &str| -> Result<Pointer, PatchError> {
            match fields.get(name) {
                Some(Value::String(text)) => Pointer::parse(text)
                    .map_err(|m| malformed(format!("{} \"{name}\": {m}", kind.name()))),
                None => Err(malformed(format!(
                    "\"{}\" operations need a \"{name}\"",
                    kind.name()
                ))),
                Some(other) => Err(malformed(format!(
                    "\"{name}\" must be a string holding a JSON pointer, got {}",
                    json_type_name(other)
                ))),
            }
        };
        let path = pointer("path")?;
        let from = match kind {
            Kind::Move | Kind::Copy => Some(pointer("from")?),
            _ => None,
        };
        let value = match kind {
            Kind::Add | Kind::Replace | Kind::Test => match fields.get("value") {
                Some(v) => Some(v.clone()),
                None => {
                    return Err(malformed(format!(
                        "\"{}\" operations need a \"value\"",
                        kind.name()
                    )));
                }
            },
            _ => None,
        };
        Ok(Operation {
            index,
            kind,
            path,
            from,
            value,
        })
    }

    fn fail(&self, message: impl Into<String>) -> PatchError {
        PatchError::OperationFailed {
            index: self.index,
            op: self.kind.name(),
            path: self.path.display(),
            message: message.into(),
        }
    }

    fn apply(&self, doc: &mut Value, copied_bytes: &mut usize) -> Result<(), PatchError> {
        match self.kind {
            Kind::Add => {
                let value = self.value.clone().unwrap_or(Value::Null);
                self.check_depth(&self.path, &value)?;
                add(doc, &self.path, value).map_err(|m| self.fail(m))
            }
            Kind::Remove => remove(doc, &self.path).map(drop).map_err(|m| self.fail(m)),
            Kind::Replace => {
                let value = self.value.clone().unwrap_or(Value::Null);
                self.check_depth(&self.path, &value)?;
                let target = get_mut(doc, &self.path).map_err(|m| self.fail(m))?;
                *target = value;
                Ok(())
            }
            Kind::Move => {
                let Some(from) = &self.from else {
                    return Err(self.fail("it has no \"from\""));
                };
                if self.path.tokens == from.tokens {
                    // Moving a value onto itself is a no-op, if it exists.
                    return get_mut(doc, from)
                        .map(drop)
                        .map_err(|m| self.fail(format!("\"from\" {}: {m}", from.display())));
                }
                if self.path.is_strictly_inside(from) {
                    return Err(self.fail(format!(
                        "cannot move {} into its own child {}",
                        from.display(),
                        self.path.display()
                    )));
                }
                let value = remove(doc, from)
                    .map_err(|m| self.fail(format!("\"from\" {}: {m}", from.display())))?;
                self.check_depth(&self.path, &value)?;
                add(doc, &self.path, value).map_err(|m| self.fail(m))
            }
            Kind::Copy => {
                let Some(from) = &self.from else {
                    return Err(self.fail("it has no \"from\""));
                };
                let value = get_mut(doc, from)
                    .map_err(|m| self.fail(format!("\"from\" {}: {m}", from.display())))?
                    .clone();
                *copied_bytes = copied_bytes.saturating_add(approximate_size(&value));
                if *copied_bytes > MAX_COPIED_BYTES {
                    return Err(PatchError::LimitExceeded(format!(
                        "its copy operations duplicate more than {MAX_COPIED_BYTES} bytes"
                    )));
                }
                self.check_depth(&self.path, &value)?;
                add(doc, &self.path, value).map_err(|m| self.fail(m))
            }
            Kind::Test => {
                let expected = self.value.as_ref().unwrap_or(&Value::Null);
                let test_failed = |message: &str| PatchError::TestFailed {
                    index: self.index,
                    path: self.path.display(),
                    message: message.to_string(),
                };
                let actual = get_mut(doc, &self.path).map_err(|m| test_failed(&m))?;
                if json_equal(actual, expected) {
                    Ok(())
                } else {
                    Err(test_failed(
                        "the value there is not equal to the value given in the test",
                    ))
                }
            }
        }
    }

    fn check_depth(&self, at: &Pointer, value: &Value) -> Result<(), PatchError> {
        let depth = at.tokens.len() + nesting_depth(value, MAX_PATCHED_DEPTH + 1);
        if depth > MAX_PATCHED_DEPTH {
            return Err(PatchError::LimitExceeded(format!(
                "operation {} ({}) would nest the document deeper than {MAX_PATCHED_DEPTH} levels at {}",
                self.index,
                self.kind.name(),
                at.display()
            )));
        }
        Ok(())
    }
}

/// How deeply objects and lists nest inside `value` (a scalar is 0), capped
/// at `cap` to bound the work.
fn nesting_depth(value: &Value, cap: usize) -> usize {
    if cap == 0 {
        return 0;
    }
    match value {
        Value::Array(items) => {
            1 + items
                .iter()
                .map(|v| nesting_depth(v, cap - 1))
                .max()
                .unwrap_or(0)
        }
        Value::Object(map) => {
            1 + map
                .values()
                .map(|v| nesting_depth(v, cap - 1))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// A rough serialized size of a value, in bytes.
fn approximate_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => items
            .iter()
            .map(approximate_size)
            .fold(2, usize::saturating_add),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| k.len() + 4 + approximate_size(v))
            .fold(2, usize::saturating_add),
    }
}

/// Reads an array index token. `len` is the array length; with
/// `for_insert`, `-` and `len` (and `-1`, which Kubernetes treats as "after
/// the last element") are allowed and mean "append".
fn array_index(token: &str, len: usize, for_insert: bool) -> Result<usize, String> {
    let limit = if for_insert { len + 1 } else { len };
    if token == "-" {
        return if for_insert {
            Ok(len)
        } else {
            Err("'-' (the end of the list) names no existing element".to_string())
        };
    }
    let (negative, digits) = match token.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, token),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{token:?} is not a list index"));
    }
    let out_of_range = || format!("index {token} is out of range for a list of {len} element(s)");
    let n: usize = digits.parse().map_err(|_| out_of_range())?;
    let index = if negative {
        // -1 is the last slot: the last element, or the end when inserting.
        limit.checked_sub(n).ok_or_else(out_of_range)?
    } else {
        n
    };
    if index < limit {
        Ok(index)
    } else {
        Err(out_of_range())
    }
}

fn describe_missing(tokens: &[String], depth: usize) -> String {
    let mut path = String::new();
    for t in tokens.iter().take(depth + 1) {
        path.push('/');
        path.push_str(&t.replace('~', "~0").replace('/', "~1"));
    }
    format!("{path} does not exist")
}

/// The value at `pointer`, which must exist.
fn get_mut<'a>(doc: &'a mut Value, pointer: &Pointer) -> Result<&'a mut Value, String> {
    let mut current = doc;
    for (depth, token) in pointer.tokens.iter().enumerate() {
        current = match current {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| describe_missing(&pointer.tokens, depth))?,
            Value::Array(items) => {
                let index = array_index(token, items.len(), false)?;
                items
                    .get_mut(index)
                    .ok_or_else(|| describe_missing(&pointer.tokens, depth))?
            }
            other => {
                return Err(format!(
                    "{} does not exist: its parent is {}, not an object or a list",
                    pointer.text,
                    json_type_name(other)
                ));
            }
        };
    }
    Ok(current)
}

/// The parent container of `pointer` and the last token; `None` for the root.
fn parent_mut<'a>(
    doc: &'a mut Value,
    pointer: &'a Pointer,
) -> Result<Option<(&'a mut Value, &'a str)>, String> {
    let Some((last, parents)) = pointer.tokens.split_last() else {
        return Ok(None);
    };
    let parent_pointer = Pointer {
        text: String::new(),
        tokens: parents.to_vec(),
    };
    let parent = get_mut(doc, &parent_pointer).map_err(|_| {
        format!(
            "{} cannot be reached: {}",
            pointer.text,
            if parents.is_empty() {
                "the document is not an object or a list".to_string()
            } else {
                describe_missing(parents, parents.len() - 1)
            }
        )
    })?;
    Ok(Some((parent, last.as_str())))
}

fn add(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), String> {
    let Some((parent, last)) = parent_mut(doc, path)? else {
        *doc = value;
        return Ok(());
    };
    match parent {
        Value::Object(map) => {
            map.insert(last.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = array_index(last, items.len(), true)?;
            items.insert(index, value);
            Ok(())
        }
        other => Err(format!(
            "cannot add a member to {}: it is not an object or a list",
            json_type_name(other)
        )),
    }
}

fn remove(doc: &mut Value, path: &Pointer) -> Result<Value, String> {
    let Some((parent, last)) = parent_mut(doc, path)? else {
        return Err("the whole document cannot be removed".to_string());
    };
    match parent {
        Value::Object(map) => {
            remove_key(map, last).ok_or_else(|| format!("{} does not exist", path.text))
        }
        Value::Array(items) => {
            let index = array_index(last, items.len(), false)?;
            Ok(items.remove(index))
        }
        other => Err(format!(
            "{} does not exist: its parent is {}, not an object or a list",
            path.text,
            json_type_name(other)
        )),
    }
}

fn remove_key(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.shift_remove(key)
}
