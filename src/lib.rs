//! krun: `docker compose run` on Kubernetes.
//!
//! Data flows one way: [`cli`] turns argv into typed [`request`]s, [`compose`] loads the project,
//! [`plan`] maps it to Kubernetes objects, [`cluster`] applies and attaches, and [`exit`] maps
//! every outcome to a process exit code.

pub mod app;
pub mod build;
pub mod cli;
pub mod cluster;
pub mod compose;
pub mod exit;
pub mod plan;
pub mod progress;
pub mod request;
pub mod term;
pub mod timing;
