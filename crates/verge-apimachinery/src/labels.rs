//! Label selectors and label/annotation validation, with Kubernetes semantics.
//!
//! A [`Selector`] is a conjunction of [`Requirement`]s. It is built either
//! from the string syntax used by `kubectl -l` and the `labelSelector` query
//! parameter ([`Selector::parse`]), from a `metav1.LabelSelector` object
//! ([`Selector::from_label_selector`]), or from a plain map of labels
//! ([`Selector::from_map`], e.g. a Service's `spec.selector`).
//!
//! String syntax, requirements separated by `,` (logical AND), whitespace
//! between tokens ignored:
//!
//! | form              | meaning                                           |
//! |-------------------|---------------------------------------------------|
//! | `k=v`, `k==v`     | label `k` is present and equals `v`               |
//! | `k!=v`            | label `k` is absent or differs from `v`           |
//! | `k in (a,b)`      | label `k` is present and is one of the values     |
//! | `k notin (a,b)`   | label `k` is absent or is none of the values      |
//! | `k`               | label `k` is present                              |
//! | `!k`              | label `k` is absent                               |
//! | `k>5`, `k<5`      | label `k` is present and, read as an integer, is greater / less |
//!
//! The empty string selects everything. Values may be empty (`k=` or
//! `k in (,a)`). Requirements are kept sorted by key, so [`Selector`]'s
//! `Display` gives one canonical string (the form used for a scale
//! subresource's `status.selector`).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// Longest allowed name part of a qualified name, and longest label value.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Longest allowed name part of a qualified name (label or annotation key).
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// Longest allowed DNS-1123 subdomain (the optional prefix of a key).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Largest allowed total size, in bytes, of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Why a selector could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The selector string does not follow the selector grammar.
    #[error("unable to parse label selector {selector:?}: {message}")]
    Syntax { selector: String, message: String },
    /// A key is not a valid label key (qualified name).
    #[error("invalid label key {key:?}: {message}")]
    InvalidKey { key: String, message: String },
    /// A value is not a valid label value.
    #[error("invalid value {value:?} for label {key:?}: {message}")]
    InvalidValue {
        key: String,
        value: String,
        message: String,
    },
    /// The operator and the number or kind of values do not fit together.
    #[error("invalid requirement on label {key:?}: {message}")]
    InvalidRequirement { key: String, message: String },
    /// A `metav1.LabelSelector` object is malformed; `field` is the path of
    /// the offending field inside the selector (e.g. `matchExpressions[0].operator`).
    #[error("invalid label selector: {field}: {message}")]
    InvalidLabelSelector { field: String, message: String },
}

/// The operator of one [`Requirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `k=v`
    Equals,
    /// `k==v` (same meaning as `=`, kept so the string form round-trips)
    DoubleEquals,
    /// `k!=v`
    NotEquals,
    /// `k in (a,b)`
    In,
    /// `k notin (a,b)`
    NotIn,
    /// `k`
    Exists,
    /// `!k`
    DoesNotExist,
    /// `k>5`
    GreaterThan,
    /// `k<5`
    LessThan,
}

impl Operator {
    /// The name used for this operator in a `metav1.LabelSelector`'s
    /// `matchExpressions`, where one exists.
    pub fn match_expression_name(self) -> Option<&'static str> {
        match self {
            Operator::In => Some("In"),
            Operator::NotIn => Some("NotIn"),
            Operator::Exists => Some("Exists"),
            Operator::DoesNotExist => Some("DoesNotExist"),
            _ => None,
        }
    }
}

