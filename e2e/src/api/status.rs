//! `Status` errors as the API server sends them, and the small response builders every
//! handler (including the streams) shares.
//!
//! A failed request is answered with its HTTP code and a `meta/v1 Status` body whose `reason`,
//! `message` and `details` match what the real API server says; clients (kubectl, kube-rs)
//! parse these, so they must be exact.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use serde_json::{Value, json};

use crate::sim::Body;
use crate::store::StoreError;

/// One `Status.details.causes[]` entry (mostly for 422 Invalid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueDuplicate`, `FieldValueNotSupported`…
    pub reason: &'static str,
    /// The field path (`spec.containers[0].name`).
    pub field: String,
    /// The cause's message without the field (`Required value`, `Invalid value: "x": …`).
    pub message: String,
}

/// A request that failed, with everything needed for its `Status` response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// `Status.reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`…).
    pub reason: &'static str,
    /// `Status.message`, the text kubectl prints after "Error from server (Reason): ".
    pub message: String,
    /// `Status.details`, if any (boxed: errors travel in every `Result` of the API layer).
    pub details: Option<Box<Value>>,
}

/// The `details` of a Status about one object: name, the group when not core, and the
/// resource plural (which the API server puts in `kind`).
fn object_details(group: &str, resource: &str, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details
}

/// `pods` or `deployments.apps`: how the API server names a resource in messages.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// The same error with `Status.details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// 404 `pods "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, resource)),
        )
        .with_details(object_details(group, resource, name))
    }

    /// 409 `pods "x" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        )
        .with_details(object_details(group, resource, name))
    }

    /// 409 Conflict with the API server's "object has been modified" or an apply conflict text.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, resource)
            ),
        )
        .with_details(object_details(group, resource, name))
    }

    /// 422 Invalid: `Pod "x" is invalid: spec.containers[0].image: Required value`, or with
    /// several causes `Pod "x" is invalid: [a: …, b: …]`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: &[Cause]) -> Self {
        let texts: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let summary = match texts.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let qualified_kind = qualified(group, kind);
        let causes: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        let mut details = json!({"name": name, "kind": kind, "causes": causes});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        ApiError::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
        )
        .with_details(details)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 MethodNotAllowed, for a verb a resource does not support.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// 404 for a path that names no resource (the API server's text for unknown paths).
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 410 Expired, for watches and lists from compacted resourceVersions.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// Maps a store error for `resource` (of API group `group`).
    pub fn from_store(err: StoreError, group: &str, resource: &str) -> Self {
        match err {
            StoreError::NotFound { name, .. } => Self::not_found(group, resource, &name),
            StoreError::AlreadyExists { name, .. } => Self::already_exists(group, resource, &name),
            StoreError::Conflict { name, .. } => Self::conflict(
                group,
                resource,
                &name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ),
            e @ StoreError::Gone { .. } => Self::gone(e.to_string()),
            StoreError::NameRequired => Self::invalid(
                group,
                resource,
                "",
                &[Cause {
                    reason: "FieldValueRequired",
                    field: "metadata.name".into(),
                    message: "Required value: name or generateName is required".into(),
                }],
            ),
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = (**details).clone();
        }
        status
    }

    /// The HTTP response carrying the `Status`.
    pub fn into_response(self) -> Response<Body> {
        let retry_after = self
            .details
            .as_ref()
            .and_then(|d| d["retryAfterSeconds"].as_u64());
        let mut response = json_response(self.code, &self.to_status());
        // The API server repeats `details.retryAfterSeconds` as the header clients obey.
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// A `Status` error response in one call (for the streams and other modules).
pub fn error(
    code: u16,
    reason: &'static str,
    message: &str,
    details: Option<Value>,
) -> Response<Body> {
    let error = ApiError::new(code, reason, message);
    match details {
        Some(d) => error.with_details(d),
        None => error,
    }
    .into_response()
}

/// A fixed body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response with status `code`.
pub fn json_response(code: u16, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(full(body));
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_the_api_server() {
        assert_eq!(
            ApiError::not_found("apps", "deployments", "web").message,
            "deployments.apps \"web\" not found"
        );
        let invalid = ApiError::invalid(
            "",
            "Pod",
            "x",
            &[Cause {
                reason: "FieldValueRequired",
                field: "spec.containers[0].image".into(),
                message: "Required value".into(),
            }],
        );
        assert_eq!(
            invalid.message,
            "Pod \"x\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(
            invalid.to_status()["details"]["causes"][0]["field"],
            "spec.containers[0].image"
        );
    }
}
