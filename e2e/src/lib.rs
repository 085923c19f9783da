//! kube-sim, a Kubernetes API simulator for krun's tests, and the scenario suite's support code.
//!
//! Layout (one module per concern):
//! - `sim`: the shared state every part of the simulator hangs off, start-up and shut-down.
//! - `store`: the in-memory object store (resourceVersions, watch events, deletion rules).
//! - `api`: REST, discovery, validation, apply/patch, watch, Status errors (the API server).
//! - `controllers`: scheduler, Deployment, ReplicaSet, Job, PVC binding, garbage collection.
//! - `kubelet`: runs containers as local processes and reports pod status.
//! - `streams`: the pod subresources `log`, `attach`, `exec`, `portforward`.
//! - `faults`: fault injection; `requestlog`: the request log; `kubeconfig`: client config.

pub mod api;
pub mod controllers;
pub mod faults;
pub mod kubeconfig;
pub mod kubelet;
pub mod requestlog;
pub mod sim;
pub mod store;
pub mod streams;
