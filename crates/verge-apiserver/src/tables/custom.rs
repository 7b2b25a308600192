//! Custom resources: Name plus the CRD version's `additionalPrinterColumns`,
//! as the apiextensions server prints them. A version without printer columns
//! gets a single Age column; one with columns gets exactly those (Kubernetes
//! adds no Age of its own, which is why CRDs list it themselves).

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::jsonpath::JsonPath;
use super::util::{CREATION_DESC, NAME, column_json, go_float, parse_time, since};
use crate::registry::PrinterColumn;

struct Column {
    definition: Value,
    ty: String,
    /// `None` for a path that does not parse: its cells are empty.
    path: Option<JsonPath>,
}

pub(crate) struct CustomPrinter {
    columns: Vec<Column>,
}

impl CustomPrinter {
    pub fn new(printer_columns: &[PrinterColumn]) -> Self {
        let columns = if printer_columns.is_empty() {
            vec![Column {
                definition: column_json("Age", "date", "", CREATION_DESC, 0),
                ty: "date".into(),
                path: JsonPath::parse(".metadata.creationTimestamp").ok(),
            }]
        } else {
            printer_columns
                .iter()
                .map(|c| {
                    let description = if c.description.is_empty() {
                        format!(
                            "Custom resource definition column (in JSONPath format): {}",
                            c.json_path
                        )
                    } else {
                        c.description.clone()
                    };
                    Column {
                        definition: column_json(
                            &c.name,
                            &c.type_,
                            &c.format,
                            &description,
                            c.priority,
                        ),
                        ty: c.type_.clone(),
                        path: JsonPath::parse(&c.json_path).ok(),
                    }
                })
                .collect()
        };
        CustomPrinter { columns }
    }

    pub fn column_definitions(&self) -> Vec<Value> {
        std::iter::once(NAME.to_json())
            .chain(self.columns.iter().map(|c| c.definition.clone()))
            .collect()
    }

    pub fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        std::iter::once(Value::from(name))
            .chain(
                self.columns
                    .iter()
                    .map(|c| match c.path.as_ref().and_then(|p| p.first(obj)) {
                        Some(v) => cell(&c.ty, v, now),
                        None => Value::Null,
                    }),
            )
            .collect()
    }
}

