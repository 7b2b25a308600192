//! The `paths` of a group-version document: one entry per URL a resource type
//! serves, with the operation facts kubectl reads (`x-kubernetes-action`,
//! `x-kubernetes-group-version-kind`, the `fieldValidation` parameter of PATCH,
//! the patch content types).

use serde_json::{Map, Value, json};

use super::catalog::{self, schema_ref};
use crate::registry::ResourceType;

/// The schema names one resource type's operations refer to.
pub(crate) struct Names<'a> {
    pub kind: &'a str,
    pub list: &'a str,
}

const JSON: &str = "application/json";
const YAML: &str = "application/yaml";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Adds every path `rt` serves to `paths`.
pub(crate) fn add_resource(paths: &mut Map<String, Value>, rt: &ResourceType, names: &Names<'_>) {
    let ctx = Ctx::new(rt);
    let gvk = gvk(&rt.group, &rt.version, &rt.kind);
    let base = rt.group_version_path();
    let (collection, scope) = if rt.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", rt.plural),
            "Namespaced",
        )
    } else {
        (format!("{base}/{}", rt.plural), "")
    };
    let item = format!("{collection}/{{name}}");
    let kind = rt.kind.as_str();

    // The collection.
    let mut ops = Map::new();
    ops.insert(
        "get".into(),
        ctx.op(
            &format!("list{}{scope}{kind}", ctx.gv),
            &format!("list or watch objects of kind {kind}"),
            "list",
            &gvk,
            list_params(),
            None,
            responses(&[("200", names.list)], &ctx.list_types()),
        ),
    );
    ops.insert(
        "post".into(),
        ctx.op(
            &format!("create{}{scope}{kind}", ctx.gv),
            &format!("create a {kind}"),
            "post",
            &gvk,
            write_params(),
            Some(body(names.kind)),
            responses(
                &[
                    ("200", names.kind),
                    ("201", names.kind),
                    ("202", names.kind),
                ],
                &ctx.types(),
            ),
        ),
    );
    let mut dc_params = delete_params();
    dc_params.extend(list_params());
    ops.insert(
        "delete".into(),
        ctx.op(
            &format!("delete{}Collection{scope}{kind}", ctx.gv),
            &format!("delete collection of {kind}"),
            "deletecollection",
            &gvk,
            dc_params,
            Some(delete_body()),
            responses(&[("200", catalog::STATUS)], &ctx.types()),
        ),
    );
    ops.insert("parameters".into(), Value::Array(path_params(rt, false)));
    paths.insert(collection, Value::Object(ops));

    // Listing across namespaces.
    if rt.namespaced {
        let mut ops = Map::new();
        ops.insert(
            "get".into(),
            ctx.op(
                &format!("list{}{kind}ForAllNamespaces", ctx.gv),
                &format!("list or watch objects of kind {kind}"),
                "list",
                &gvk,
                list_params(),
                None,
                responses(&[("200", names.list)], &ctx.list_types()),
            ),
        );
        ops.insert("parameters".into(), Value::Array(vec![pretty()]));
        paths.insert(format!("{base}/{}", rt.plural), Value::Object(ops));
    }

    // The object.
    let mut ops = Map::new();
    ops.insert(
        "get".into(),
        ctx.op(
            &format!("read{}{scope}{kind}", ctx.gv),
            &format!("read the specified {kind}"),
            "get",
            &gvk,
            Vec::new(),
            None,
            responses(&[("200", names.kind)], &ctx.types()),
        ),
    );
    ops.insert(
        "put".into(),
        ctx.op(
            &format!("replace{}{scope}{kind}", ctx.gv),
            &format!("replace the specified {kind}"),
            "put",
            &gvk,
            write_params(),
            Some(body(names.kind)),
            responses(&[("200", names.kind), ("201", names.kind)], &ctx.types()),
        ),
    );
    ops.insert(
        "patch".into(),
        ctx.op(
            &format!("patch{}{scope}{kind}", ctx.gv),
            &format!("partially update the specified {kind}"),
            "patch",
            &gvk,
            patch_params(),
            Some(ctx.patch_body()),
            responses(&[("200", names.kind), ("201", names.kind)], &ctx.types()),
        ),
    );
    ops.insert(
        "delete".into(),
        ctx.op(
            &format!("delete{}{scope}{kind}", ctx.gv),
            &format!("delete a {kind}"),
            "delete",
            &gvk,
            delete_params(),
            Some(delete_body()),
            responses(&[("200", names.kind), ("202", names.kind)], &ctx.types()),
        ),
    );
    ops.insert("parameters".into(), Value::Array(path_params(rt, true)));
    paths.insert(item.clone(), Value::Object(ops));

    if rt.subresources.status {
        let mut ops = Map::new();
        let what = format!("status of the specified {kind}");
        ops.insert(
            "get".into(),
            ctx.op(
                &format!("read{}{scope}{kind}Status", ctx.gv),
                &format!("read {what}"),
                "get",
                &gvk,
                Vec::new(),
                None,
                responses(&[("200", names.kind)], &ctx.types()),
            ),
        );
        ops.insert(
            "put".into(),
            ctx.op(
                &format!("replace{}{scope}{kind}Status", ctx.gv),
                &format!("replace {what}"),
                "put",
                &gvk,
                write_params(),
                Some(body(names.kind)),
                responses(&[("200", names.kind), ("201", names.kind)], &ctx.types()),
            ),
        );
        ops.insert(
            "patch".into(),
            ctx.op(
                &format!("patch{}{scope}{kind}Status", ctx.gv),
                &format!("partially update {what}"),
                "patch",
                &gvk,
                patch_params(),
                Some(ctx.patch_body()),
                responses(&[("200", names.kind), ("201", names.kind)], &ctx.types()),
            ),
        );
        ops.insert("parameters".into(), Value::Array(path_params(rt, true)));
        paths.insert(format!("{item}/status"), Value::Object(ops));
    }

    if rt.subresources.scale {
        let scale_gvk = gvk_value("autoscaling", "v1", "Scale");
        let mut ops = Map::new();
        let what = format!("scale of the specified {kind}");
        ops.insert(
            "get".into(),
            ctx.op(
                &format!("read{}{scope}{kind}Scale", ctx.gv),
                &format!("read {what}"),
                "get",
                &scale_gvk,
                Vec::new(),
                None,
                responses(&[("200", catalog::SCALE)], &ctx.types()),
            ),
        );
        ops.insert(
            "put".into(),
            ctx.op(
                &format!("replace{}{scope}{kind}Scale", ctx.gv),
                &format!("replace {what}"),
                "put",
                &scale_gvk,
                write_params(),
                Some(body(catalog::SCALE)),
                responses(
                    &[("200", catalog::SCALE), ("201", catalog::SCALE)],
                    &ctx.types(),
                ),
            ),
        );
        ops.insert(
            "patch".into(),
            ctx.op(
                &format!("patch{}{scope}{kind}Scale", ctx.gv),
                &format!("partially update {what}"),
                "patch",
                &scale_gvk,
                patch_params(),
                Some(ctx.patch_body()),
                responses(
                    &[("200", catalog::SCALE), ("201", catalog::SCALE)],
                    &ctx.types(),
                ),
            ),
        );
        ops.insert("parameters".into(), Value::Array(path_params(rt, true)));
        paths.insert(format!("{item}/scale"), Value::Object(ops));
    }

    if rt.subresources.pod_extras {
        add_pod_extras(paths, &ctx, rt, &item, scope);
    }
}

