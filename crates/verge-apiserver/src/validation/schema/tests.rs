use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::registry::{CustomVersion, Registry, ResourceType};

fn builtin(group: &str, kind: &str) -> Arc<ResourceType> {
    Registry::with_builtins()
        .lookup_kind(group, "v1", kind)
        .unwrap_or_else(|| panic!("{kind}"))
}

fn custom(schema: Option<Value>) -> ResourceType {
    crate::registry::example_widget(CustomVersion {
        schema,
        ..Default::default()
    })
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app.kubernetes.io/name": "web", "anything/goes": "here"},
            "annotations": {"x": "y"},
            "creationTimestamp": null,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"}]
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "nginx",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "resources": {"limits": {"cpu": 1, "memory": "128Mi"}, "requests": {"cpu": "100m"}},
                        "livenessProbe": {"httpGet": {"path": "/", "port": "http"}}
                    }],
                    "nodeSelector": {"kubernetes.io/os": "linux"}
                }
            }
        },
        "status": {"replicas": 3, "conditions": [{"type": "Available", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
    })
}

// ---- unknown_fields: built-ins -------------------------------------------

#[test]
fn valid_deployment_has_no_unknown_fields() {
    assert_eq!(
        unknown_fields(&builtin("apps", "Deployment"), &deployment()),
        Vec::<String>::new()
    );
}

#[test]
fn misspelt_container_field_is_reported_by_path() {
    let mut d = deployment();
    let c = &mut d["spec"]["template"]["spec"]["containers"][0];
    c.as_object_mut()
        .expect("container")
        .insert("imagePullPolicyy".into(), json!("Always"));
    assert_eq!(
        unknown_fields(&builtin("apps", "Deployment"), &d),
        vec!["spec.template.spec.containers[0].imagePullPolicyy"]
    );
}

#[test]
fn unknown_fields_everywhere_in_document_order() {
    let mut d = deployment();
    d["spec"]["foo"] = json!(1);
    d["metadata"]["labelz"] = json!({"a": "b"});
    d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPortt"] = json!(1);
    d["spec"]["strategy"]["rollingUpdate"]["maxSurgee"] = json!(1);
    d["top"] = json!(true);
    assert_eq!(
        unknown_fields(&builtin("apps", "Deployment"), &d),
        vec![
            "metadata.labelz",
            "spec.strategy.rollingUpdate.maxSurgee",
            "spec.template.spec.containers[0].ports[0].hostPortt",
            "spec.foo",
            "top",
        ]
    );
}

#[test]
fn maps_and_free_form_fields_accept_any_key() {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"weird.key/x": "1"}},
        "data": {"any-key": "v", "other.key": "w"},
        "binaryData": {"k": "AAAA"}
    });
    assert!(unknown_fields(&builtin("", "ConfigMap"), &cm).is_empty());
    let cr = json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "r", "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}]},
        "revision": 1,
        "data": {"anything": {"nested": [1, 2, {"deep": true}]}}
    });
    assert!(unknown_fields(&builtin("apps", "ControllerRevision"), &cr).is_empty());
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": 1}}}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "startTime": "2024-01-01T00:00:00Z"}
    });
    assert!(unknown_fields(&builtin("", "Pod"), &pod).is_empty());
}

#[test]
fn crd_objects_are_checked_through_json_schema_props() {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": true,
                            "properties": {
                                "size": {"type": "integer", "default": 3, "enum": [1, 3]},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                "extra": {"type": "object", "additionalProperties": true},
                                "items": {"type": "array", "items": {"type": "string"}},
                                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
                            }
                        }
                    }
                }},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]
            }]
        }
    });
    let rt = builtin("apiextensions.k8s.io", "CustomResourceDefinition");
    assert_eq!(unknown_fields(&rt, &crd), Vec::<String>::new());
    let mut bad = crd.clone();
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["typo"] = json!(true);
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["items"]
        ["items"]["tpye"] = json!("x");
    assert_eq!(
        unknown_fields(&rt, &bad),
        vec![
            "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.items.items.tpye",
            "spec.versions[0].schema.openAPIV3Schema.typo",
        ]
    );
}

#[test]
fn status_is_allowed_where_the_schema_has_it() {
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "status": {}});
    assert_eq!(
        unknown_fields(&builtin("", "ConfigMap"), &cm),
        vec!["status"]
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "status": {"phase": "Active"}});
    assert!(unknown_fields(&builtin("", "Namespace"), &ns).is_empty());
}

