//! The body of an action PUT: parsing with OpenWhisk's texts, and the create and update
//! rules of reference §4.3 (limits per field, annotations minus `delAnnotations` plus new,
//! parameters replaced when given, version patch bump, system annotations).

use serde_json::{Map, Value};
use whisk_types::action::looks_like_base64;
use whisk_types::{
    Action, ActionLimits, EntityName, EntityPath, Exec, FullyQualifiedName, LimitBounds,
    Parameters, SemVer,
};

use crate::body::{key_values, malformed, publish, take, version};
use crate::error::ApiError;
use crate::runtimes::{KindError, ResolvedKind, RuntimeManifest, SEQUENCE};

/// Annotation holding the action's kind, set on every PUT.
pub const EXEC_ANNOTATION: &str = "exec";
/// Annotation deciding whether the caller's key reaches the container; `false` on create.
pub const PROVIDE_API_KEY: &str = "provide-api-key";

/// What an action document must keep within: sizes in bytes, and the ranges of its limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PutLimits {
    pub exec: usize,
    pub parameters: usize,
    pub limits: LimitBounds,
}

/// The fields a PUT may carry; `None` means "not given".
#[derive(Debug, Default)]
pub(crate) struct ActionPut {
    exec: Option<Exec>,
    parameters: Option<Parameters>,
    annotations: Option<Parameters>,
    limits: LimitsPatch,
    version: Option<SemVer>,
    publish: Option<bool>,
    del_annotations: Vec<String>,
}

/// Limits given in a PUT, each optional.
#[derive(Debug, Default, Clone, Copy)]
struct LimitsPatch {
    timeout: Option<u64>,
    memory: Option<u64>,
    logs: Option<u64>,
    concurrency: Option<u64>,
}

impl LimitsPatch {
    fn apply(self, base: ActionLimits) -> ActionLimits {
        ActionLimits {
            timeout: self.timeout.unwrap_or(base.timeout),
            memory: self.memory.unwrap_or(base.memory),
            logs: self.logs.unwrap_or(base.logs),
            concurrency: self.concurrency.unwrap_or(base.concurrency),
        }
    }
}

/// Parses a PUT body. An empty body counts as `{}`; `namespace` and `name` are ignored.
///
/// # Errors
/// 400 malformed for bad JSON, wrong field types, unknown kinds, non-whole limits.
pub(crate) fn parse_put(body: &[u8], manifest: &RuntimeManifest) -> Result<ActionPut, ApiError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?
    };
    let Value::Object(mut obj) = value else {
        return Err(malformed("JSON object expected"));
    };
    let mut put = ActionPut::default();
    let mut take = |key: &str| take(&mut obj, key);
    if let Some(v) = take("exec") {
        put.exec = Some(parse_exec(v, manifest)?);
    }
    if let Some(v) = take("parameters") {
        put.parameters = Some(key_values(v, "parameters")?);
    }
    if let Some(v) = take("annotations") {
        put.annotations = Some(key_values(v, "annotations")?);
    }
    if let Some(v) = take("limits") {
        put.limits = parse_limits(v)?;
    }
    if let Some(v) = take("version") {
        put.version = Some(version(&v)?);
    }
    if let Some(v) = take("publish") {
        put.publish = Some(publish(&v)?);
    }
    if let Some(v) = take("delAnnotations") {
        put.del_annotations = serde_json::from_value(v)
            .map_err(|_| malformed("delAnnotations must be an array of strings"))?;
    }
    Ok(put)
}

fn parse_limits(v: Value) -> Result<LimitsPatch, ApiError> {
    let Value::Object(obj) = v else {
        return Err(malformed("limits must be an object"));
    };
    let whole = |key: &str, what: &str| -> Result<Option<u64>, ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| malformed(format!("{what} limit must be whole number"))),
        }
    };
    Ok(LimitsPatch {
        timeout: whole("timeout", "time")?,
        memory: whole("memory", "memory")?,
        logs: whole("logs", "log")?,
        concurrency: whole("concurrency", "concurrency")?,
    })
}