fn add_pod_extras(
    paths: &mut Map<String, Value>,
    ctx: &Ctx,
    rt: &ResourceType,
    item: &str,
    scope: &str,
) {
    let kind = rt.kind.as_str();
    let gvk = gvk(&rt.group, &rt.version, &rt.kind);

    // Binding and eviction are created against the pod.
    for (sub, target_gvk, schema) in [
        ("binding", gvk_value("", "v1", "Binding"), catalog::BINDING),
        (
            "eviction",
            gvk_value("policy", "v1", "Eviction"),
            catalog::EVICTION,
        ),
    ] {
        let mut ops = Map::new();
        ops.insert(
            "post".into(),
            ctx.op(
                &format!("create{}{scope}{kind}{}", ctx.gv, camel(sub)),
                &format!("create {sub} of a {kind}"),
                "post",
                &target_gvk,
                write_params(),
                Some(body(schema)),
                responses(
                    &[("200", schema), ("201", schema), ("202", schema)],
                    &ctx.types(),
                ),
            ),
        );
        ops.insert("parameters".into(), Value::Array(path_params(rt, true)));
        paths.insert(format!("{item}/{sub}"), Value::Object(ops));
    }

    // The log.
    let mut ops = Map::new();
    let mut log = ctx.op(
        &format!("read{}{scope}{kind}Log", ctx.gv),
        &format!("read log of the specified {kind}"),
        "get",
        &gvk,
        vec![
            query(
                "container",
                "The container for which to stream logs.",
                "string",
            ),
            query("follow", "Follow the log stream of the pod.", "boolean"),
            query(
                "insecureSkipTLSVerifyBackend",
                "Do not verify the serving certificate of the kubelet.",
                "boolean",
            ),
            query(
                "limitBytes",
                "The number of bytes to read from the server before terminating the log output.",
                "integer",
            ),
            query(
                "previous",
                "Return previous terminated container logs.",
                "boolean",
            ),
            query(
                "sinceSeconds",
                "A relative time in seconds before the current time from which to show logs.",
                "integer",
            ),
            query(
                "stream",
                "Which container log stream to return: All, Stdout or Stderr.",
                "string",
            ),
            query(
                "tailLines",
                "The number of lines from the end of the logs to show.",
                "integer",
            ),
            query(
                "timestamps",
                "Add an RFC3339 timestamp at the beginning of every line.",
                "boolean",
            ),
        ],
        None,
        json!({}),
    );
    log["responses"] = json!({
        "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
        "401": {"description": "Unauthorized"}
    });
    ops.insert("get".into(), log);
    ops.insert("parameters".into(), Value::Array(path_params(rt, true)));
    paths.insert(format!("{item}/log"), Value::Object(ops));

    // Streaming subresources.
    for (sub, methods, params) in [
        ("exec", &["get", "post"][..], exec_params(true)),
        ("attach", &["get", "post"][..], exec_params(false)),
        (
            "portforward",
            &["get", "post"][..],
            vec![query("ports", "List of ports to forward.", "integer")],
        ),
    ] {
        let mut ops = Map::new();
        for method in methods {
            let mut op = ctx.op(
                &format!(
                    "connect{}{}{scope}{kind}{}",
                    ctx.gv,
                    camel(method),
                    camel(sub)
                ),
                &format!(
                    "connect {} requests to {sub} of {kind}",
                    method.to_uppercase()
                ),
                "connect",
                &Value::Null,
                params.clone(),
                None,
                json!({}),
            );
            op["responses"] = json!({
                "200": {"description": "OK", "content": {"*/*": {"schema": {"type": "string"}}}},
                "401": {"description": "Unauthorized"}
            });
            ops.insert((*method).to_owned(), op);
        }
        ops.insert("parameters".into(), Value::Array(path_params(rt, true)));
        paths.insert(format!("{item}/{sub}"), Value::Object(ops));
    }
}

