use std::collections::BTreeMap;

use serde_json::json;
use verge_apimachinery::labels::{
    FieldErrorReason, Operator, Requirement, Selector, SelectorError, is_qualified_name,
    is_valid_label_value, validate_annotation_keys, validate_labels,
};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(s: &str) -> Selector {
    match Selector::parse(s) {
        Ok(sel) => sel,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn parse_err(s: &str) -> SelectorError {
    match Selector::parse(s) {
        Ok(sel) => panic!("{s:?} should not parse, got {sel}"),
        Err(e) => e,
    }
}

#[test]
fn empty_selector_matches_everything() {
    for s in ["", "   ", "\t\n"] {
        let sel = parse(s);
        assert!(sel.is_empty());
        assert!(sel.matches(&labels(&[])));
        assert!(sel.matches(&labels(&[("a", "b")])));
        assert_eq!(sel.to_string(), "");
    }
    assert!(Selector::everything().matches(&labels(&[("x", "y")])));
}

#[test]
fn equality_operators() {
    let sel = parse("app=nginx");
    assert!(sel.matches(&labels(&[("app", "nginx"), ("tier", "web")])));
    assert!(!sel.matches(&labels(&[("app", "redis")])));
    assert!(!sel.matches(&labels(&[])));
    assert_eq!(sel.to_string(), "app=nginx");

    let sel = parse("app==nginx");
    assert!(sel.matches(&labels(&[("app", "nginx")])));
    assert_eq!(sel.to_string(), "app==nginx");
    assert_eq!(sel.requirements()[0].operator(), Operator::DoubleEquals);

    let sel = parse("app!=nginx");
    assert!(!sel.matches(&labels(&[("app", "nginx")])));
    assert!(sel.matches(&labels(&[("app", "redis")])));
    // != also selects objects without the label, as in Kubernetes.
    assert!(sel.matches(&labels(&[])));
    assert_eq!(sel.to_string(), "app!=nginx");
}

#[test]
fn empty_values() {
    let sel = parse("app=");
    assert!(sel.matches(&labels(&[("app", "")])));
    assert!(!sel.matches(&labels(&[])));
    assert_eq!(sel.to_string(), "app=");
    let sel = parse("app!=,tier=web");
    assert!(sel.matches(&labels(&[("app", "x"), ("tier", "web")])));
    assert_eq!(sel.to_string(), "app!=,tier=web");
    // "()" is the set holding only the empty value.
    let sel = parse("app in ()");
    assert_eq!(sel.requirements()[0].values(), &[String::new()]);
    assert!(sel.matches(&labels(&[("app", "")])));
    let sel = parse("app in (,a)");
    assert_eq!(
        sel.requirements()[0].values(),
        &["".to_string(), "a".to_string()]
    );
    assert_eq!(sel.to_string(), "app in (,a)");
    assert_eq!(parse("a in (x,,y)").requirements()[0].values().len(), 3);
    assert_eq!(parse("a in (x,)").to_string(), "a in (,x)");
}

#[test]
fn set_operators() {
    let sel = parse("env in (prod, staging)");
    assert!(sel.matches(&labels(&[("env", "prod")])));
    assert!(sel.matches(&labels(&[("env", "staging")])));
    assert!(!sel.matches(&labels(&[("env", "dev")])));
    assert!(!sel.matches(&labels(&[])));
    assert_eq!(sel.to_string(), "env in (prod,staging)");

    let sel = parse("env notin (prod,staging)");
    assert!(!sel.matches(&labels(&[("env", "prod")])));
    assert!(sel.matches(&labels(&[("env", "dev")])));
    assert!(sel.matches(&labels(&[])));
    assert_eq!(sel.to_string(), "env notin (prod,staging)");

    // Values are sorted and deduplicated.
    assert_eq!(parse("a in (z,y,z)").to_string(), "a in (y,z)");
    // No space needed before the parenthesis.
    assert_eq!(parse("a in(x)").to_string(), "a in (x)");
}

#[test]
fn existence_operators() {
    let sel = parse("app");
    assert!(sel.matches(&labels(&[("app", "")])));
    assert!(!sel.matches(&labels(&[("other", "x")])));
    assert_eq!(sel.to_string(), "app");

    let sel = parse("!app");
    assert!(!sel.matches(&labels(&[("app", "x")])));
    assert!(sel.matches(&labels(&[])));
    assert_eq!(sel.to_string(), "!app");
    assert_eq!(parse("! app").to_string(), "!app");
}

#[test]
fn greater_and_less_than() {
    let sel = parse("replicas>3");
    assert!(sel.matches(&labels(&[("replicas", "4")])));
    assert!(!sel.matches(&labels(&[("replicas", "3")])));
    assert!(!sel.matches(&labels(&[("replicas", "many")])));
    assert!(!sel.matches(&labels(&[])));
    let sel = parse("replicas<3");
    assert!(sel.matches(&labels(&[("replicas", "2")])));
    assert_eq!(sel.to_string(), "replicas<3");
    let err = parse_err("a>b");
    assert!(err.to_string().contains("integer"), "{err}");
}

#[test]
fn conjunction_whitespace_and_canonical_order() {
    let sel = parse("  x = 1 ,  a in ( z , y ) , !b,c  ");
    assert_eq!(sel.to_string(), "a in (y,z),!b,c,x=1");
    let keys: Vec<&str> = sel.requirements().iter().map(|r| r.key()).collect();
    assert_eq!(keys, ["a", "b", "c", "x"]);
    assert!(sel.matches(&labels(&[("a", "y"), ("c", ""), ("x", "1")])));
    assert!(!sel.matches(&labels(&[("a", "y"), ("b", ""), ("c", ""), ("x", "1")])));
    // The canonical form parses back to the same selector.
    assert_eq!(parse(&sel.to_string()), sel);
}

#[test]
fn keywords_are_plain_words_outside_operator_position() {
    let sel = parse("in=notin,notin in (in,notin)");
    assert_eq!(sel.to_string(), "in=notin,notin in (in,notin)");
    assert!(sel.matches(&labels(&[("in", "notin"), ("notin", "in")])));
}

#[test]
fn prefixed_keys() {
    let sel = parse("app.kubernetes.io/name=web,example.com/tier in (a)");
    assert!(sel.matches(&labels(&[
        ("app.kubernetes.io/name", "web"),
        ("example.com/tier", "a")
    ])));
}

#[test]
fn syntax_errors_are_clear() {
    let cases = [
        ("a in b", "expected '('"),
        ("a in (b", "expected ',' or ')'"),
        ("a in (b c)", "expected ',' or ')'"),
        ("a=b,", "expected a label key after ','"),
        (",a=b", "expected '!', a label key"),
        ("a=b c", "expected ',' or the end"),
        ("!a=b", "expected ',' or the end"),
        ("a=(b)", "expected a value"),
        ("a b", "expected one of =, ==, !=, in, notin"),
        ("(", "expected '!', a label key"),
        ("a=b,,c=d", "expected a label key after ','"),
        ("!", "expected a label key"),
    ];
    for (input, needle) in cases {
        let err = parse_err(input);
        let text = err.to_string();
        assert!(
            matches!(err, SelectorError::Syntax { .. }),
            "{input:?}: {text}"
        );
        assert!(
            text.contains(needle),
            "{input:?}: {text:?} lacks {needle:?}"
        );
        assert!(text.contains(&format!("{input:?}")), "{text}");
    }
}

#[test]
fn invalid_keys_and_values_are_rejected() {
    let err = parse_err("-app=x");
    assert!(matches!(err, SelectorError::InvalidKey { .. }), "{err}");
    assert!(
        err.to_string().contains("name part must consist of"),
        "{err}"
    );

    let err = parse_err(&format!("{}=x", "a".repeat(64)));
    assert!(
        err.to_string().contains("no more than 63 characters"),
        "{err}"
    );

    let err = parse_err("Example.com/app=x");
    assert!(err.to_string().contains("prefix part"), "{err}");

    let err = parse_err("/app=x");
    assert!(
        err.to_string().contains("prefix part must be non-empty"),
        "{err}"
    );

    let err = parse_err("a/b/c=x");
    assert!(err.to_string().contains("at most one '/'"), "{err}");

    let err = parse_err("app=-x");
    assert!(matches!(err, SelectorError::InvalidValue { .. }), "{err}");
    assert!(err.to_string().contains("a valid label must be"), "{err}");

    let err = parse_err(&format!("app={}", "v".repeat(64)));
    assert!(err.to_string().contains("no more than 63"), "{err}");

    let err = parse_err("app in (ok, bad!)");
    // '!' is a token, so this is a syntax error rather than a bad value.
    assert!(matches!(err, SelectorError::Syntax { .. }), "{err}");

    let err = parse_err("app=caf\u{e9}");
    assert!(matches!(err, SelectorError::InvalidValue { .. }), "{err}");
}

#[test]
fn requirement_constructor_validates_operator_arity() {
    assert!(Requirement::new("a", Operator::In, Vec::<String>::new()).is_err());
    assert!(Requirement::new("a", Operator::Equals, ["x", "y"]).is_err());
    assert!(Requirement::new("a", Operator::Exists, ["x"]).is_err());
    assert!(Requirement::new("a", Operator::GreaterThan, ["x"]).is_err());
    let r = Requirement::new("a", Operator::In, ["y", "x", "y"]).expect("valid");
    assert_eq!(r.values(), &["x".to_string(), "y".to_string()]);
    let sel = Selector::everything()
        .and(r)
        .and(Requirement::new("0", Operator::Exists, Vec::<String>::new()).expect("valid"));
    assert_eq!(sel.to_string(), "0,a in (x,y)");
}

#[test]
fn lookup_closure_matching() {
    let sel = parse("app=web,!legacy");
    let object = json!({"metadata": {"labels": {"app": "web", "n": 3}}});
    assert!(sel.matches_fn(|k| object["metadata"]["labels"].get(k).and_then(|v| v.as_str())));
    assert!(sel.matches_json_labels(object["metadata"].get("labels")));
    assert!(!sel.matches_json_labels(None));
    assert!(parse("!app").matches_json_labels(Some(&json!(null))));
    // Non-string label values count as absent.
    assert!(parse("!n").matches_json_labels(object["metadata"].get("labels")));
}

#[test]
fn exact_match_lookup() {
    let sel = parse("app=web,tier in (a),x in (a,b),y!=z");
    assert_eq!(sel.requires_exact_match("app"), Some("web"));
    assert_eq!(sel.requires_exact_match("tier"), Some("a"));
    assert_eq!(sel.requires_exact_match("x"), None);
    assert_eq!(sel.requires_exact_match("y"), None);
    assert_eq!(sel.requires_exact_match("nope"), None);
}

#[test]
fn from_label_selector_object() {
    let sel = Selector::from_label_selector(&json!({
        "matchLabels": {"app": "web", "tier": "frontend"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "owner", "operator": "Exists", "values": []},
            {"key": "zone", "operator": "NotIn", "values": ["b"]}
        ]
    }))
    .expect("valid selector");
    assert_eq!(
        sel.to_string(),
        "app=web,env in (canary,prod),!legacy,owner,tier=frontend,zone notin (b)"
    );
    assert!(sel.matches(&labels(&[
        ("app", "web"),
        ("tier", "frontend"),
        ("env", "prod"),
        ("owner", "me")
    ])));
    assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "frontend")])));

    let everything = Selector::from_label_selector(&json!({})).expect("empty selector");
    assert!(everything.is_empty());
    assert!(everything.matches(&labels(&[("any", "thing")])));
    let everything =
        Selector::from_label_selector(&json!({"matchLabels": null, "matchExpressions": []}))
            .expect("empty selector");
    assert!(everything.is_empty());
}