// ---- unknown_fields: custom resources --------------------------------------

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer"},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                               "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "backends": {"type": "object", "additionalProperties": {
                        "type": "object", "properties": {"host": {"type": "string"}}}},
                    "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}},
                    "port": {"x-kubernetes-int-or-string": true}
                }
            }
        }
    })
}

#[test]
fn custom_resource_unknown_fields() {
    let rt = custom(Some(widget_schema()));
    let ok = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": {
            "size": 1,
            "config": {"whatever": {"deep": [1, {"x": 2}]}, "known": {"a": "s"}},
            "labels": {"any": "thing"},
            "backends": {"b1": {"host": "h"}},
            "items": [{"name": "a"}],
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "y"}},
            "port": 80
        }
    });
    assert_eq!(unknown_fields(&rt, &ok), Vec::<String>::new());

    let bad = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "labelz": {}},
        "spec": {
            "foo": 1,
            "config": {"known": {"b": 1}},
            "backends": {"b1": {"hots": "h"}},
            "items": [{"name": "a"}, {"nmae": "b"}],
            "template": {"metadata": {"nmae": "p"}, "spec": {"y": 1}}
        },
        "status": {"ready": true}
    });
    assert_eq!(
        unknown_fields(&rt, &bad),
        vec![
            "metadata.labelz",
            "spec.foo",
            "spec.config.known.b",
            "spec.backends.b1.hots",
            "spec.items[1].nmae",
            "spec.template.metadata.nmae",
            "spec.template.spec.y",
            "status",
        ]
    );
}

#[test]
fn custom_resource_without_schema_only_checks_metadata() {
    let rt = custom(None);
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                     "metadata": {"name": "w", "nmae": "x"}, "spec": {"anything": 1}, "status": {}});
    assert_eq!(unknown_fields(&rt, &obj), vec!["metadata.nmae"]);
}

#[test]
fn preserve_unknown_fields_at_the_root() {
    let rt = custom(Some(
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    ));
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                     "spec": {"a": 1}, "status": {"b": 2}});
    assert!(unknown_fields(&rt, &obj).is_empty());
}

// ---- check_builtin_types ----------------------------------------------------

#[test]
fn builtin_type_errors_name_the_field() {
    let rt = builtin("apps", "Deployment");
    assert_eq!(check_builtin_types(&rt, &deployment()), Ok(()));

    let mut d = deployment();
    d["spec"]["replicas"] = json!("three");
    assert_eq!(
        check_builtin_types(&rt, &d),
        Err("spec.replicas: invalid type: string \"three\", expected i32".into())
    );

    let mut d = deployment();
    d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("http");
    let err = check_builtin_types(&rt, &d).expect_err("type error");
    assert!(
        err.starts_with(
            "spec.template.spec.containers[0].ports[0].containerPort: invalid type: string \"http\""
        ),
        "{err}"
    );

    let mut d = deployment();
    d["metadata"]["labels"]["n"] = json!(5);
    let err = check_builtin_types(&rt, &d).expect_err("type error");
    assert!(
        err.starts_with("metadata.labels.n: invalid type: integer `5`"),
        "{err}"
    );

    let mut d = deployment();
    d["apiVersion"] = json!("apps/v2");
    assert!(check_builtin_types(&rt, &d).is_err());

    // Custom resources are not type-checked here.
    assert_eq!(
        check_builtin_types(&custom(None), &json!({"spec": 1})),
        Ok(())
    );
}

#[test]
fn every_builtin_in_the_registry_type_checks_an_empty_object() {
    for rt in Registry::with_builtins().all() {
        let obj =
            json!({"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": {"name": "x"}});
        assert_eq!(check_builtin_types(&rt, &obj), Ok(()), "{}", rt.kind);
        assert!(unknown_fields(&rt, &obj).is_empty(), "{}", rt.kind);
    }
}

// ---- validate_custom --------------------------------------------------------

