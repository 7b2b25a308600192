use std::collections::HashMap;

use verge_apimachinery::fields::{
    FieldOperator, FieldRequirement, FieldSelector, FieldSelectorError, escape_value,
};

fn parse(s: &str) -> FieldSelector {
    match FieldSelector::parse(s) {
        Ok(sel) => sel,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn object(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn matches(sel: &FieldSelector, obj: &HashMap<String, String>) -> bool {
    sel.matches(|field| obj.get(field).cloned())
}

#[test]
fn empty_selector_matches_everything() {
    for s in ["", ",", " , "] {
        let sel = parse(s);
        assert!(sel.is_empty(), "{s:?}");
        assert!(matches(&sel, &object(&[("metadata.name", "x")])));
    }
    assert!(FieldSelector::everything().is_empty());
}

#[test]
fn operators() {
    let sel = parse("metadata.name=web,status.phase!=Running,spec.nodeName==node-1");
    assert_eq!(
        sel.requirements(),
        &[
            FieldRequirement {
                field: "metadata.name".into(),
                operator: FieldOperator::Equals,
                value: "web".into()
            },
            FieldRequirement {
                field: "status.phase".into(),
                operator: FieldOperator::NotEquals,
                value: "Running".into()
            },
            FieldRequirement {
                field: "spec.nodeName".into(),
                operator: FieldOperator::Equals,
                value: "node-1".into()
            },
        ]
    );
    assert!(matches(
        &sel,
        &object(&[
            ("metadata.name", "web"),
            ("status.phase", "Pending"),
            ("spec.nodeName", "node-1")
        ])
    ));
    assert!(!matches(
        &sel,
        &object(&[
            ("metadata.name", "web"),
            ("status.phase", "Running"),
            ("spec.nodeName", "node-1")
        ])
    ));
    // `==` is normalised to `=` in the canonical form.
    assert_eq!(
        sel.to_string(),
        "metadata.name=web,status.phase!=Running,spec.nodeName=node-1"
    );
}

#[test]
fn missing_fields_compare_as_empty() {
    let unscheduled = parse("spec.nodeName=");
    assert!(matches(&unscheduled, &object(&[])));
    assert!(matches(&unscheduled, &object(&[("spec.nodeName", "")])));
    assert!(!matches(&unscheduled, &object(&[("spec.nodeName", "n1")])));
    let scheduled = parse("spec.nodeName!=");
    assert!(!matches(&scheduled, &object(&[])));
    assert!(matches(&scheduled, &object(&[("spec.nodeName", "n1")])));
}

#[test]
fn escapes() {
    let sel = parse(r"metadata.name=a\,b\=c\\d,x=y");
    assert_eq!(sel.requirements().len(), 2);
    assert_eq!(sel.requirements()[0].value, r"a,b=c\d");
    assert_eq!(sel.to_string(), r"metadata.name=a\,b\=c\\d,x=y");
    assert_eq!(parse(&sel.to_string()), sel);
    assert_eq!(escape_value(r"a,b=c\"), r"a\,b\=c\\");
    // `!` alone is not an operator; such a field name is rejected.
    let err = FieldSelector::parse("a!b=c").expect_err("bad field");
    assert_eq!(
        err.to_string(),
        "invalid field selector term \"a!b=c\": the field name \"a!b\" may only contain letters, digits, '.', '-' and '_'"
    );
}

#[test]
fn exact_match_lookup() {
    let sel = parse("metadata.name=web,spec.nodeName!=n1");
    assert_eq!(sel.requires_exact_match("metadata.name"), Some("web"));
    assert_eq!(sel.requires_exact_match("spec.nodeName"), None);
    assert_eq!(sel.requires_exact_match("metadata.namespace"), None);
}

#[test]
fn whitespace_around_field_names_is_ignored_values_are_verbatim() {
    let sel = parse(" status.phase =Running");
    assert_eq!(sel.requirements()[0].field, "status.phase");
    assert_eq!(sel.requirements()[0].value, "Running");
    let sel = parse("status.phase= Running");
    assert_eq!(sel.requirements()[0].value, " Running");
}

#[test]
fn errors_are_clear() {
    type Check = fn(&FieldSelectorError) -> bool;
    let cases: [(&str, Check, &str); 7] = [
        (
            "metadata.name",
            |e| matches!(e, FieldSelectorError::MissingOperator { .. }),
            "expected <field>=<value>",
        ),
        (
            "a=b,c",
            |e| matches!(e, FieldSelectorError::MissingOperator { .. }),
            "\"c\"",
        ),
        (
            "=b",
            |e| matches!(e, FieldSelectorError::EmptyField { .. }),
            "the field name is empty",
        ),
        (
            r"a=b\x",
            |e| matches!(e, FieldSelectorError::InvalidEscape { sequence: 'x', .. }),
            r"invalid escape sequence '\x'",
        ),
        (
            r"a=b\",
            |e| matches!(e, FieldSelectorError::UnterminatedEscape { .. }),
            "unfinished escape",
        ),
        (
            "a=b=c",
            |e| {
                matches!(
                    e,
                    FieldSelectorError::UnescapedCharacter { character: '=', .. }
                )
            },
            r"'=' must be escaped as '\='",
        ),
        (
            "a==b=c",
            |e| matches!(e, FieldSelectorError::UnescapedCharacter { .. }),
            "must be escaped",
        ),
    ];
    for (input, check, needle) in cases {
        let err = FieldSelector::parse(input).expect_err(input);
        assert!(check(&err), "{input:?}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains(needle),
            "{input:?}: {text:?} lacks {needle:?}"
        );
        assert!(text.starts_with("invalid field selector term"), "{text}");
    }
}
