//! The API server: routing, the request log and HTTP faults, then REST, discovery and watch.
//!
//! Paths served:
//! - `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}` (discovery);
//! - `/api/v1/[namespaces/{ns}/]{resource}[/{name}[/{sub}]]` and the same under
//!   `/apis/{g}/{v}/` (REST, watch with `?watch=true`);
//! - pod subresources `log`, `attach`, `exec`, `portforward`, handed to `crate::streams::serve`;
//! - `/healthz`, `/livez`, `/readyz`; `/kube-sim/…` (admin: faults, request log; see `admin`).

pub mod admin;
pub mod apply;
pub mod defaults;
pub mod discovery;
pub mod fields;
pub mod managed;
pub mod patch;
pub mod protobuf;
pub mod query;
pub mod resources;
pub mod rest;
pub mod selector;
pub mod status;
pub mod table;
pub mod validation;
pub mod watch;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use crate::sim::{Body, Sim};
use query::Query;
use resources::Resource;
use status::{ApiError, json_response};

/// Request bodies above this size are refused, as the API server refuses them (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Pod subresources served by `crate::streams`.
const STREAM_SUBRESOURCES: &[&str] = &["log", "attach", "exec", "portforward"];

/// What a REST path names.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource.
    pub resource: &'static Resource,
    /// The namespace from the path (`None` for cluster-scoped resources or all namespaces).
    pub namespace: Option<String>,
    /// The object's name, for item paths.
    pub name: Option<String>,
    /// The subresource (`status`, …).
    pub subresource: Option<String>,
}

/// Answers one request (the hyper service of every connection).
pub async fn handle(sim: Arc<Sim>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if let Some(rest) = path.strip_prefix("/kube-sim/") {
        let rest = rest.to_owned();
        return match read_body(req).await {
            Ok((parts, body)) => admin::handle(&sim, &parts.method, &rest, &body),
            Err(e) => e.into_response(),
        };
    }
    let method = req.method().clone();
    let raw_query = req.uri().query().unwrap_or("").to_owned();
    let content_type = header(&req, hyper::header::CONTENT_TYPE);
    let authorization = header(&req, hyper::header::AUTHORIZATION);
    let route = parse_path(&path);
    let query = Query::parse(&raw_query);

    if let Ok(Some(target)) = &route
        && target.resource.plural == "pods"
        && let (Some(ns), Some(name), Some(sub)) =
            (&target.namespace, &target.name, &target.subresource)
        && STREAM_SUBRESOURCES.contains(&sub.as_str())
    {
        let seq = sim
            .requests
            .push(method.as_str(), &path, &raw_query, &content_type, b"");
        let refusal = refuse(&sim, &method, &path, target, &query, &authorization).await;
        let response = match refusal {
            Some(e) => e.into_response(),
            None => crate::streams::serve(sim.clone(), sub, ns.clone(), name.clone(), req).await,
        };
        sim.requests.set_status(seq, response.status().as_u16());
        return response;
    }

    let accept = header(&req, hyper::header::ACCEPT);
    let user_agent = header(&req, hyper::header::USER_AGENT);
    let body = match read_body(req).await {
        Ok((_, body)) => body,
        Err(e) => return e.into_response(),
    };
    let seq = sim
        .requests
        .push(method.as_str(), &path, &raw_query, &content_type, &body);
    let refusal = match &route {
        Ok(Some(target)) => refuse(&sim, &method, &path, target, &query, &authorization).await,
        _ => match unauthenticated(&sim, &authorization) {
            Some(e) => Some(e),
            None => fault(&sim, &method, &path).await,
        },
    };
    let response = match refusal {
        Some(e) => e.into_response(),
        None => {
            let request = ApiRequest {
                method,
                query,
                content_type,
                accept,
                user_agent,
                body,
            };
            match route {
                Err(e) => e.into_response(),
                Ok(None) => non_resource(&path, &request),
                Ok(Some(target)) => rest::handle(&sim, &target, request)
                    .await
                    .unwrap_or_else(ApiError::into_response),
            }
        }
    };
    sim.requests.set_status(seq, response.status().as_u16());
    response
}

/// A REST request's parts, read in full.
#[derive(Debug)]
pub struct ApiRequest {
    /// The HTTP method.
    pub method: Method,
    /// The parsed query string.
    pub query: Query,
    /// `Content-Type` (`""` when absent).
    pub content_type: String,
    /// `Accept` (`""` when absent), for Table output.
    pub accept: String,
    /// `User-Agent`, for default field managers.
    pub user_agent: String,
    /// The body.
    pub body: Bytes,
}

fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

async fn read_body(req: Request<Incoming>) -> Result<(http::request::Parts, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok((parts, collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "cannot read request body: {e}"
        ))),
    }
}