fn parse_exec(v: Value, manifest: &RuntimeManifest) -> Result<Exec, ApiError> {
    let Value::Object(obj) = v else {
        return Err(malformed("exec must be an object"));
    };
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("'kind' must be a string defined in 'exec'"))?;
    let opt_string = |key: &str| -> Result<Option<String>, ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(malformed(format!("'{key}' must be a string"))),
        }
    };
    if kind.trim().eq_ignore_ascii_case(SEQUENCE) {
        let Some(Value::Array(list)) = obj.get("components") else {
            return Err(malformed("'components' must be defined for sequence kind"));
        };
        let components = list
            .iter()
            .map(|c| {
                let s = c
                    .as_str()
                    .ok_or_else(|| malformed("'components' must be an array of strings"))?;
                FullyQualifiedName::parse(s).map_err(|e| malformed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Exec::Sequence { components });
    }
    match manifest.resolve(kind) {
        Ok(ResolvedKind::Blackbox) => {
            let image = opt_string("image")?
                .filter(|i| !i.trim().is_empty())
                .ok_or_else(|| {
                    malformed("'image' must be a string defined in 'exec' for 'blackbox' actions")
                })?;
            let code = opt_string("code")?.filter(|c| !c.is_empty());
            Ok(Exec::Blackbox {
                image: image.trim().to_owned(),
                binary: code.as_deref().is_some_and(looks_like_base64),
                code,
                main: opt_string("main")?,
            })
        }
        Ok(ResolvedKind::Runtime(k)) => {
            let code = opt_string("code")?.ok_or_else(|| {
                malformed(format!(
                    "'code' must be a string defined in 'exec' for '{}' actions",
                    k.kind
                ))
            })?;
            let main = opt_string("main")?;
            if k.require_main && main.is_none() {
                return Err(malformed(format!(
                    "'main' must be a string defined in 'exec' for '{}' actions",
                    k.kind
                )));
            }
            Ok(Exec::Code {
                kind: k.kind.clone(),
                binary: looks_like_base64(&code),
                code,
                main,
            })
        }
        Err(e @ KindError::Unsupported { .. }) => Err(malformed(e.to_string())),
        Err(e @ KindError::Deprecated(_)) => Err(ApiError::BadRequest(e.to_string())),
    }
}

/// The action to store: a new one from `put`, or `existing` updated by it.
///
/// # Errors
/// 400 `exec undefined` on create without exec, 400 for limits out of range, 413 for
/// exec, parameters or annotations over their size limit.
pub(crate) fn build_action(
    put: ActionPut,
    namespace: EntityPath,
    name: EntityName,
    existing: Option<Action>,
    sizes: PutLimits,
) -> Result<Action, ApiError> {
    let mut action = match existing {
        None => {
            let exec = put
                .exec
                .ok_or_else(|| ApiError::BadRequest("exec undefined".into()))?;
            let mut annotations = put.annotations.unwrap_or_default();
            if annotations.get(PROVIDE_API_KEY).is_none() {
                annotations.set(PROVIDE_API_KEY, Value::Bool(false));
            }
            Action {
                namespace,
                name,
                exec,
                parameters: put.parameters.unwrap_or_default(),
                limits: put.limits.apply(ActionLimits::default()),
                version: put.version.unwrap_or_default(),
                publish: put.publish.unwrap_or(false),
                annotations,
                updated: 0,
            }
        }
        Some(old) => {
            let mut annotations = old.annotations;
            for key in &put.del_annotations {
                annotations.remove(key);
            }
            if let Some(new) = &put.annotations {
                annotations.merge(new);
            }
            Action {
                namespace,
                name,
                exec: put.exec.unwrap_or(old.exec),
                parameters: put.parameters.unwrap_or(old.parameters),
                limits: put.limits.apply(old.limits),
                version: put.version.unwrap_or_else(|| next_version(old.version)),
                publish: put.publish.unwrap_or(old.publish),
                annotations,
                updated: old.updated,
            }
        }
    };
    let kind = action.exec.kind().to_owned();
    action.annotations.set(EXEC_ANNOTATION, Value::String(kind));
    action
        .limits
        .validate_within(&sizes.limits)
        .map_err(ApiError::BadRequest)?;
    check_size("exec", &action.exec, sizes.exec)?;
    check_size("parameters", &action.parameters, sizes.parameters)?;
    check_size("annotations", &action.annotations, sizes.parameters)?;
    Ok(action)
}

/// The stored version with its patch bumped; saturates instead of overflowing.
fn next_version(v: SemVer) -> SemVer {
    SemVer {
        patch: v.patch.saturating_add(1),
        ..v
    }
}

fn check_size<T: serde::Serialize>(
    field: &'static str,
    value: &T,
    max: usize,
) -> Result<(), ApiError> {
    let size = serde_json::to_vec(value)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .len();
    if size > max {
        return Err(ApiError::TooLarge {
            field,
            size: size as u64,
            max: max as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SIZES: PutLimits = PutLimits {
        exec: 1000,
        parameters: 200,
        limits: LimitBounds {
            timeout_min: 100,
            timeout_max: 300_000,
            memory_min: 128,
            memory_max: 512,
            logs_min: 0,
            logs_max: 10,
            concurrency_max: 1,
        },
    };

    fn build(body: Value, existing: Option<Action>) -> Result<Action, ApiError> {
        let put = parse_put(body.to_string().as_bytes(), &RuntimeManifest::default())?;
        build_action(
            put,
            EntityPath::parse("guest").unwrap(),
            EntityName::new("a").unwrap(),
            existing,
            SIZES,
        )
    }

    fn err(body: Value, existing: Option<Action>) -> String {
        build(body, existing).unwrap_err().to_string()
    }

    #[test]
    fn create_sets_defaults_and_system_annotations() {
        let a = build(
            json!({"exec":{"kind":"blackbox","image":"img"},"name":"ignored","namespace":"x"}),
            None,
        )
        .unwrap();
        assert_eq!(a.name.as_str(), "a");
        assert_eq!(a.namespace.to_string(), "guest");
        assert_eq!(a.version.to_string(), "0.0.1");
        assert_eq!(a.limits, ActionLimits::default());
        let ann = serde_json::to_value(&a.annotations).unwrap();
        assert_eq!(
            ann,
            json!([{"key":"provide-api-key","value":false},{"key":"exec","value":"blackbox"}])
        );
    }

    #[test]
    fn update_merges() {
        let old = build(
            json!({"exec":{"kind":"blackbox","image":"img"},
                   "parameters":[{"key":"p","value":1}],
                   "annotations":[{"key":"a","value":1},{"key":"b","value":2}],
                   "limits":{"timeout":1000,"memory":128}}),
            None,
        )
        .unwrap();
        let new = build(
            json!({"annotations":[{"key":"b","value":3},{"key":"c","value":4}],
                   "delAnnotations":["a"],
                   "limits":{"memory":512}}),
            Some(old.clone()),
        )
        .unwrap();
        assert_eq!(new.version.to_string(), "0.0.2");
        assert_eq!(new.limits.timeout, 1000);
        assert_eq!(new.limits.memory, 512);
        assert_eq!(new.parameters, old.parameters);
        assert!(new.annotations.get("a").is_none());
        assert_eq!(new.annotations.get("b"), Some(&json!(3)));
        assert_eq!(new.annotations.get("c"), Some(&json!(4)));
        assert_eq!(new.annotations.get("provide-api-key"), Some(&json!(false)));
        assert_eq!(new.annotations.get("exec"), Some(&json!("blackbox")));
        let replaced = build(json!({"parameters":[], "version":"1.2.3"}), Some(new)).unwrap();
        assert!(replaced.parameters.is_empty());
        assert_eq!(replaced.version.to_string(), "1.2.3");
    }

    #[test]
    fn refusals() {
        assert_eq!(err(json!({}), None), "exec undefined");
        assert_eq!(
            err(json!({"exec":{"kind":"nodejs:20","code":"x"}}), None),
            "The request content was malformed:\nThe specified runtime 'nodejs:20' is not supported by this platform. Valid values are: 'blackbox'."
        );
        assert!(err(json!({"exec":{"kind":"blackbox"}}), None).contains("'image'"));
        let bb = json!({"kind":"blackbox","image":"i"});
        assert_eq!(
            err(json!({"exec": bb, "limits":{"memory":1024}}), None),
            "memory 1024 MB exceeds allowed threshold of 512 MB"
        );
        assert_eq!(
            err(json!({"exec": bb, "limits":{"timeout":1.5}}), None),
            "The request content was malformed:\ntime limit must be whole number"
        );
        let big = err(
            json!({"exec":{"kind":"blackbox","image":"i","code":"x".repeat(2000)}}),
            None,
        );
        assert!(big.starts_with("exec larger than allowed: 20"), "{big}");
        assert!(big.ends_with(" > 1000 bytes."), "{big}");
        assert!(err(
            json!({"exec": bb, "parameters":[{"key":"k","value":"v".repeat(300)}]}),
            None
        )
        .starts_with("parameters larger than allowed: "));
        assert!(err(
            json!({"exec": bb, "annotations":[{"key":"k","value":"v".repeat(300)}]}),
            None
        )
        .starts_with("annotations larger than allowed: "));
        assert!(err(json!([1]), None).starts_with("The request content was malformed:\n"));
        assert!(err(json!({"exec": bb, "version":"0.0.0"}), None)
            .starts_with("The request content was malformed:\n"));
    }

    #[test]
    fn version_bump_saturates() {
        let v: SemVer = "1.2.4294967295".parse().unwrap();
        assert_eq!(next_version(v), v);
        assert_eq!(next_version("1.2.3".parse().unwrap()).to_string(), "1.2.4");
    }

    fn build_native(body: Value) -> Result<Action, ApiError> {
        let put = parse_put(body.to_string().as_bytes(), &RuntimeManifest::standard())?;
        build_action(
            put,
            EntityPath::parse("guest").unwrap(),
            EntityName::new("a").unwrap(),
            None,
            SIZES,
        )
    }

    #[test]
    fn native_kinds_resolve_to_the_concrete_kind() {
        let a =
            build_native(json!({"exec":{"kind":" NodeJS:Default ","code":"function main(){}"}}))
                .unwrap();
        assert_eq!(
            a.exec,
            Exec::Code {
                kind: "nodejs:18".into(),
                code: "function main(){}".into(),
                main: None,
                binary: false,
            }
        );
        assert_eq!(a.annotations.get("exec"), Some(&json!("nodejs:18")));
        assert_eq!(a.annotations.get("provide-api-key"), Some(&json!(false)));
        // A zip sent as base64 text, without `binary` (serverless-openwhisk does this).
        let a = build_native(
            json!({"exec":{"kind":"python:default","code":"UEsDBBQAAAAIAA==","main":"run"}}),
        )
        .unwrap();
        assert_eq!(a.exec.kind(), "python:3.11");
        assert!(a.exec.is_binary());
        assert!(matches!(&a.exec, Exec::Code { main: Some(m), .. } if m == "run"));
        let a = build_native(
            json!({"exec":{"kind":"python:3.11","code":"def main(a): return a","binary":true}}),
        )
        .unwrap();
        assert!(!a.exec.is_binary(), "binary is computed, not taken");
        assert_eq!(
            build_native(json!({"exec":{"kind":"nodejs:default"}}))
                .unwrap_err()
                .to_string(),
            "The request content was malformed:\n'code' must be a string defined in 'exec' for 'nodejs:18' actions"
        );
        assert_eq!(
            build_native(json!({"exec":{"kind":"java:default","code":"x"}}))
                .unwrap_err()
                .to_string(),
            "The request content was malformed:\nThe specified runtime 'java:default' is not supported by this platform. Valid values are: 'blackbox', 'nodejs:18', 'python:3.11'."
        );
    }

    #[test]
    fn binary_is_computed() {
        let a = build(
            json!({"exec":{"kind":"blackbox","image":"i","code":"UEsDBA==","binary":false}}),
            None,
        )
        .unwrap();
        assert!(a.exec.is_binary());
        let a = build(
            json!({"exec":{"kind":"blackbox","image":"i","code":"echo hi","binary":true}}),
            None,
        )
        .unwrap();
        assert!(!a.exec.is_binary());
    }
}