/// One condition on one label. Values are kept sorted and without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, checking the key, the values and that the number
    /// of values suits the operator (one for `=`, `==`, `!=`, `>`, `<`; at
    /// least one for `in`/`notin`; none for exists / does-not-exist; an
    /// integer for `>` and `<`).
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Requirement, SelectorError> {
        let key = key.into();
        let mut values: Vec<String> = values.into_iter().map(Into::into).collect();
        let key_errors = is_qualified_name(&key);
        if !key_errors.is_empty() {
            return Err(SelectorError::InvalidKey {
                key,
                message: key_errors.join("; "),
            });
        }
        let invalid = |message: &str| SelectorError::InvalidRequirement {
            key: key.clone(),
            message: message.to_string(),
        };
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err(invalid(
                        "for 'in' and 'notin' operators the set of values can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    return Err(invalid(&format!(
                        "exact-match operators need exactly one value, got {}",
                        values.len()
                    )));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(invalid(
                        "the exists and does-not-exist operators take no values",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(invalid(&format!(
                        "the '>' and '<' operators need exactly one value, got {}",
                        values.len()
                    )));
                }
                if let Some(value) = values.first()
                    && value.parse::<i64>().is_err()
                {
                    return Err(invalid(&format!(
                        "the '>' and '<' operators need an integer value, got {value:?}"
                    )));
                }
            }
        }
        for value in &values {
            let errors = is_valid_label_value(value);
            if !errors.is_empty() {
                return Err(SelectorError::InvalidValue {
                    key,
                    value: value.clone(),
                    message: errors.join("; "),
                });
            }
        }
        values.sort();
        values.dedup();
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    /// The label key this requirement is about.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and deduplicated (empty for exists/does-not-exist).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set, given as a lookup of a key's value, satisfies this
    /// requirement.
    pub fn matches_fn<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        let value = lookup(&self.key);
        let contains = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => value.is_some_and(contains),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(contains),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Ok(have)) = value.map(|v| v.parse::<i64>()) else {
                    return false;
                };
                let Some(Ok(want)) = self.values.first().map(|v| v.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let single = self.values.first().map(String::as_str).unwrap_or("");
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, single),
            Operator::DoubleEquals => write!(f, "{}=={}", self.key, single),
            Operator::NotEquals => write!(f, "{}!={}", self.key, single),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, single),
            Operator::LessThan => write!(f, "{}<{}", self.key, single),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// A label selector: all of its requirements must hold. The empty selector
/// matches every label set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Parses the string syntax (see the module documentation).
    pub fn parse(selector: &str) -> Result<Selector, SelectorError> {
        let tokens = lex(selector);
        let mut parser = Parser {
            selector,
            tokens,
            pos: 0,
        };
        let requirements = parser.parse()?;
        Ok(Selector::from_requirements(requirements))
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON object
    /// (`matchLabels` and `matchExpressions` with the operators `In`,
    /// `NotIn`, `Exists` and `DoesNotExist`).
    ///
    /// An empty object matches everything. A `null` is rejected: whether a
    /// missing selector means "nothing" or "everything" depends on the field,
    /// so the caller must decide before calling this.
    pub fn from_label_selector(selector: &Value) -> Result<Selector, SelectorError> {
        let Value::Object(map) = selector else {
            return Err(SelectorError::InvalidLabelSelector {
                field: "<selector>".to_string(),
                message: format!(
                    "a label selector must be a JSON object, got {}",
                    json_type_name(selector)
                ),
            });
        };
        let mut requirements = Vec::new();
        match map.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Value::String(value) = value else {
                        return Err(SelectorError::InvalidLabelSelector {
                            field: format!("matchLabels[{key}]"),
                            message: format!(
                                "label values must be strings, got {}",
                                json_type_name(value)
                            ),
                        });
                    };
                    requirements.push(Requirement::new(
                        key.as_str(),
                        Operator::Equals,
                        [value.as_str()],
                    )?);
                }
            }
            Some(other) => {
                return Err(SelectorError::InvalidLabelSelector {
                    field: "matchLabels".to_string(),
                    message: format!(
                        "must be an object mapping label keys to values, got {}",
                        json_type_name(other)
                    ),
                });
            }
        }
        match map.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(expressions)) => {
                for (i, expression) in expressions.iter().enumerate() {
                    requirements.push(parse_match_expression(i, expression)?);
                }
            }
            Some(other) => {
                return Err(SelectorError::InvalidLabelSelector {
                    field: "matchExpressions".to_string(),
                    message: format!("must be a list, got {}", json_type_name(other)),
                });
            }
        }
        Ok(Selector::from_requirements(requirements))
    }

    /// A selector requiring every label in `labels` to be present with
    /// exactly that value (like a Service's `spec.selector`). An empty map
    /// matches everything. Keys and values are validated.
    pub fn from_map(labels: &BTreeMap<String, String>) -> Result<Selector, SelectorError> {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement::new(k.as_str(), Operator::Equals, [v.as_str()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selector::from_requirements(requirements))
    }

    /// A selector made of the given requirements (sorted by key, stably).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Selector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }

    /// This selector with one more requirement.
    pub fn and(mut self, requirement: Requirement) -> Selector {
        self.requirements.push(requirement);
        Selector::from_requirements(self.requirements)
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this selector has no requirements (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_fn(|key| labels.get(key).map(String::as_str))
    }

    /// Whether the labels, given as a lookup from key to value, satisfy every
    /// requirement. Lets callers match without building a map.
    pub fn matches_fn<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches_fn(&lookup))
    }

    /// Whether an object's `metadata.labels` JSON value satisfies every
    /// requirement. `null`, a missing map or a non-object counts as no
    /// labels; non-string values count as absent.
    pub fn matches_json_labels(&self, labels: Option<&Value>) -> bool {
        let map = labels.and_then(Value::as_object);
        self.matches_fn(|key| map.and_then(|m| m.get(key)).and_then(Value::as_str))
    }

    /// If this selector pins `key` to exactly one value (`key=v`, `key==v` or
    /// `key in (v)`), that value. Useful for index lookups.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        self.requirements.iter().find_map(|r| match r.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In
                if r.key == key && r.values.len() == 1 =>
            {
                r.values.first().map(String::as_str)
            }
            _ => None,
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

