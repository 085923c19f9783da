//! The selectors krun uses to find its objects again, built from the keys the planner writes.

pub use crate::plan::keys::{CONFIG_HASH, KRUN, MANAGED_BY, ONEOFF, PROJECT, SERVICE};

/// The label the Job controller puts on a Job's pods.
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";

/// Every object of `project` that krun manages.
pub fn project(project: &str) -> String {
    format!("{MANAGED_BY}={KRUN},{PROJECT}={project}")
}

/// The dependency workload pods of `service` (one-offs never count, compose #12440).
pub fn service_pods(project_name: &str, service: &str) -> String {
    format!(
        "{},{SERVICE}={service},{ONEOFF}=False",
        project(project_name)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn selectors_exclude_one_offs() {
        assert_eq!(
            super::service_pods("p", "db"),
            "app.kubernetes.io/managed-by=krun,com.docker.compose.project=p,\
             com.docker.compose.service=db,com.docker.compose.oneoff=False"
        );
    }
}