fn messages(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn type_errors_in_kubernetes_style() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer"},
        "name": {"type": "string"},
        "ratio": {"type": "number"},
        "on": {"type": "boolean"},
        "list": {"type": "array", "items": {"type": "string"}},
        "port": {"x-kubernetes-int-or-string": true}
    }}}});
    let errors = validate_custom(&schema, &json!({"spec": {"replicas": "string"}}));
    assert_eq!(
        errors,
        vec![FieldError {
            field: "spec.replicas".into(),
            reason: "FieldValueTypeInvalid",
            message: "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"".into(),
        }]
    );
    let errors = validate_custom(
        &schema,
        &json!({"spec": {"replicas": 1.5, "name": 3, "ratio": "x", "on": "yes", "list": [1, "a"], "port": true}}),
    );
    assert_eq!(
        messages(&errors),
        vec![
            "spec.replicas: Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\"",
            "spec.name: Invalid value: \"integer\": spec.name in body must be of type string: \"integer\"",
            "spec.ratio: Invalid value: \"string\": spec.ratio in body must be of type number: \"string\"",
            "spec.on: Invalid value: \"string\": spec.on in body must be of type boolean: \"string\"",
            "spec.list[0]: Invalid value: \"integer\": spec.list[0] in body must be of type string: \"integer\"",
            "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
        ]
    );
    // Integral floats are integers; numbers accept integers; int-or-string accepts both.
    assert!(
        validate_custom(
            &schema,
            &json!({"spec": {"replicas": 2.0, "ratio": 1, "port": "http"}})
        )
        .is_empty()
    );
    assert!(validate_custom(&schema, &json!({"spec": {"port": 8080}})).is_empty());
}

#[test]
fn nullable() {
    let schema = json!({"type": "object", "properties": {
        "a": {"type": "string", "nullable": true},
        "b": {"type": "string"}
    }});
    assert!(validate_custom(&schema, &json!({"a": null})).is_empty());
    assert_eq!(
        messages(&validate_custom(&schema, &json!({"b": null}))),
        vec!["b: Invalid value: \"null\": b in body must be of type string: \"null\""]
    );
}

#[test]
fn required_enum_and_bounds() {
    let schema = json!({"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object",
        "required": ["size", "color"],
        "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 10},
            "exclusive": {"type": "integer", "minimum": 1, "maximum": 10, "exclusiveMinimum": true, "exclusiveMaximum": true},
            "color": {"type": "string", "enum": ["a", "b"]},
            "level": {"type": "integer", "enum": [1, 2]},
            "even": {"type": "integer", "multipleOf": 2}
        }
    }}});
    assert_eq!(
        validate_custom(&schema, &json!({})),
        vec![FieldError {
            field: "spec".into(),
            reason: "FieldValueRequired",
            message: "Required value".into()
        }]
    );
    let errors = validate_custom(
        &schema,
        &json!({"spec": {"size": 0, "color": "x", "level": 3, "exclusive": 10, "even": 3}}),
    );
    assert_eq!(
        messages(&errors),
        vec![
            "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1",
            "spec.color: Unsupported value: \"x\": supported values: \"a\", \"b\"",
            "spec.level: Unsupported value: 3: supported values: \"1\", \"2\"",
            "spec.exclusive: Invalid value: 10: spec.exclusive in body should be less than 10",
            "spec.even: Invalid value: 3: spec.even in body should be a multiple of 2",
        ]
    );
    assert_eq!(errors[1].reason, "FieldValueNotSupported");
    let errors = validate_custom(&schema, &json!({"spec": {"size": 11}}));
    assert_eq!(
        messages(&errors),
        vec![
            "spec.color: Required value",
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
        ]
    );
    let errors = validate_custom(
        &schema,
        &json!({"spec": {"size": 5, "color": "a", "exclusive": 1}}),
    );
    assert_eq!(
        messages(&errors),
        vec!["spec.exclusive: Invalid value: 1: spec.exclusive in body should be greater than 1"]
    );
}

