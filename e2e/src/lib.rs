//! kube-sim, a Kubernetes API simulator for krun's tests, and the scenario suite's support code.
//!
//! Layout (one module per concern):
//! - `sim`: the shared state every part of the simulator hangs off, and the HTTP body type.
//! - `store`: the in-memory object store (resourceVersions, watch events).
//! - `api`: REST, discovery, validation, apply/patch, watch, Status errors (the API server).
//! - `controllers`: Deployment, Job, PVC binding, garbage collection.
//! - `kubelet`: runs containers as local processes and reports pod status.
//! - `streams`: the pod subresources `log`, `attach`, `exec`, `portforward`.
//! - `faults`: fault injection; `requestlog`: the request log.

pub mod sim;
