//! The admin endpoints under `/kube-sim/`: fault settings and the request log.
//!
//! - `GET /kube-sim/faults` → the current `FaultConfig` (JSON);
//!   `PUT /kube-sim/faults` with a `FaultConfig` (JSON or YAML) replaces it.
//! - `GET /kube-sim/requests` → the request log (JSON array); `DELETE` clears it.

use hyper::{Method, Response};
use serde_json::json;

use super::status::{ApiError, json_response};
use crate::faults::FaultConfig;
use crate::sim::{Body, Sim};

/// Serves `/kube-sim/{rest}`.
pub fn handle(sim: &Sim, method: &Method, rest: &str, body: &[u8]) -> Response<Body> {
    let to_json = |v: &dyn erased::Json| json_response(200, &v.value());
    match (method, rest.trim_end_matches('/')) {
        (&Method::GET, "faults") => to_json(&sim.faults.get()),
        (&Method::PUT, "faults") => {
            let text = String::from_utf8_lossy(body);
            match serde_saphyr::from_str::<FaultConfig>(&text) {
                Ok(config) => {
                    sim.faults.set(config);
                    to_json(&sim.faults.get())
                }
                Err(e) => ApiError::bad_request(format!("invalid fault configuration: {e}"))
                    .into_response(),
            }
        }
        (&Method::GET, "requests") => to_json(&sim.requests.entries()),
        (&Method::DELETE, "requests") => {
            sim.requests.clear();
            json_response(200, &json!({}))
        }
        (_, "faults" | "requests") => ApiError::method_not_allowed(method.as_str()).into_response(),
        _ => ApiError::no_route().into_response(),
    }
}

mod erased {
    //! Serialises either admin payload to JSON without duplicating the response code.
    pub trait Json {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}