#[test]
fn from_label_selector_errors() {
    let cases = [
        (json!(null), "must be a JSON object, got null"),
        (json!("app=web"), "must be a JSON object"),
        (json!({"matchLabels": []}), "matchLabels: must be an object"),
        (
            json!({"matchLabels": {"app": 1}}),
            "matchLabels[app]: label values must be strings",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}),
            "matchExpressions[0].operator: \"Equals\" is not a valid label selector operator",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
            "matchExpressions[0].values: Required value",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            "must be specified when `operator` is 'In' or 'NotIn'",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        ),
        (
            json!({"matchExpressions": [{}, {"operator": "Exists"}]}),
            "matchExpressions[0].key: Required value",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
            "matchExpressions[0].values[0]: must be a string",
        ),
        (
            json!({"matchExpressions": {}}),
            "matchExpressions: must be a list",
        ),
    ];
    for (input, needle) in cases {
        let err = Selector::from_label_selector(&input).expect_err("should be rejected");
        let text = err.to_string();
        assert!(text.contains(needle), "{input}: {text:?} lacks {needle:?}");
    }
    let err = Selector::from_label_selector(&json!({"matchLabels": {"bad key": "x"}}))
        .expect_err("bad key");
    assert!(matches!(err, SelectorError::InvalidKey { .. }), "{err}");
    let err = Selector::from_label_selector(&json!({"matchLabels": {"k": "bad value"}}))
        .expect_err("bad value");
    assert!(matches!(err, SelectorError::InvalidValue { .. }), "{err}");
}