fn parse_match_expression(index: usize, expression: &Value) -> Result<Requirement, SelectorError> {
    let field = |name: &str| format!("matchExpressions[{index}]{name}");
    let invalid = |name: &str, message: String| SelectorError::InvalidLabelSelector {
        field: field(name),
        message,
    };
    let Value::Object(expression) = expression else {
        return Err(invalid(
            "",
            format!("must be an object, got {}", json_type_name(expression)),
        ));
    };
    let key = match expression.get("key") {
        Some(Value::String(key)) => key.as_str(),
        None | Some(Value::Null) => return Err(invalid(".key", "Required value".to_string())),
        Some(other) => {
            return Err(invalid(
                ".key",
                format!("must be a string, got {}", json_type_name(other)),
            ));
        }
    };
    let operator = match expression.get("operator") {
        Some(Value::String(op)) => match op.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(invalid(
                    ".operator",
                    format!(
                        "{other:?} is not a valid label selector operator (use In, NotIn, Exists or DoesNotExist)"
                    ),
                ));
            }
        },
        None | Some(Value::Null) => {
            return Err(invalid(".operator", "Required value".to_string()));
        }
        Some(other) => {
            return Err(invalid(
                ".operator",
                format!("must be a string, got {}", json_type_name(other)),
            ));
        }
    };
    let mut values = Vec::new();
    match expression.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                let Value::String(v) = item else {
                    return Err(invalid(
                        &format!(".values[{j}]"),
                        format!("must be a string, got {}", json_type_name(item)),
                    ));
                };
                values.push(v.clone());
            }
        }
        Some(other) => {
            return Err(invalid(
                ".values",
                format!("must be a list of strings, got {}", json_type_name(other)),
            ));
        }
    }
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err(invalid(
                ".values",
                "Required value: must be specified when `operator` is 'In' or 'NotIn'".to_string(),
            ));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err(invalid(
                ".values",
                "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    .to_string(),
            ));
        }
        _ => {}
    }
    Requirement::new(key, operator, values)
}

pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// Lexer and parser for the string syntax.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Bang,
    NotEquals,
    Equals,
    DoubleEquals,
    GreaterThan,
    LessThan,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Token::Ident(s) => return write!(f, "'{s}'"),
            Token::Bang => "'!'",
            Token::NotEquals => "'!='",
            Token::Equals => "'='",
            Token::DoubleEquals => "'=='",
            Token::GreaterThan => "'>'",
            Token::LessThan => "'<'",
            Token::OpenParen => "'('",
            Token::CloseParen => "')'",
            Token::Comma => "','",
            Token::End => "the end of the selector",
        };
        f.write_str(s)
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn is_selector_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn lex(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if is_selector_whitespace(c) {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next = chars.peek().copied();
            let token = match (c, next) {
                ('!', Some('=')) => {
                    chars.next();
                    Token::NotEquals
                }
                ('=', Some('=')) => {
                    chars.next();
                    Token::DoubleEquals
                }
                ('!', _) => Token::Bang,
                ('=', _) => Token::Equals,
                ('>', _) => Token::GreaterThan,
                ('<', _) => Token::LessThan,
                ('(', _) => Token::OpenParen,
                (')', _) => Token::CloseParen,
                _ => Token::Comma,
            };
            tokens.push(token);
            continue;
        }
        let mut ident = String::new();
        while let Some(&c) = chars.peek() {
            if is_special(c) || is_selector_whitespace(c) {
                break;
            }
            ident.push(c);
            chars.next();
        }
        tokens.push(Token::Ident(ident));
    }
    tokens.push(Token::End);
    tokens
}

struct Parser<'s> {
    selector: &'s str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn syntax(&self, message: String) -> SelectorError {
        SelectorError::Syntax {
            selector: self.selector.to_string(),
            message,
        }
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::Ident(_) | Token::Bang => {
                    requirements.push(self.parse_requirement()?);
                    match self.next() {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            if !matches!(self.peek(), Token::Ident(_) | Token::Bang) {
                                return Err(self.syntax(format!(
                                    "found {}, expected a label key after ','",
                                    self.peek()
                                )));
                            }
                        }
                        other => {
                            return Err(self.syntax(format!(
                                "found {other}, expected ',' or the end of the selector"
                            )));
                        }
                    }
                }
                Token::End => return Ok(requirements),
                other => {
                    return Err(self.syntax(format!(
                        "found {other}, expected '!', a label key, or the end of the selector"
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut token = self.next();
        let negated = token == Token::Bang;
        if negated {
            token = self.next();
        }
        let Token::Ident(key) = token else {
            return Err(self.syntax(format!("found {token}, expected a label key")));
        };
        if negated {
            return Requirement::new(key, Operator::DoesNotExist, Vec::<String>::new());
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Requirement::new(key, Operator::Exists, Vec::<String>::new());
        }
        let operator = match self.next() {
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::Ident(word) if word == "in" => Operator::In,
            Token::Ident(word) if word == "notin" => Operator::NotIn,
            other => {
                // Validate the key first so that "Bad Key=x" reports the key.
                let key_errors = is_qualified_name(&key);
                if !key_errors.is_empty() {
                    return Err(SelectorError::InvalidKey {
                        key,
                        message: key_errors.join("; "),
                    });
                }
                return Err(self.syntax(format!(
                    "found {other} after label key '{key}', expected one of =, ==, !=, in, notin, >, <, ',' or the end of the selector"
                )));
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_value_set(&key)?,
            _ => vec![self.parse_exact_value(&key)?],
        };
        Requirement::new(key, operator, values)
    }

    fn parse_exact_value(&mut self, key: &str) -> Result<String, SelectorError> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        match self.next() {
            Token::Ident(value) => Ok(value),
            other => Err(self.syntax(format!(
                "found {other}, expected a value for label key '{key}'"
            ))),
        }
    }

    fn parse_value_set(&mut self, key: &str) -> Result<Vec<String>, SelectorError> {
        let token = self.next();
        if token != Token::OpenParen {
            return Err(self.syntax(format!(
                "found {token}, expected '(' to start the list of values for label key '{key}'"
            )));
        }
        let mut values = Vec::new();
        match self.peek() {
            Token::CloseParen => {
                // "k in ()" is the set holding only the empty value.
                self.next();
                values.push(String::new());
                return Ok(values);
            }
            Token::Ident(_) | Token::Comma => {}
            other => {
                return Err(self.syntax(format!(
                    "found {other}, expected a value, ',' or ')' in the list of values for label key '{key}'"
                )));
            }
        }
        // A comma-separated list of possibly empty values.
        let mut expect_value = true;
        loop {
            match self.next() {
                Token::Ident(value) if expect_value => {
                    values.push(value);
                    expect_value = false;
                }
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Token::CloseParen => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other => {
                    let expected = if expect_value {
                        "a value, ',' or ')'"
                    } else {
                        "',' or ')'"
                    };
                    return Err(self.syntax(format!(
                        "found {other}, expected {expected} in the list of values for label key '{key}'"
                    )));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Validation of keys and values.

const NAME_FORMAT: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Checks a qualified name (a label or annotation key): an optional DNS-1123
/// subdomain prefix of at most 253 characters followed by `/`, and a name of
/// at most 63 characters of `[A-Za-z0-9-_.]` starting and ending with an
/// alphanumeric character. Returns one message per problem; empty when valid.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut parts = value.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, _) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => {
            errors.push(format!(
                "a qualified name {NAME_FORMAT}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName'); it may contain at most one '/'"
            ));
            return errors;
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_string());
        } else {
            errors.extend(
                is_dns1123_subdomain(prefix)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else {
        if name.len() > QUALIFIED_NAME_MAX_LENGTH {
            errors.push(format!(
                "name part must be no more than {QUALIFIED_NAME_MAX_LENGTH} characters"
            ));
        }
        if !is_name_part(name) {
            errors.push(format!("name part {NAME_FORMAT}"));
        }
    }
    errors
}

/// Checks a label value: empty, or at most 63 characters of `[A-Za-z0-9-_.]`
/// starting and ending with an alphanumeric character. Returns one message per
/// problem; empty when valid.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errors.push(format!(
            "must be no more than {LABEL_VALUE_MAX_LENGTH} characters"
        ));
    }
    if !value.is_empty() && !is_name_part(value) {
        errors.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string());
    }
    errors
}

/// Checks a DNS-1123 subdomain: at most 253 characters, dot-separated labels
/// of lower-case alphanumerics and `-`, each starting and ending with an
/// alphanumeric. Returns one message per problem; empty when valid.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errors.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        ));
    }
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
            }
            _ => false,
        }
    };
    if !value.split('.').all(label_ok) {
        errors.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
    }
    errors
}