fn exec_params(command: bool) -> Vec<Value> {
    let mut params = vec![
        query("container", "The container in which to run.", "string"),
        query(
            "stderr",
            "Redirect the standard error stream of the pod.",
            "boolean",
        ),
        query(
            "stdin",
            "Redirect the standard input stream of the pod.",
            "boolean",
        ),
        query(
            "stdout",
            "Redirect the standard output stream of the pod.",
            "boolean",
        ),
        query("tty", "Allocate a terminal.", "boolean"),
    ];
    if command {
        params.insert(
            0,
            query(
                "command",
                "Command is the remote command to execute; argv array.",
                "string",
            ),
        );
    }
    params
}

/// Facts shared by every operation of one resource type.
struct Ctx {
    /// "CoreV1", "AppsV1", "ExampleComV1".
    gv: String,
    tag: String,
    builtin: bool,
}

impl Ctx {
    fn new(rt: &ResourceType) -> Ctx {
        let group = if rt.group.is_empty() {
            "Core".to_owned()
        } else {
            let g = rt.group.strip_suffix(".k8s.io").unwrap_or(&rt.group);
            g.split(['.', '-']).map(camel).collect()
        };
        let tag_group = if rt.group.is_empty() {
            "core".to_owned()
        } else {
            rt.group
                .strip_suffix(".k8s.io")
                .unwrap_or(&rt.group)
                .replace(['.', '-'], "_")
        };
        Ctx {
            gv: format!("{group}{}", camel(&rt.version)),
            tag: format!("{tag_group}_{}", rt.version),
            builtin: !rt.is_custom(),
        }
    }

