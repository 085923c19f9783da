//! Planning: a pure mapping from (loaded compose project, run request) to the Kubernetes
//! objects a run creates, in apply order. No I/O; `cluster` executes the result.

mod types;

pub use types::*;
