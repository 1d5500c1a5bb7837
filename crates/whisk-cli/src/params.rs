//! `-p KEY VALUE` / `-P FILE` parameters and `-a KEY VALUE` / `-A FILE` annotations.
//!
//! As in OpenWhisk's CLI, a value that is valid JSON is taken as that JSON (`-p n 5` gives the
//! number 5, `-p b true` a boolean, `-p o '{"a":1}'` an object) and anything else as a string
//! (`-p s hello` gives `"hello"`). A file holds one JSON object. The file is applied first and
//! `-p` pairs after it, so a pair given on the command line wins.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::CliError;

/// Which list is being built, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-p` / `-P`.
    Parameter,
    /// `-a` / `-A`.
    Annotation,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::Parameter => "parameter",
            Self::Annotation => "annotation",
        }
    }
}

/// The value of one `-p KEY VALUE`: JSON when it parses, else the string itself.
pub fn parse_value(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// Key/value pairs in the order given, a later key replacing an earlier one in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyValues(Vec<(String, Value)>);

impl KeyValues {
    /// Builds the list from an optional JSON file and flat `[k1, v1, k2, v2, ...]` pairs.
    ///
    /// # Errors
    /// An unreadable file, a file that is not a JSON object, or an odd number of pair items.
    pub fn build(kind: Kind, file: Option<&Path>, pairs: &[String]) -> Result<Self, CliError> {
        let mut kv = Self::default();
        if let Some(path) = file {
            for (k, v) in read_object_file(kind, path)? {
                kv.insert(k, v);
            }
        }
        if pairs.len() % 2 == 1 {
            return Err(CliError::Usage(format!(
                "{} arguments must be a key value pair",
                capitalize(kind.noun())
            )));
        }
        for pair in pairs.chunks(2) {
            kv.insert(pair[0].clone(), parse_value(&pair[1]));
        }
        Ok(kv)
    }

    /// Adds or replaces a key.
    pub fn insert(&mut self, key: String, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// True when nothing was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The invoke payload form: one JSON object.
    pub fn to_object(&self) -> Value {
        Value::Object(self.0.iter().cloned().collect::<Map<_, _>>())
    }

    /// The entity form: `[{"key": k, "value": v}, ...]`.
    pub fn to_key_value_array(&self) -> Value {
        Value::Array(self.to_key_value_vec())
    }

    /// The items of the entity form.
    pub fn to_key_value_vec(&self) -> Vec<Value> {
        self.0
            .iter()
            .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
            .collect()
    }
}

fn read_object_file(kind: Kind, path: &Path) -> Result<Map<String, Value>, CliError> {
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "File '{}' is not a valid file or it does not exist",
            path.display()
        )));
    }
    let content = std::fs::read_to_string(path).map_err(|e| {
        CliError::Invalid(format!("Unable to read the file '{}': {e}", path.display()))
    })?;
    match serde_json::from_str::<Value>(&content) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CliError::General(format!(
            "Invalid {} argument '{}': the file must hold a JSON object",
            kind.noun(),
            path.display()
        ))),
        Err(e) => Err(CliError::General(format!(
            "Invalid {} argument '{}': {e}",
            kind.noun(),
            path.display()
        ))),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn check(raw: &str, expected: Value) {
        assert_eq!(parse_value(raw), expected, "{raw:?}");
    }

    #[test]
    fn values() {
        check("5", json!(5));
        check("-1.5", json!(-1.5));
        check("hello", json!("hello"));
        check("value", json!("value"));
        check("true", json!(true));
        check("null", Value::Null);
        check("\"quoted\"", json!("quoted"));
        check("{\"a\":[1,2]}", json!({"a": [1, 2]}));
        check("[1,", json!("[1,"));
        check("", json!(""));
        check(" 7 ", json!(7));
        check("hello world", json!("hello world"));
        check("01", json!("01"));
        check("1e3", json!(1000.0));
    }

    fn pairs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn objects_and_arrays() {
        let kv =
            KeyValues::build(Kind::Parameter, None, &pairs(&["key", "value", "n", "5"])).unwrap();
        assert_eq!(kv.to_object(), json!({"key": "value", "n": 5}));
        assert_eq!(
            kv.to_key_value_array(),
            json!([{"key": "key", "value": "value"}, {"key": "n", "value": 5}])
        );
        let kv = KeyValues::build(Kind::Parameter, None, &pairs(&["a", "1", "a", "2"])).unwrap();
        assert_eq!(kv.to_key_value_array(), json!([{"key": "a", "value": 2}]));
        assert!(KeyValues::build(Kind::Parameter, None, &pairs(&["a"])).is_err());
        assert!(KeyValues::build(Kind::Annotation, None, &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, r#"{"a": 1, "b": "x"}"#).unwrap();
        let kv = KeyValues::build(Kind::Parameter, Some(&f), &pairs(&["b", "y"])).unwrap();
        assert_eq!(kv.to_object(), json!({"a": 1, "b": "y"}));
        std::fs::write(&f, "[1]").unwrap();
        assert!(matches!(
            KeyValues::build(Kind::Parameter, Some(&f), &[]),
            Err(CliError::General(_))
        ));
        std::fs::write(&f, "{").unwrap();
        assert!(KeyValues::build(Kind::Parameter, Some(&f), &[]).is_err());
        let missing = dir.path().join("missing.json");
        let err = KeyValues::build(Kind::Parameter, Some(&missing), &[]).unwrap_err();
        assert!(matches!(err, CliError::Usage(_)));
        assert_eq!(err.exit_code(), 2);
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC*".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any key with any JSON value, written as the shell would pass it, comes back as
        /// that value. A JSON string value is given quoted, so it stays a string.
        #[test]
        fn any_json_value_round_trips(key in "\\PC{1,12}", value in any_json()) {
            let text = value.to_string();
            let kv = KeyValues::build(Kind::Parameter, None, &[key.clone(), text]).unwrap();
            let mut expected = Map::new();
            expected.insert(key, value);
            prop_assert_eq!(kv.to_object(), Value::Object(expected));
        }

        /// A `-P` file holding any JSON object gives its keys; `-p` pairs given beside it
        /// replace the file's value for the same key and add the others.
        #[test]
        fn files_then_pairs(
            file in prop::collection::btree_map("[a-z]{1,4}", any_json(), 0..6),
            pairs in prop::collection::vec(("[a-z]{1,4}", any_json()), 0..4),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.json");
            let object: Map<String, Value> = file.clone().into_iter().collect();
            std::fs::write(&path, Value::Object(object.clone()).to_string()).unwrap();
            let flat: Vec<String> = pairs
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.to_string()])
                .collect();
            let kv = KeyValues::build(Kind::Parameter, Some(&path), &flat).unwrap();
            let mut expected = object;
            for (k, v) in pairs {
                expected.insert(k, v);
            }
            prop_assert_eq!(kv.to_object(), Value::Object(expected));
        }

        /// A value that is not JSON is taken as the string itself.
        #[test]
        fn non_json_is_a_string(s in "\\PC*") {
            prop_assume!(serde_json::from_str::<Value>(&s).is_err());
            prop_assert_eq!(parse_value(&s), Value::String(s.clone()));
        }
    }
}