/// Why a field failed validation, as a Kubernetes `StatusCause` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorReason {
    /// `FieldValueInvalid`
    Invalid,
    /// `FieldValueTooLong`
    TooLong,
}

impl FieldErrorReason {
    /// The `reason` of a `StatusCause` for this error.
    pub fn as_status_reason(self) -> &'static str {
        match self {
            FieldErrorReason::Invalid => "FieldValueInvalid",
            FieldErrorReason::TooLong => "FieldValueTooLong",
        }
    }
}

/// One field-level validation problem, as it goes into a 422 `Status`:
/// `Display` gives Kubernetes' usual `"<field>: <message>"` form, e.g.
/// `metadata.labels: Invalid value: "-x": name part must consist of ...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldError {
    /// The field path, e.g. `metadata.labels`.
    pub field: String,
    /// The `StatusCause` reason.
    pub reason: FieldErrorReason,
    /// The message without the field path, e.g. `Invalid value: "-x": ...`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn invalid_field(field: &str, value: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: FieldErrorReason::Invalid,
        message: format!("Invalid value: {value:?}: {detail}"),
    }
}

/// Validates an object's labels (keys must be qualified names, values valid
/// label values), reporting problems against `field_path` (usually
/// `metadata.labels`). Empty when all labels are valid.
pub fn validate_labels(labels: &BTreeMap<String, String>, field_path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in labels {
        for detail in is_qualified_name(key) {
            errors.push(invalid_field(field_path, key, &detail));
        }
        for detail in is_valid_label_value(value) {
            errors.push(invalid_field(field_path, value, &detail));
        }
    }
    errors
}

/// Validates an object's annotations: keys must be qualified names (checked
/// case-insensitively, so an upper-case prefix is accepted) and keys plus
/// values must total at most 256 KiB. Values are otherwise free-form.
pub fn validate_annotation_keys(
    annotations: &BTreeMap<String, String>,
    field_path: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut total: usize = 0;
    for (key, value) in annotations {
        for detail in is_qualified_name(&key.to_lowercase()) {
            errors.push(invalid_field(field_path, key, &detail));
        }
        total = total.saturating_add(key.len()).saturating_add(value.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errors.push(FieldError {
            field: field_path.to_string(),
            reason: FieldErrorReason::TooLong,
            message: format!(
                "Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes (the annotations total {total} bytes)"
            ),
        });
    }
    errors
}
