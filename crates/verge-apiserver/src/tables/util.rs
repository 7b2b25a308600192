//! What every printer needs: lenient access into an object, ages, column
//! definitions, and the label and selector formats Kubernetes prints.

use jiff::Timestamp;
use serde_json::{Map, Value};
use verge_apimachinery::duration::human_duration_signed;

/// One column of a printer, as `metav1.TableColumnDefinition`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Col {
    pub name: &'static str,
    pub ty: &'static str,
    pub format: &'static str,
    pub priority: i32,
    pub description: &'static str,
}

impl Col {
    pub(crate) fn to_json(self) -> Value {
        column_json(
            self.name,
            self.ty,
            self.format,
            self.description,
            self.priority,
        )
    }
}

pub(crate) fn column_json(
    name: &str,
    ty: &str,
    format: &str,
    description: &str,
    priority: i32,
) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), name.into());
    m.insert("type".into(), ty.into());
    m.insert("format".into(), format.into());
    m.insert("description".into(), description.into());
    m.insert("priority".into(), priority.into());
    Value::Object(m)
}

/// A column shown by default.
pub(crate) const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Col {
    Col {
        name,
        ty,
        format: "",
        priority: 0,
        description,
    }
}

/// A column shown only with `-o wide`.
pub(crate) const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Col {
    Col {
        name,
        ty,
        format: "",
        priority: 1,
        description,
    }
}

pub(crate) const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub(crate) const CREATION_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

pub(crate) const NAME: Col = Col {
    name: "Name",
    ty: "string",
    format: "name",
    priority: 0,
    description: NAME_DESC,
};
pub(crate) const AGE: Col = col("Age", "string", CREATION_DESC);
pub(crate) const CONTAINERS: Col = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
pub(crate) const IMAGES: Col = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

static NULL: Value = Value::Null;

/// A read-only view of a JSON object that treats anything missing or of the
/// wrong type as the Go zero value, the way printers see typed structs.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'a>(pub &'a Value);

impl<'a> Obj<'a> {
    pub fn value(self) -> &'a Value {
        self.0
    }

    /// The value at `path`, or null.
    pub fn at(self, path: &[&str]) -> Obj<'a> {
        let mut v = self.0;
        for key in path {
            match v.get(*key) {
                Some(next) => v = next,
                None => return Obj(&NULL),
            }
        }
        Obj(v)
    }

    /// Present and not null: a non-nil pointer in Go.
    pub fn has(self, path: &[&str]) -> bool {
        !self.at(path).0.is_null()
    }

    pub fn str(self, path: &[&str]) -> &'a str {
        self.at(path).0.as_str().unwrap_or("")
    }

    pub fn opt_str(self, path: &[&str]) -> Option<&'a str> {
        self.at(path).0.as_str()
    }

    pub fn opt_i64(self, path: &[&str]) -> Option<i64> {
        let v = self.at(path).0;
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    pub fn i64(self, path: &[&str]) -> i64 {
        self.opt_i64(path).unwrap_or(0)
    }

    pub fn opt_bool(self, path: &[&str]) -> Option<bool> {
        self.at(path).0.as_bool()
    }

    pub fn bool(self, path: &[&str]) -> bool {
        self.opt_bool(path).unwrap_or(false)
    }

    pub fn list(self, path: &[&str]) -> &'a [Value] {
        self.at(path).0.as_array().map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn map(self, path: &[&str]) -> Option<&'a Map<String, Value>> {
        self.at(path).0.as_object()
    }

    /// Number of entries of a map (or items of a list) at `path`.
    pub fn len(self, path: &[&str]) -> usize {
        match self.at(path).0 {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        }
    }

    pub fn name(self) -> &'a str {
        self.str(&["metadata", "name"])
    }

    pub fn deleting(self) -> bool {
        self.has(&["metadata", "deletionTimestamp"])
    }

    /// A `metav1.Time` at `path`; `None` for missing, unparsable or the zero time.
    pub fn time(self, path: &[&str]) -> Option<Timestamp> {
        parse_time(self.str(path))
    }

    /// `metadata.creationTimestamp` as HumanDuration.
    pub fn age(self, now: Timestamp) -> String {
        since(self.time(&["metadata", "creationTimestamp"]), now)
    }

    /// The type's `conditions` entry of the given type, the first if several.
    pub fn condition(self, path: &[&str], ty: &str) -> Option<Obj<'a>> {
        self.list(path)
            .iter()
            .map(Obj)
            .find(|c| c.str(&["type"]) == ty)
    }

    /// Whether the first condition of the given type has status "True".
    pub fn condition_true(self, path: &[&str], ty: &str) -> bool {
        self.condition(path, ty)
            .is_some_and(|c| c.str(&["status"]) == "True")
    }
}