#[test]
fn strings_arrays_and_objects() {
    let schema = json!({"type": "object", "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
        "set": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}},
        "objs": {"type": "array", "uniqueItems": true, "items": {"type": "object"}},
        "labels": {"type": "object", "minProperties": 1, "maxProperties": 2,
                   "additionalProperties": {"type": "string", "maxLength": 3}},
        "small": {"type": "integer", "format": "int32"},
        "big": {"type": "integer", "format": "int64"}
    }});
    let errors = validate_custom(
        &schema,
        &json!({
            "name": "ABCDEFG",
            "tags": ["a", "b", "c"],
            "set": [1, 2, 1],
            "objs": [{"a": 1}, {"a": 1.0}],
            "labels": {"a": "x", "b": "long", "c": "y"},
            "small": 3_000_000_000u64,
            "big": 9_007_199_254_740_993u64
        }),
    );
    assert_eq!(
        messages(&errors),
        vec![
            "name: Too long: may not be more than 5 bytes",
            "name: Invalid value: \"ABCDEFG\": name in body should match '^[a-z]+$'",
            "tags: Too many: 3: must have at most 2 items",
            "set: Duplicate value: 1",
            "objs: Duplicate value: {\"a\":1.0}",
            "labels: Too many: 3: must have at most 2 items",
            "labels.b: Too long: may not be more than 3 bytes",
            "small: Invalid value: 3000000000: small in body must be of type int32: \"3000000000\"",
        ]
    );
    assert_eq!(errors[0].reason, "FieldValueTooLong");
    assert_eq!(errors[2].reason, "FieldValueTooMany");
    assert_eq!(errors[3].reason, "FieldValueDuplicate");
    let errors = validate_custom(&schema, &json!({"name": "a", "tags": [], "labels": {}}));
    assert_eq!(
        messages(&errors),
        vec![
            "name: Invalid value: \"a\": name in body should be at least 2 chars long",
            "tags: Invalid value: 0: tags in body should have at least 1 items",
            "labels: Invalid value: 0: labels in body should have at least 1 properties",
        ]
    );
    assert!(
        validate_custom(
            &schema,
            &json!({"name": "abc", "tags": ["x"], "set": [1, 2], "small": 7})
        )
        .is_empty()
    );
}

#[test]
fn junctors() {
    let schema = json!({"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[a-z]+$"}]},
        "one": {"type": "integer", "oneOf": [{"minimum": 5}, {"maximum": 10}]},
        "all": {"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]},
        "not": {"type": "string", "not": {"enum": ["forbidden"]}}
    }});
    assert!(
        validate_custom(
            &schema,
            &json!({"port": "http", "one": 1, "all": "ab", "not": "ok"})
        )
        .is_empty()
    );
    let errors = validate_custom(
        &schema,
        &json!({"port": "HTTP", "one": 7, "all": "abcd", "not": "forbidden"}),
    );
    assert_eq!(
        messages(&errors),
        vec![
            "port: Invalid value: \"HTTP\": port in body must validate at least one schema (anyOf)",
            "one: Invalid value: 7: one in body must validate one and only one schema (oneOf)",
            "all: Too long: may not be more than 3 bytes",
            "not: Invalid value: \"forbidden\": not in body must not validate the schema (not)",
        ]
    );
}

// ---- apply_defaults ---------------------------------------------------------

#[test]
fn defaults_are_applied_like_kubernetes() {
    let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "default": {},
        "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "fast"},
            "nested": {"type": "object", "default": {"a": "x"}, "properties": {
                "a": {"type": "string"},
                "b": {"type": "integer", "default": 7}
            }},
            "nullableNull": {"type": "string", "nullable": true, "default": "d"},
            "nonNullableNull": {"type": "string", "default": "d"},
            "droppedNull": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "weight": {"type": "integer", "default": 10}
            }}},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "on": {"type": "boolean", "default": true}
            }}}
        }
    }}});
    let mut obj = json!({"spec": {
        "replicas": 3,
        "nullableNull": null,
        "nonNullableNull": null,
        "droppedNull": null,
        "items": [{}, {"weight": 1}],
        "map": {"k": {}}
    }});
    apply_defaults(&schema, &mut obj);
    assert_eq!(
        obj,
        json!({"spec": {
            "replicas": 3,
            "nullableNull": null,
            "nonNullableNull": "d",
            "items": [{"weight": 10}, {"weight": 1}],
            "map": {"k": {"on": true}},
            "mode": "fast",
            "nested": {"a": "x", "b": 7}
        }})
    );
    // A missing parent with a default is created, then defaulted inside.
    let mut empty = json!({});
    apply_defaults(&schema, &mut empty);
    assert_eq!(empty["spec"]["replicas"], 1);
    assert_eq!(empty["spec"]["nested"], json!({"a": "x", "b": 7}));
    assert!(validate_custom(&schema, &empty).is_empty());
}

// ---- validate_crd_schema ----------------------------------------------------

