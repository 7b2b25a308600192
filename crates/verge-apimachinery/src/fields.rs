//! Field selectors (`--field-selector`, the `fieldSelector` query parameter).
//!
//! A field selector is a comma-separated list of terms, all of which must
//! hold: `field=value`, `field==value` (the same) or `field!=value`. Inside a
//! value, `\,`, `\=` and `\\` stand for `,`, `=` and `\`; any other escape,
//! a trailing `\`, or an unescaped `=` or `,` in a value is an error. A field
//! that an object does not have compares as the empty string, so
//! `spec.nodeName=` selects unscheduled pods. The empty string selects
//! everything.
//!
//! Which fields may be used depends on the resource; the parser accepts any
//! name and [`FieldSelector::requirements`] lets the server reject the ones it
//! does not support.

use std::fmt;

/// Why a field selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldSelectorError {
    /// A term has no `=`, `==` or `!=`.
    #[error(
        "invalid field selector term {term:?}: expected <field>=<value>, <field>==<value> or <field>!=<value>"
    )]
    MissingOperator { term: String },
    /// A term has an operator but no field name before it.
    #[error("invalid field selector term {term:?}: the field name is empty")]
    EmptyField { term: String },
    /// A field name has characters no field path has.
    #[error(
        "invalid field selector term {term:?}: the field name {field:?} may only contain letters, digits, '.', '-' and '_'"
    )]
    InvalidField { term: String, field: String },
    /// A value contains `\` followed by something other than `\`, `,` or `=`.
    #[error(
        "invalid field selector term {term:?}: invalid escape sequence '\\{sequence}' (only '\\\\', '\\,' and '\\=' are allowed)"
    )]
    InvalidEscape { term: String, sequence: char },
    /// A value ends with a lone `\`.
    #[error("invalid field selector term {term:?}: the value ends with an unfinished escape '\\'")]
    UnterminatedEscape { term: String },
    /// A value contains an unescaped `=` (or `,`).
    #[error(
        "invalid field selector term {term:?}: '{character}' must be escaped as '\\{character}' inside a value"
    )]
    UnescapedCharacter { term: String, character: char },
}

/// The operator of one [`FieldRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`
    Equals,
    /// `field!=value`
    NotEquals,
}

impl FieldOperator {
    /// The operator as written in the canonical string form (`=` or `!=`).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        }
    }
}

/// One term of a field selector, with its value unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field path, e.g. `metadata.name` or `status.phase`.
    pub field: String,
    /// `=` or `!=`.
    pub operator: FieldOperator,
    /// The value to compare with, unescaped.
    pub value: String,
}

impl FieldRequirement {
    /// Whether `actual` (the object's value of the field; `None` when it has
    /// none, which compares as `""`) satisfies this term.
    pub fn matches_value(&self, actual: Option<&str>) -> bool {
        let actual = actual.unwrap_or("");
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.field,
            self.operator.as_str(),
            escape_value(&self.value)
        )
    }
}

/// A parsed field selector. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Parses a field selector. Empty terms (`a=b,,c=d`, a trailing comma)
    /// are ignored; whitespace around a field name is ignored, a value is
    /// taken verbatim. Field names may only hold letters, digits, `.`, `-`
    /// and `_` (every field path Kubernetes supports does).
    pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut requirements = Vec::new();
        for term in split_terms(selector) {
            if term.trim().is_empty() {
                continue;
            }
            let Some((field, operator, raw_value)) = split_term(term) else {
                return Err(FieldSelectorError::MissingOperator {
                    term: term.to_string(),
                });
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(FieldSelectorError::EmptyField {
                    term: term.to_string(),
                });
            }
            if !field
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            {
                return Err(FieldSelectorError::InvalidField {
                    term: term.to_string(),
                    field: field.to_string(),
                });
            }
            let value = unescape_value(raw_value, term)?;
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// A selector made of the given requirements.
    pub fn from_requirements(requirements: Vec<FieldRequirement>) -> FieldSelector {
        FieldSelector { requirements }
    }

    /// The terms, in the order given.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether this selector has no terms (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object satisfies every term; `lookup` gives the object's
    /// value of a field, `None` when it has none (compared as `""`).
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_value(lookup(&r.field).as_deref()))
    }

    /// If some term pins `field` to one value (`field=v`), that value.
    /// Useful for index lookups such as `metadata.name` or `spec.nodeName`.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
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

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

/// Escapes `\`, `,` and `=` in a value so it can be put in a field selector.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits on commas that are not escaped with a backslash.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first unescaped operator (`!=`, `==` or `=`).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        let rest = &term[i..];
        if c == '\\' {
            escaped = true;
        } else if rest.starts_with("!=") {
            return Some((&term[..i], FieldOperator::NotEquals, &term[i + 2..]));
        } else if rest.starts_with("==") {
            return Some((&term[..i], FieldOperator::Equals, &term[i + 2..]));
        } else if c == '=' {
            return Some((&term[..i], FieldOperator::Equals, &term[i + 1..]));
        }
    }
    None
}

fn unescape_value(raw: &str, term: &str) -> Result<String, FieldSelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(other) => {
                    return Err(FieldSelectorError::InvalidEscape {
                        term: term.to_string(),
                        sequence: other,
                    });
                }
                None => {
                    return Err(FieldSelectorError::UnterminatedEscape {
                        term: term.to_string(),
                    });
                }
            },
            '=' | ',' => {
                return Err(FieldSelectorError::UnescapedCharacter {
                    term: term.to_string(),
                    character: c,
                });
            }
            other => out.push(other),
        }
    }
    Ok(out)
}