    /// Media types objects are served in.
    fn types(&self) -> Vec<&'static str> {
        if self.builtin {
            vec![JSON, YAML, PROTOBUF]
        } else {
            vec![JSON, YAML]
        }
    }

    fn list_types(&self) -> Vec<&'static str> {
        let mut types = self.types();
        types.push("application/json;stream=watch");
        if self.builtin {
            types.push("application/vnd.kubernetes.protobuf;stream=watch");
        }
        types
    }

    /// The request body of PATCH. Custom resources do not take strategic merge
    /// patches, and kubectl decides whether to send one from this list.
    fn patch_body(&self) -> Value {
        let mut content = Map::new();
        let mut types = vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        ];
        if self.builtin {
            types.push("application/strategic-merge-patch+json");
        }
        for t in types {
            content.insert(t.into(), json!({"schema": schema_ref(catalog::PATCH)}));
        }
        json!({"content": content, "required": true})
    }

    #[allow(clippy::too_many_arguments)]
    fn op(
        &self,
        operation_id: &str,
        description: &str,
        action: &str,
        gvk: &Value,
        parameters: Vec<Value>,
        request_body: Option<Value>,
        responses: Value,
    ) -> Value {
        let mut op = Map::new();
        op.insert("tags".into(), json!([self.tag]));
        op.insert("description".into(), description.into());
        op.insert("operationId".into(), operation_id.into());
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(b) = request_body {
            op.insert("requestBody".into(), b);
        }
        op.insert("responses".into(), responses);
        op.insert("x-kubernetes-action".into(), action.into());
        if !gvk.is_null() {
            op.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
        }
        Value::Object(op)
    }
}

/// The operation-level GVK marker: a single object, as kubectl expects.
pub(crate) fn gvk(group: &str, version: &str, kind: &str) -> Value {
    gvk_value(group, version, kind)
}

fn gvk_value(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

fn camel(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn responses(codes: &[(&str, &str)], types: &[&str]) -> Value {
    let mut out = Map::new();
    for (code, schema) in codes {
        let mut content = Map::new();
        for t in types {
            content.insert((*t).into(), json!({"schema": schema_ref(schema)}));
        }
        let description = match *code {
            "201" => "Created",
            "202" => "Accepted",
            _ => "OK",
        };
        out.insert(
            (*code).into(),
            json!({"description": description, "content": content}),
        );
    }
    out.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(out)
}

fn body(schema: &str) -> Value {
    json!({"content": {"*/*": {"schema": schema_ref(schema)}}, "required": true})
}

fn delete_body() -> Value {
    json!({"content": {"*/*": {"schema": schema_ref(catalog::DELETE_OPTIONS)}}})
}

fn query(name: &str, description: &str, ty: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": ty, "uniqueItems": true}
    })
}

fn pretty() -> Value {
    query(
        "pretty",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
        "string",
    )
}

fn path_params(rt: &ResourceType, item: bool) -> Vec<Value> {
    let mut params = Vec::new();
    if item {
        params.push(json!({
            "name": "name",
            "in": "path",
            "description": format!("name of the {}", rt.kind),
            "required": true,
            "schema": {"type": "string", "uniqueItems": true}
        }));
    }
    if rt.namespaced {
        params.push(json!({
            "name": "namespace",
            "in": "path",
            "description": "object name and auth scope, such as for teams and projects",
            "required": true,
            "schema": {"type": "string", "uniqueItems": true}
        }));
    }
    params.push(pretty());
    params
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        "string",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
        "string",
    )
}

fn field_validation() -> Value {
    query(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered. The default is Strict.",
        "string",
    )
}

fn write_params() -> Vec<Value> {
    vec![dry_run(), field_manager(), field_validation()]
}

fn patch_params() -> Vec<Value> {
    vec![
        dry_run(),
        field_manager(),
        field_validation(),
        query(
            "force",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
            "boolean",
        ),
    ]
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag.",
            "boolean",
        ),
        query(
            "continue",
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue).",
            "string",
        ),
        query(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
            "string",
        ),
        query(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
            "string",
        ),
        query(
            "limit",
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
            "integer",
        ),
        query(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from. Defaults to unset.",
            "string",
        ),
        query(
            "resourceVersionMatch",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. Defaults to unset.",
            "string",
        ),
        query(
            "sendInitialEvents",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.",
            "boolean",
        ),
        query(
            "timeoutSeconds",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
            "integer",
        ),
        query(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
            "boolean",
        ),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        dry_run(),
        query(
            "gracePeriodSeconds",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately.",
            "integer",
        ),
        query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
            "boolean",
        ),
        query(
            "orphanDependents",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned.",
            "boolean",
        ),
        query(
            "propagationPolicy",
            "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background' and 'Foreground'.",
            "string",
        ),
    ]
}
