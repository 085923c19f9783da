//! Every outcome mapped to a process exit code, in one place (design.md §5).
//!
//! `main.rs` calls [`report`] for every error; the container's own exit code is not an error
//! and never passes through here.

use std::process::ExitCode;

use crate::cluster::ClusterError;

/// Bad usage, a bad compose file, an unknown service, an invalid flag value; also a pod that
/// failed without an exit code (Evicted).
pub const USAGE: u8 = 1;
/// `--timeout` reached.
pub const TIMEOUT: u8 = 124;
/// A cluster-side failure before the command ran (unreachable, forbidden, image pull,
/// unschedulable, dependency failed), or while waiting on it.
pub const CLUSTER: u8 = 125;
/// The command exists but cannot be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// The command does not exist in the image.
pub const NOT_FOUND: u8 = 127;
/// Interrupted before the container started.
pub const INTERRUPTED: u8 = 130;
/// The pod was deleted from under the command (docker's analogue: killed, 128+9).
pub const KILLED: u8 = 137;

/// The exit code for a cluster error.
fn cluster_code(err: &ClusterError) -> u8 {
    match err {
        ClusterError::Timeout(_) => TIMEOUT,
        ClusterError::Interrupted => INTERRUPTED,
        ClusterError::CommandNotFound { .. } => NOT_FOUND,
        ClusterError::NotExecutable { .. } => NOT_EXECUTABLE,
        ClusterError::PodFailed { .. } => USAGE,
        ClusterError::PodDeleted(_) => KILLED,
        ClusterError::Config(_)
        | ClusterError::Api { .. }
        | ClusterError::NotManaged { .. }
        | ClusterError::OtherProject { .. }
        | ClusterError::Dependency(_)
        | ClusterError::WaitTimeout { .. }
        | ClusterError::CannotStart { .. }
        | ClusterError::Local { .. } => CLUSTER,
    }
}

/// The exit code for an error, found by walking its cause chain for a cluster error; every
/// other error (usage, loading, planning) is the user's input: [`USAGE`].
pub fn code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<ClusterError>())
        .map_or(USAGE, cluster_code)
}

/// Prints `err` as one paragraph on stderr and returns its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("krun: {err:#}");
    ExitCode::from(code(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_errors_follow_the_design_table() {
        let code_of = |e: ClusterError| code(&anyhow::Error::new(e).context("running web"));
        assert_eq!(code_of(ClusterError::Interrupted), INTERRUPTED);
        assert_eq!(
            code_of(ClusterError::Timeout(std::time::Duration::from_secs(1))),
            TIMEOUT
        );
        assert_eq!(code_of(ClusterError::Dependency("x".into())), CLUSTER);
        assert_eq!(
            code_of(ClusterError::CommandNotFound {
                pod: "p".into(),
                message: "m".into()
            }),
            NOT_FOUND
        );
        assert_eq!(
            code(&anyhow::anyhow!("service \"web\": bad").context("x")),
            USAGE
        );
    }
}