#[test]
fn structural_schemas_pass() {
    let schema = json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "default": 3, "minimum": 1},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "free": {"x-kubernetes-preserve-unknown-fields": true},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "list": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                             "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "x-kubernetes-preserve-unknown-fields": true},
                    "name": {"type": "string", "pattern": "^[a-z]+$"}
                }
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }
    });
    assert_eq!(validate_crd_schema(&schema), vec![]);
}

#[test]
fn non_structural_schemas_are_rejected() {
    let schema = json!({
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "type": "object",
                "properties": {
                    "untyped": {"description": "no type"},
                    "ref": {"$ref": "#/definitions/x", "type": "object"},
                    "list": {"type": "array"},
                    "ios": {"type": "string", "x-kubernetes-int-or-string": true},
                    "both": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
                    "bad": {"type": "strin"},
                    "size": {"type": "integer", "default": "three"},
                    "unique": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
                    "regex": {"type": "string", "pattern": "(["},
                    "maplist": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}}
                }
            }
        }
    });
    let errors = validate_crd_schema_at(&schema, "spec.versions[0].schema.openAPIV3Schema");
    let got = messages(&errors);
    let base = "spec.versions[0].schema.openAPIV3Schema";
    for want in [
        format!("{base}.type: Required value: must be object at the root"),
        format!(
            "{base}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        ),
        format!(
            "{base}.properties[spec].properties[untyped].type: Required value: must not be empty for specified object fields"
        ),
        format!("{base}.properties[spec].properties[ref].$ref: Forbidden: $ref is not supported"),
        format!(
            "{base}.properties[spec].properties[list].items: Required value: must be specified"
        ),
        format!(
            "{base}.properties[spec].properties[ios].type: Invalid value: \"string\": must be empty if x-kubernetes-int-or-string is true"
        ),
        format!(
            "{base}.properties[spec].properties[both].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
        ),
        format!(
            "{base}.properties[spec].properties[bad].type: Unsupported value: \"strin\": supported values: \"object\", \"array\", \"string\", \"integer\", \"number\", \"boolean\""
        ),
        format!(
            "{base}.properties[spec].properties[size].default: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
        ),
        format!(
            "{base}.properties[spec].properties[unique].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        ),
        format!(
            "{base}.properties[spec].properties[regex].pattern: Invalid value: \"([\": must be a valid regular expression"
        ),
        format!(
            "{base}.properties[spec].properties[maplist].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
        ),
    ] {
        assert!(got.contains(&want), "missing {want}\n got: {got:#?}");
    }
    assert_eq!(got.len(), 12, "{got:#?}");
}

#[test]
fn defaults_with_unknown_fields_are_rejected() {
    let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object", "default": {"size": 1, "bogus": true},
        "properties": {"size": {"type": "integer"}}
    }}});
    assert_eq!(
        messages(&validate_crd_schema(&schema)),
        vec![
            "properties[spec].default: Invalid value: {\"size\":1,\"bogus\":true}: must not have unknown fields: bogus"
        ]
    );
}

#[test]
fn subresource_bodies_by_kind() {
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"},
                       "spec": {"replicas": 3, "replicaz": 1}});
    assert_eq!(
        unknown_builtin_fields("autoscaling", "v1", "Scale", &scale),
        vec!["spec.replicaz"]
    );
    assert_eq!(
        check_builtin_kind_types("autoscaling", "v1", "Scale", &scale),
        Ok(())
    );
    let bad = json!({"spec": {"replicas": "x"}});
    assert_eq!(
        check_builtin_kind_types("autoscaling", "v1", "Scale", &bad),
        Err("spec.replicas: invalid type: string \"x\", expected i32".into())
    );
    assert!(unknown_builtin_fields("nope", "v1", "Nope", &scale).is_empty());
}

#[test]
fn pruning_follows_structure() {
    let rt = custom(Some(widget_schema()));
    let mut obj = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "nmae": "x"},
        "spec": {"size": 1, "dotted.key": 2, "backends": {"a.b": {"host": "h", "hots": 1}},
                 "items": [{"name": "a", "x": 1}]}
    });
    let pruned = prune_unknown_fields(&rt, &mut obj);
    assert_eq!(
        pruned,
        vec![
            "metadata.nmae",
            "spec.dotted.key",
            "spec.backends.a.b.hots",
            "spec.items[0].x"
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1, "backends": {"a.b": {"host": "h"}}, "items": [{"name": "a"}]}
        })
    );
    assert!(unknown_fields(&rt, &obj).is_empty());
}