/// A cell of the column's type, or null when the value does not fit it.
fn cell(ty: &str, v: &Value, now: Timestamp) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    match ty {
        // Anything prints into a string column, the way Go's fmt would.
        "string" => Value::String(go_print(v)),
        "integer" => match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        "number" => v.as_f64().map_or(Value::Null, Value::from),
        "boolean" => v.as_bool().map_or(Value::Null, Value::from),
        "date" => match v.as_str() {
            Some("" | "\"\"") => "<unknown>".into(),
            Some(s) => match s.parse::<Timestamp>() {
                Ok(_) => since(parse_time(s), now).into(),
                Err(_) => "<invalid>".into(),
            },
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// A JSON value as a string column prints it: strings as is, numbers and
/// booleans as Go prints them, objects and lists as compact JSON with sorted
/// keys (Go's encoding/json, HTML-escaped).
fn go_print(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => {
            let json = serde_json::to_string(&sorted(v)).unwrap_or_default();
            json.replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029")
        }
    }
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {

    use serde_json::{Value, json};

    use super::super::testutil::*;
    use super::super::util::{CREATION_DESC, NAME_DESC};
    use super::super::{IncludeObject, column_definitions, table};
    use crate::registry::{CustomVersion, PrinterColumn, ResourceType};

    fn pc(name: &str, ty: &str, path: &str) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            type_: ty.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: path.into(),
        }
    }

    fn widget_type(columns: Vec<PrinterColumn>) -> ResourceType {
        crate::registry::example_widget(CustomVersion {
            printer_columns: columns,
            ..CustomVersion::default()
        })
    }

    fn widget() -> Value {
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {
                "name": "w1", "namespace": "default", "resourceVersion": "77",
                "labels": {"app": "shop"},
                "creationTimestamp": ago(7 * 3600 + 120)
            },
            "spec": {
                "replicas": 3, "size": 2.5, "weight": 4.0, "enabled": true,
                "ports": [80, 443], "selector": {"tier": "web", "app": "<shop>"},
                "big": 1e6, "expires": ago(-3600), "since": ago(90)
            },
            "status": {"conditions": [
                {"type": "Synced", "status": "True"},
                {"type": "Ready", "status": "False", "lastTransitionTime": ago(300)}
            ]}
        })
    }

    #[test]
    fn no_printer_columns_means_name_and_age() {
        let rt = widget_type(vec![]);
        assert_eq!(
            column_definitions(&rt),
            [
                json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0}),
                json!({"name": "Age", "type": "date", "format": "", "description": CREATION_DESC, "priority": 0})
            ]
        );
        assert_eq!(cells(&rt, &widget()), [json!("w1"), json!("7h2m")]);
        assert_eq!(
            cells(&rt, &json!({"metadata": {"name": "x"}})),
            [json!("x"), Value::Null]
        );
    }

    #[test]
    fn printer_columns_are_evaluated_and_typed() {
        let mut replicas = pc("Replicas", "integer", ".spec.replicas");
        replicas.description = "Desired replicas".into();
        let mut labels = pc("App", "string", ".metadata.labels.app");
        labels.priority = 1;
        labels.format = "name".into();
        let rt = widget_type(vec![
            replicas,
            pc(
                "Ready",
                "string",
                ".status.conditions[?(@.type==\"Ready\")].status",
            ),
            labels,
            pc("Size", "number", ".spec.size"),
            pc("Weight", "integer", ".spec.weight"),
            pc("Enabled", "boolean", ".spec.enabled"),
            pc(
                "Since",
                "date",
                ".status.conditions[?(@.type==\"Ready\")].lastTransitionTime",
            ),
            pc("Age", "date", ".metadata.creationTimestamp"),
        ]);
        assert_eq!(
            headers(&rt),
            [
                "Name", "Replicas", "Ready", "App*", "Size", "Weight", "Enabled", "Since", "Age"
            ]
        );
        let defs = column_definitions(&rt);
        assert_eq!(
            defs[1],
            json!({"name": "Replicas", "type": "integer", "format": "", "description": "Desired replicas", "priority": 0})
        );
        assert_eq!(
            defs[2]["description"],
            "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status"
        );
        assert_eq!(defs[3]["format"], "name");
        assert_eq!(
            cells(&rt, &widget()),
            [
                json!("w1"),
                json!(3),
                json!("False"),
                json!("shop"),
                json!(2.5),
                json!(4),
                json!(true),
                json!("5m"),
                json!("7h2m")
            ]
        );
    }

    #[test]
    fn columns_without_age_get_none_added() {
        let rt = widget_type(vec![pc("Replicas", "integer", ".spec.replicas")]);
        assert_eq!(headers(&rt), ["Name", "Replicas"]);
    }

    #[test]
    fn values_that_do_not_fit_their_type_are_null() {
        let rt = widget_type(vec![
            pc("A", "integer", ".spec.enabled"),
            pc("B", "boolean", ".spec.replicas"),
            pc("C", "date", ".spec.replicas"),
            pc("D", "number", ".metadata.name"),
            pc("E", "integer", ".spec.missing"),
            pc("F", "string", ".spec.missing"),
            pc("G", "object", ".spec"),
            pc("H", "string", ".spec[bad"),
        ]);
        let c = cells(&rt, &widget());
        assert_eq!(c[1..], vec![Value::Null; 8]);
    }

    #[test]
    fn string_columns_print_like_go() {
        let rt = widget_type(vec![
            pc("Replicas", "string", ".spec.replicas"),
            pc("Size", "string", ".spec.size"),
            pc("Weight", "string", ".spec.weight"),
            pc("Big", "string", ".spec.big"),
            pc("Enabled", "string", ".spec.enabled"),
            pc("Ports", "string", ".spec.ports"),
            pc("Selector", "string", ".spec.selector"),
            pc("Null", "string", ".spec.nothing"),
        ]);
        let mut w = widget();
        w["spec"]["nothing"] = Value::Null;
        assert_eq!(
            cells(&rt, &w)[1..],
            [
                json!("3"),
                json!("2.5"),
                json!("4"),
                json!("1e+06"),
                json!("true"),
                json!("[80,443]"),
                json!("{\"app\":\"\\u003cshop\\u003e\",\"tier\":\"web\"}"),
                Value::Null
            ]
        );
    }

    #[test]
    fn date_columns() {
        let rt = widget_type(vec![
            pc("Expires", "date", ".spec.expires"),
            pc("Since", "date", ".spec.since"),
            pc("Empty", "date", ".spec.empty"),
            pc("Bad", "date", ".spec.bad"),
        ]);
        let mut w = widget();
        w["spec"]["empty"] = json!("");
        w["spec"]["bad"] = json!("yesterday");
        assert_eq!(
            cells(&rt, &w)[1..],
            [
                json!("<invalid>"),
                json!("90s"),
                json!("<unknown>"),
                json!("<invalid>")
            ]
        );
    }

    #[test]
    fn custom_table_with_objects() {
        let rt = widget_type(vec![pc("Replicas", "integer", ".spec.replicas")]);
        let t = table(&rt, &[widget()], "80", None, IncludeObject::Object, now());
        assert_eq!(t["rows"][0]["cells"], json!(["w1", 3]));
        assert_eq!(t["rows"][0]["object"]["kind"], "Widget");
        assert!(t["rows"][0].get("conditions").is_none());
    }
}
