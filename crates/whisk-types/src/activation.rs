//! The activation record (reference §5.6): stored form and API form.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::action::{Parameters, SemVer};
use crate::ids::ActivationId;
use crate::name::{EntityName, EntityPath};

/// The four outcomes of an activation, with their stored status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    Success = 0,
    ApplicationError = 1,
    DeveloperError = 2,
    WhiskError = 3,
}

impl ResponseStatus {
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Success,
            1 => Self::ApplicationError,
            2 => Self::DeveloperError,
            _ => Self::WhiskError,
        }
    }

    /// The `status` string of the API form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ApplicationError => "application error",
            Self::DeveloperError => "action developer error",
            Self::WhiskError => "whisk internal error",
        }
    }
}

/// The stored `response` of an activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationResponse {
    #[serde(rename = "statusCode")]
    pub status_code: u8,
    #[serde(default)]
    pub result: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
}

impl ActivationResponse {
    pub fn success(result: Value, size: Option<usize>) -> Self {
        Self {
            status_code: ResponseStatus::Success as u8,
            result,
            size,
        }
    }

    /// An application error keeps only the `error` field of the result.
    pub fn application_error(error: Value, size: Option<usize>) -> Self {
        Self {
            status_code: ResponseStatus::ApplicationError as u8,
            result: json!({ "error": error }),
            size,
        }
    }

    pub fn developer_error(message: impl Into<Value>) -> Self {
        Self {
            status_code: ResponseStatus::DeveloperError as u8,
            result: json!({ "error": message.into() }),
            size: None,
        }
    }

    pub fn whisk_error(message: impl Into<Value>) -> Self {
        Self {
            status_code: ResponseStatus::WhiskError as u8,
            result: json!({ "error": message.into() }),
            size: None,
        }
    }

    pub fn status(&self) -> ResponseStatus {
        ResponseStatus::from_code(self.status_code)
    }

    pub fn is_success(&self) -> bool {
        self.status_code == 0
    }

    /// `{"result","size","status","success"}` as `/result` and full records show it.
    pub fn to_api_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("result".into(), self.result.clone());
        if let Some(size) = self.size {
            m.insert("size".into(), size.into());
        }
        m.insert("status".into(), self.status().as_str().into());
        m.insert("success".into(), self.is_success().into());
        Value::Object(m)
    }
}

/// One stored activation record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activation {
    /// The invoking identity's namespace.
    pub namespace: EntityPath,
    /// The simple name of the action (or trigger).
    pub name: EntityName,
    /// The invoking identity's subject.
    pub subject: String,
    #[serde(rename = "activationId")]
    pub activation_id: ActivationId,
    pub start: i64,
    /// 0 for trigger activations.
    pub end: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<ActivationId>,
    pub response: ActivationResponse,
    #[serde(default)]
    pub logs: Vec<String>,
    pub version: SemVer,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub annotations: Parameters,
}

impl Activation {
    /// `end - start` unless a duration was recorded.
    pub fn effective_duration(&self) -> Option<i64> {
        if self.end == 0 {
            None
        } else {
            Some(self.duration.unwrap_or(self.end - self.start))
        }
    }

    /// The full record as the API returns it.
    pub fn to_api_json(&self) -> Value {
        let mut v = json!({
            "namespace": self.namespace,
            "name": self.name,
            "subject": self.subject,
            "activationId": self.activation_id,
            "start": self.start,
            "response": self.response.to_api_json(),
            "logs": self.logs,
            "version": self.version,
            "publish": self.publish,
            "annotations": self.annotations,
        });
        let m = v.as_object_mut().expect("object");
        if let Some(d) = self.effective_duration() {
            m.insert("end".into(), self.end.into());
            m.insert("duration".into(), d.into());
        }
        if let Some(c) = &self.cause {
            m.insert("cause".into(), json!(c));
        }
        v
    }

    /// The list summary (`docs=false`).
    pub fn to_summary_json(&self) -> Value {
        let mut v = json!({
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "publish": self.publish,
            "annotations": self.annotations,
            "activationId": self.activation_id,
            "start": self.start,
        });
        let m = v.as_object_mut().expect("object");
        if let Some(d) = self.effective_duration() {
            m.insert("end".into(), self.end.into());
            m.insert("duration".into(), d.into());
            m.insert("statusCode".into(), self.response.status_code.into());
        }
        if let Some(c) = &self.cause {
            m.insert("cause".into(), json!(c));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_form() {
        let a = Activation {
            namespace: EntityPath::parse("guest").unwrap(),
            name: EntityName::new("hello").unwrap(),
            subject: "guest".into(),
            activation_id: ActivationId::generate(),
            start: 10,
            end: 15,
            duration: None,
            cause: None,
            response: ActivationResponse::success(json!({"a":1}), Some(7)),
            logs: vec![],
            version: SemVer::default(),
            publish: false,
            annotations: Parameters::default(),
        };
        let j = a.to_api_json();
        assert_eq!(j["duration"], 5);
        assert_eq!(j["response"]["status"], "success");
        assert_eq!(j["response"]["success"], true);
        assert!(j["response"].get("statusCode").is_none());
        let back: Activation = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
