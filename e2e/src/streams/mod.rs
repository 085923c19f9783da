//! The pod streaming subresources: `log`, `attach`, `exec` and `portforward`, served from the
//! kubelet's container runs (`crate::kubelet`).
//!
//! Each request goes through the API server's checks first (pod exists, container named or
//! defaulted, pod scheduled), with the API server's error texts, then the kubelet's (container
//! running, log status). attach/exec speak the websocket `v5.channel.k8s.io` /
//! `v4.channel.k8s.io` / `channel.k8s.io` protocols, portforward `v4.channel.k8s.io` /
//! `portforward.k8s.io`; SPDY is not served (`400 Upgrade request required` for non-websocket
//! requests). Stream-drop faults cut a stream without a clean end.

mod log;
mod portforward;
mod remote;
mod ws;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::Value;

use crate::api::query::Query;
use crate::api::status::ApiError;
use crate::sim::{Body, Sim};
use crate::store::str_at;

/// Serves `log`, `attach`, `exec` and `portforward` for one pod.
pub async fn serve(
    sim: Arc<Sim>,
    sub: &str,
    namespace: String,
    name: String,
    req: Request<Incoming>,
) -> Response<Body> {
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let result = match sub {
        "log" if req.method() == Method::GET => log::serve(&sim, &namespace, &name, &query).await,
        "log" => Err(ApiError::method_not_allowed(req.method().as_str())),
        "attach" | "exec" | "portforward"
            if req.method() != Method::GET && req.method() != Method::POST =>
        {
            Err(ApiError::method_not_allowed(req.method().as_str()))
        }
        "attach" => remote::serve(&sim, remote::Kind::Attach, &namespace, &name, &query, req),
        "exec" => remote::serve(&sim, remote::Kind::Exec, &namespace, &name, &query, req),
        "portforward" => portforward::serve(&sim, &namespace, &name, &query, req),
        _ => Err(ApiError::no_route()),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// The pod, or the API server's 404.
fn get_pod(sim: &Sim, namespace: &str, name: &str) -> Result<Value, ApiError> {
    sim.store
        .get("pods", namespace, name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))
}

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod["spec"][field]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| str_at(c, "/name").to_owned())
        .collect()
}

/// The container a request is about: the one named (which must exist, among containers and
/// init containers), or the only one. `for_log` selects the log endpoint's texts, which differ
/// from attach/exec's in the API server.
fn container_name(pod: &Value, requested: Option<&str>, for_log: bool) -> Result<String, ApiError> {
    let name = str_at(pod, "/metadata/name");
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    match requested.filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_owned()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            many if for_log => {
                let all: Vec<String> = init.iter().chain(many).cloned().collect();
                Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    all.join(" ")
                )))
            }
            many => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    many.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// The API server's check before proxying to a kubelet.
fn require_host(pod: &Value) -> Result<(), ApiError> {
    if str_at(pod, "/spec/nodeName").is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            str_at(pod, "/metadata/name")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_defaulted_or_validated_with_api_server_texts() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(container_name(&pod, Some("i"), false).unwrap(), "i");
        assert_eq!(
            container_name(&pod, Some("x"), true).unwrap_err().message,
            "container x is not valid for pod p"
        );
        assert_eq!(
            container_name(&pod, None, false).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(
            container_name(&pod, None, true).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [i a b]"
        );
    }
}