/// Why a request to a resource is refused before it is served, if it is: no valid token
/// (401), an injected HTTP fault, or an injected RBAC denial (403).
async fn refuse(
    sim: &Sim,
    method: &Method,
    path: &str,
    target: &Target,
    query: &Query,
    authorization: &str,
) -> Option<ApiError> {
    if let Some(e) = unauthenticated(sim, authorization) {
        return Some(e);
    }
    if let Some(e) = fault(sim, method, path).await {
        return Some(e);
    }
    let verb = verb(method, target, query);
    let resource = match &target.subresource {
        Some(sub) => format!("{}/{sub}", target.resource.plural),
        None => target.resource.plural.to_owned(),
    };
    let namespace = target.namespace.as_deref().unwrap_or("");
    if !sim.faults.forbidden(verb, &resource, namespace) {
        return None;
    }
    let subject = match &target.name {
        Some(name) => format!(
            "{} {name:?}",
            status::qualified(target.resource.group, target.resource.plural)
        ),
        None => status::qualified(target.resource.group, target.resource.plural),
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace {namespace:?}")
    };
    let message = format!(
        "{subject} is forbidden: User \"{}\" cannot {verb} resource {resource:?} in API group {:?} {scope}",
        crate::kubeconfig::CONTEXT,
        target.resource.group,
    );
    let mut details = serde_json::json!({"kind": target.resource.plural});
    if let Some(name) = &target.name {
        details["name"] = serde_json::json!(name);
    }
    if !target.resource.group.is_empty() {
        details["group"] = serde_json::json!(target.resource.group);
    }
    Some(ApiError::new(403, "Forbidden", message).with_details(details))
}

/// The RBAC verb of a request.
pub fn verb(method: &Method, target: &Target, query: &Query) -> &'static str {
    let item = target.name.is_some();
    match *method {
        Method::GET | Method::HEAD if query.flag("watch").unwrap_or(false) => "watch",
        Method::GET | Method::HEAD if item => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if item => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

/// 401 when the simulator requires a bearer token and the request lacks it.
fn unauthenticated(sim: &Sim, authorization: &str) -> Option<ApiError> {
    let token = sim.auth_token.as_deref()?;
    let given = authorization.strip_prefix("Bearer ").unwrap_or("");
    (given != token).then(|| ApiError::new(401, "Unauthorized", "Unauthorized"))
}

/// Applies a matching HTTP fault: waits its delay, then returns its error if it has one.
async fn fault(sim: &Sim, method: &Method, path: &str) -> Option<ApiError> {
    let action = sim.faults.http_fault(method.as_str(), path)?;
    if !action.delay.is_zero() {
        tokio::time::sleep(action.delay).await;
    }
    let code = action.status?;
    let (reason, message) = match code {
        429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later".to_owned()),
        503 => ("ServiceUnavailable", "the server is currently unable to handle the request".to_owned()),
        504 => ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request".to_owned()),
        _ => ("InternalError", format!("Internal error occurred: injected fault ({code})")),
    };
    let error = ApiError::new(code, reason, message);
    Some(match code {
        // As the API server's priority-and-fairness rejection: come back in a second.
        429 => error.with_details(serde_json::json!({"retryAfterSeconds": 1})),
        _ => error,
    })
}

/// Discovery, version and health paths.
fn non_resource(path: &str, request: &ApiRequest) -> Response<Body> {
    if request.method != Method::GET {
        return ApiError::method_not_allowed(request.method.as_str()).into_response();
    }
    let path = path.trim_end_matches('/');
    let value = match path {
        "/version" => Some(discovery::version()),
        "/api" => Some(discovery::core_versions()),
        "/api/v1" => discovery::resource_list("", "v1"),
        "/apis" => Some(discovery::groups()),
        "/openapi/v3" => Some(discovery::openapi_index()),
        "/healthz" | "/livez" | "/readyz" => {
            let mut response = Response::new(status::full("ok"));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return response;
        }
        _ if path.starts_with("/openapi/v3/") => {
            discovery::openapi_document(&path["/openapi/v3/".len()..])
        }
        _ => match path
            .strip_prefix("/apis/")
            .map(|p| p.split('/').collect::<Vec<_>>())
        {
            Some(parts) if parts.len() == 1 => discovery::api_group(parts[0]),
            Some(parts) if parts.len() == 2 => discovery::resource_list(parts[0], parts[1]),
            _ => None,
        },
    };
    match value {
        Some(v) => json_response(200, &v),
        None => ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .into_response(),
    }
}

/// Splits a REST path; `Ok(None)` for paths that are not resource paths at all.
pub fn parse_path(path: &str) -> Result<Option<Target>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Ok(None),
    };
    let lookup =
        |plural: &str| resources::find(group, version, plural).ok_or_else(ApiError::no_route);
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..]
            if resources::find(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            (Some((*ns).to_owned()), {
                let mut v = vec![*plural];
                v.extend_from_slice(more);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let (resource, name, subresource) = match rest.as_slice() {
        [plural] => (lookup(plural)?, None, None),
        [plural, name] => (lookup(plural)?, Some(*name), None),
        [plural, name, sub] => (lookup(plural)?, Some(*name), Some(*sub)),
        _ => return Err(ApiError::no_route()),
    };
    if let Some(sub) = subresource
        && !resource.subresources.contains(&sub)
    {
        return Err(ApiError::no_route());
    }
    if resource.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::no_route());
    }
    Ok(Some(Target {
        resource,
        namespace,
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_targets() {
        let t = parse_path("/api/v1/namespaces/default/pods/web/log")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                t.resource.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("pods", Some("default"), Some("web"), Some("log"))
        );
        let t = parse_path("/api/v1/namespaces/default").unwrap().unwrap();
        assert_eq!(
            (t.resource.plural, t.name.as_deref()),
            ("namespaces", Some("default"))
        );
        let t = parse_path("/apis/apps/v1/deployments").unwrap().unwrap();
        assert_eq!((t.resource.plural, t.namespace), ("deployments", None));
        assert!(parse_path("/api/v1/namespaces/default/widgets").is_err());
        assert!(parse_path("/version").unwrap().is_none());
    }
}