#[test]
fn from_map_selector() {
    let sel = Selector::from_map(&labels(&[("b", "2"), ("a", "1")])).expect("valid");
    assert_eq!(sel.to_string(), "a=1,b=2");
    assert!(sel.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
    assert!(Selector::from_map(&labels(&[])).expect("valid").is_empty());
    assert!(Selector::from_map(&labels(&[("a", "x y")])).is_err());
}

#[test]
fn qualified_names_and_values() {
    for ok in [
        "a",
        "A",
        "a-b_c.d",
        "0",
        "example.com/name",
        "kubernetes.io/hostname",
        "node-role.kubernetes.io/control-plane",
    ] {
        assert!(
            is_qualified_name(ok).is_empty(),
            "{ok}: {:?}",
            is_qualified_name(ok)
        );
    }
    for bad in [
        "",
        "-a",
        "a-",
        "a b",
        "_a",
        "a/",
        "/a",
        "A.com/a",
        "a..b.com/x",
        "a/b/c",
    ] {
        assert!(
            !is_qualified_name(bad).is_empty(),
            "{bad:?} should be invalid"
        );
    }
    assert!(is_qualified_name(&format!("{}/a", "a".repeat(254)))[0].contains("253"));
    assert!(is_qualified_name(&format!("{}/{}", "a".repeat(253), "b".repeat(63))).is_empty());
    for ok in ["", "a", "1.2.3", "v1_beta-2", &"x".repeat(63)] {
        assert!(is_valid_label_value(ok).is_empty(), "{ok:?}");
    }
    for bad in ["-", "a-", ".a", "a b", "ä", &"x".repeat(64)] {
        assert!(
            !is_valid_label_value(bad).is_empty(),
            "{bad:?} should be invalid"
        );
    }
}

#[test]
fn validate_object_labels() {
    assert!(validate_labels(&labels(&[("app", "web"), ("x/y", "")]), "metadata.labels").is_empty());
    let errors = validate_labels(
        &labels(&[("bad key", "ok"), ("ok", "bad value")]),
        "metadata.labels",
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.field == "metadata.labels"));
    assert!(errors.iter().all(|e| e.reason == FieldErrorReason::Invalid));
    assert_eq!(errors[0].reason.as_status_reason(), "FieldValueInvalid");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text[0].starts_with("metadata.labels: Invalid value: \"bad key\": name part"),
        "{}",
        text[0]
    );
    assert!(
        text[1].starts_with("metadata.labels: Invalid value: \"bad value\": a valid label"),
        "{}",
        text[1]
    );
}

#[test]
fn validate_object_annotations() {
    let ok = labels(&[
        (
            "kubectl.kubernetes.io/last-applied-configuration",
            "{\"a\": 1} any text!",
        ),
        // The key is checked in lower case, so an upper-case prefix passes.
        ("Example.COM/Thing", ""),
    ]);
    assert!(validate_annotation_keys(&ok, "metadata.annotations").is_empty());

    let errors = validate_annotation_keys(&labels(&[("bad key", "v")]), "metadata.annotations");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("metadata.annotations: Invalid value: \"bad key\"")
    );

    let mut big = BTreeMap::new();
    big.insert("a".to_string(), "x".repeat(256 * 1024 - 1));
    assert!(validate_annotation_keys(&big, "metadata.annotations").is_empty());
    big.insert("b".to_string(), String::new());
    let errors = validate_annotation_keys(&big, "metadata.annotations");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].reason, FieldErrorReason::TooLong);
    assert_eq!(errors[0].reason.as_status_reason(), "FieldValueTooLong");
    assert!(
        errors[0]
            .to_string()
            .contains("may not be more than 262144 bytes"),
        "{}",
        errors[0]
    );
}
