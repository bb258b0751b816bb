//! Field-by-field checks of a parsed JSON object, so that every message names its field.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What is wrong with one line or item, before the file and line are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

impl Bad {
    pub(crate) fn line(message: impl Into<String>) -> Bad {
        Bad {
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Bad {
        Bad {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// `a string`, `a list`, `null`, `-3`, ...: what was found instead.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Parses one line (or item text) as JSON, with a message that keeps serde_json's
/// reason and column but not its (always 1) line.
pub(crate) fn parse_json(text: &str) -> Result<Value, Bad> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let reason = full.strip_suffix(&suffix).unwrap_or(&full);
        Bad::line(format!("invalid JSON at column {}: {reason}", e.column()))
    })
}

/// A JSON object whose fields are taken one by one; `prefix` (e.g. `[3]` for an item of
/// an array, `tests[0]` for a nested object) is put before every field name.
pub(crate) struct Fields {
    map: Map<String, Value>,
    prefix: String,
}

impl Fields {
    /// `value` must be an object; `what` names it in the message (`a task`, ...).
    pub(crate) fn new(value: Value, prefix: &str, what: &str) -> Result<Fields, Bad> {
        match value {
            Value::Object(map) => Ok(Fields {
                map,
                prefix: prefix.to_owned(),
            }),
            other => {
                let message = format!(
                    "expected {what} (a JSON object), found {}",
                    describe(&other)
                );
                Err(if prefix.is_empty() {
                    Bad::line(message)
                } else {
                    Bad::field(prefix, message)
                })
            }
        }
    }

    pub(crate) fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_owned()
        } else if field.starts_with('[') || self.prefix.ends_with('.') {
            format!("{}{field}", self.prefix)
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    fn bad(&self, field: &str, message: impl Into<String>) -> Bad {
        Bad::field(self.name(field), message)
    }

    /// The first field not in `known` is an error.
    pub(crate) fn deny_unknown(&self, known: &[&str]) -> Result<(), Bad> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(self.bad(
                key,
                format!(
                    "unknown field; expected one of {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// Takes a field out; `null` counts as absent.
    pub(crate) fn take(&mut self, field: &str) -> Option<Value> {
        self.map.shift_remove(field).filter(|v| !v.is_null())
    }

    /// A field left in place; `null` counts as absent.
    pub(crate) fn peek(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn required(&mut self, field: &str) -> Result<Value, Bad> {
        match self.map.shift_remove(field) {
            Some(Value::Null) => Err(self.bad(field, "must not be null")),
            Some(value) => Ok(value),
            None => Err(self.bad(field, "missing")),
        }
    }

    /// A required string.
    pub(crate) fn string(&mut self, field: &str) -> Result<String, Bad> {
        let value = self.required(field)?;
        self.as_string(field, value)
    }

    /// A required, non-empty string (an id).
    pub(crate) fn id(&mut self, field: &str) -> Result<String, Bad> {
        let id = self.string(field)?;
        if id.is_empty() {
            return Err(self.bad(field, "must not be empty"));
        }
        Ok(id)
    }

    /// An optional string (absent or `null`: `None`).
    pub(crate) fn opt_string(&mut self, field: &str) -> Result<Option<String>, Bad> {
        match self.take(field) {
            None => Ok(None),
            Some(value) => self.as_string(field, value).map(Some),
        }
    }

    fn as_string(&self, field: &str, value: Value) -> Result<String, Bad> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(self.bad(
                field,
                format!("expected a string, found {}", describe(&other)),
            )),
        }
    }

    /// A required list of strings.
    pub(crate) fn strings(&mut self, field: &str) -> Result<Vec<String>, Bad> {
        let value = self.required(field)?;
        self.as_strings(field, value)
    }

    /// An optional list of strings (absent or `null`: empty).
    pub(crate) fn opt_strings(&mut self, field: &str) -> Result<Vec<String>, Bad> {
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(value) => self.as_strings(field, value),
        }
    }

    pub(crate) fn as_strings(&self, field: &str, value: Value) -> Result<Vec<String>, Bad> {
        let Value::Array(items) = value else {
            return Err(self.bad(
                field,
                format!("expected a list of strings, found {}", describe(&value)),
            ));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(self.bad(
                    &format!("{field}[{i}]"),
                    format!("expected a string, found {}", describe(&other)),
                )),
            })
            .collect()
    }

    /// A required list, returned as is.
    pub(crate) fn list(&mut self, field: &str) -> Result<Vec<Value>, Bad> {
        match self.required(field)? {
            Value::Array(items) => Ok(items),
            other => Err(self.bad(
                field,
                format!("expected a list, found {}", describe(&other)),
            )),
        }
    }

    /// An optional object (absent or `null`: empty).
    pub(crate) fn object(&mut self, field: &str) -> Result<Map<String, Value>, Bad> {
        match self.take(field) {
            None => Ok(Map::new()),
            Some(Value::Object(map)) => Ok(map),
            Some(other) => Err(self.bad(
                field,
                format!("expected an object, found {}", describe(&other)),
            )),
        }
    }

    /// A required non-negative integer that fits `T`.
    pub(crate) fn uint<T: TryFrom<u64>>(&mut self, field: &str) -> Result<T, Bad> {
        let value = self.required(field)?;
        self.as_uint(field, value)
    }

    /// An optional non-negative integer that fits `T`.
    pub(crate) fn opt_uint<T: TryFrom<u64>>(&mut self, field: &str) -> Result<Option<T>, Bad> {
        match self.take(field) {
            None => Ok(None),
            Some(value) => self.as_uint(field, value).map(Some),
        }
    }

    fn as_uint<T: TryFrom<u64>>(&self, field: &str, value: Value) -> Result<T, Bad> {
        match value.as_u64() {
            Some(n) => T::try_from(n)
                .map_err(|_| self.bad(field, format!("{n} is too large for this field"))),
            None => Err(self.bad(
                field,
                format!(
                    "expected a non-negative integer, found {}",
                    describe(&value)
                ),
            )),
        }
    }

    /// A required string naming a variant of a `snake_case` serde enum.
    pub(crate) fn variant<T: DeserializeOwned>(&mut self, field: &str) -> Result<T, Bad> {
        match self.required(field)? {
            value @ Value::String(_) => serde_json::from_value(value).map_err(|e| {
                // "unknown variant `x`, expected one of `a`, `b`"
                self.bad(field, e.to_string())
            }),
            other => Err(self.bad(
                field,
                format!("expected a string, found {}", describe(&other)),
            )),
        }
    }

    /// What is left, in its order.
    pub(crate) fn rest(self) -> Map<String, Value> {
        self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        Fields::new(value, "", "a task").unwrap()
    }

    #[test]
    fn messages_name_the_field_and_what_was_found() {
        let mut f = fields(json!({"a": 1, "b": ["x", 2], "c": null, "d": -4, "e": 70000}));
        assert_eq!(
            f.string("a").unwrap_err(),
            Bad::field("a", "expected a string, found a number (1)")
        );
        assert_eq!(
            f.strings("b").unwrap_err(),
            Bad::field("b[1]", "expected a string, found a number (2)")
        );
        assert_eq!(
            f.string("c").unwrap_err(),
            Bad::field("c", "must not be null")
        );
        assert_eq!(f.string("zz").unwrap_err(), Bad::field("zz", "missing"));
        assert_eq!(
            f.uint::<u16>("e").unwrap_err(),
            Bad::field("e", "70000 is too large for this field")
        );
        assert_eq!(
            f.uint::<u64>("d").unwrap_err(),
            Bad::field("d", "expected a non-negative integer, found a number (-4)")
        );
    }

    #[test]
    fn null_optional_fields_are_absent() {
        let mut f = fields(json!({"setup": null, "meta": null}));
        assert_eq!(f.opt_string("setup").unwrap(), None);
        assert!(f.object("meta").unwrap().is_empty());
    }

    #[test]
    fn prefixes_nest() {
        let f = Fields::new(json!({}), "[3]", "an item").unwrap();
        assert_eq!(f.name("test_list"), "[3].test_list");
        let f = Fields::new(json!({}), "tests[0]", "a test result").unwrap();
        assert_eq!(f.name("status"), "tests[0].status");
        let err = Fields::new(json!([1]), "[2]", "an item").err().unwrap();
        assert_eq!(
            err,
            Bad::field("[2]", "expected an item (a JSON object), found a list")
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        let f = fields(json!({"task_id": "a", "test": []}));
        let err = f.deny_unknown(&["task_id", "tests"]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("test"));
        assert_eq!(
            err.message,
            "unknown field; expected one of `task_id`, `tests`"
        );
    }

    #[test]
    fn json_errors_keep_the_column() {
        let err = parse_json(r#"{"a": tru}"#).unwrap_err();
        assert_eq!(err.field, None);
        assert!(
            err.message.starts_with("invalid JSON at column "),
            "{}",
            err.message
        );
        assert!(!err.message.contains("line 1"), "{}", err.message);
    }
}