/// Go's zero `time.Time`, which `metav1.Time` serialises as 0001-01-01T00:00:00Z.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Parses an RFC 3339 timestamp; `None` for empty, unparsable or Go's zero time.
pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    if s.is_empty() {
        return None;
    }
    let t: Timestamp = s.parse().ok()?;
    (t.as_second() != GO_ZERO_TIME_SECONDS || t.subsec_nanosecond() != 0).then_some(t)
}

/// Kubernetes' HumanDuration of a signed duration: up to two seconds in the
/// future counts as "0s", further is "<invalid>".
/// `translateTimestampSince`: how long ago `t` was, or "<unknown>".
pub(crate) fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration_signed(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// `labels.FormatLabels`: "k=v,k2=v2" sorted by key, or "<none>".
pub(crate) fn format_labels(map: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<(&str, &str)> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.LabelSelectorAsSelector(sel).String()`. A missing selector selects
/// nothing and an empty one everything; both print as "". `Err` for a
/// selector Kubernetes would refuse to convert.
pub(crate) fn selector_string(sel: &Value) -> Result<String, ()> {
    let Some(sel) = sel.as_object() else {
        return Ok(String::new());
    };
    let labels = sel.get("matchLabels").and_then(Value::as_object);
    let exprs = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        let v = v.as_str().ok_or(())?;
        reqs.push((k.clone(), format!("{k}={v}")));
    }
    for e in exprs {
        let e = Obj(e);
        let key = e.str(&["key"]);
        let mut values: Vec<&str> = e
            .list(&["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match e.str(&["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(());
                }
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_string(), text));
    }
    // Requirements print sorted by key; equal keys keep their order.
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: the selector, "<none>" when it selects
/// everything or nothing, "<error>" when it is invalid.
pub(crate) fn format_label_selector(sel: &Value) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(()) => "<error>".to_string(),
    }
}

/// `layoutContainerCells`: comma-joined container names and images.
pub(crate) fn containers_and_images(pod_spec: Obj<'_>) -> (String, String) {
    let containers = pod_spec.list(&["containers"]);
    let names: Vec<&str> = containers.iter().map(|c| Obj(c).str(&["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| Obj(c).str(&["image"])).collect();
    (names.join(","), images.join(","))
}

/// Go's `fmt.Sprint` of a float64 (`%v`, i.e. shortest `%g` with exponent
/// threshold 6 below -4).
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's -1 precision.
    let e = format!("{:e}", f.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        let zeros = "0".repeat(int_len - digits.len());
        format!("{sign}{digits}{zeros}")
    } else {
        let (i, frac) = digits.split_at(int_len);
        format!("{sign}{i}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_print_like_kubernetes() {
        assert_eq!(selector_string(&Value::Null), Ok(String::new()));
        assert_eq!(selector_string(&json!({})), Ok(String::new()));
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists"}
            ]
        });
        assert_eq!(
            selector_string(&sel),
            Ok("app=shop,!canary,env in (dev,prod),gpu,tier=web,zone notin (b)".to_string())
        );
        assert_eq!(format_label_selector(&json!({})), "<none>");
        assert_eq!(
            format_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
            "<error>"
        );
        assert_eq!(
            format_label_selector(
                &json!({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]})
            ),
            "<error>"
        );
    }

    #[test]
    fn labels_print_sorted_or_none() {
        assert_eq!(format_labels(None), "<none>");
        let m = json!({"b": "2", "a": "1"});
        assert_eq!(format_labels(m.as_object()), "a=1,b=2");
    }

    #[test]
    fn go_float_formatting() {
        for (f, want) in [
            (1.5, "1.5"),
            (3.0, "3"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (123456789.0, "1.23456789e+08"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (1.5e-7, "1.5e-07"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn times_and_ages() {
        let now: Timestamp = "2025-01-01T12:00:00Z".parse().expect("now");
        assert_eq!(since(parse_time("2025-01-01T11:59:03Z"), now), "57s");
        assert_eq!(since(parse_time("2025-01-01T11:55:00Z"), now), "5m");
        assert_eq!(since(parse_time("2024-12-29T12:00:00Z"), now), "3d");
        assert_eq!(since(parse_time("2025-01-01T12:00:01Z"), now), "0s");
        assert_eq!(since(parse_time("2025-01-01T12:00:05Z"), now), "<invalid>");
        assert_eq!(since(parse_time(""), now), "<unknown>");
        assert_eq!(since(parse_time("0001-01-01T00:00:00Z"), now), "<unknown>");
        assert_eq!(since(parse_time("garbage"), now), "<unknown>");
        // MicroTime has fractional seconds.
        assert_eq!(since(parse_time("2025-01-01T11:59:00.123456Z"), now), "59s");
    }
}
