//! The label and annotation keys krun reads back from the cluster (the planner writes them),
//! and the selectors built from them.

/// Marks every object krun creates.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`].
pub const KRUN: &str = "krun";
/// compose's project label.
pub const PROJECT: &str = "com.docker.compose.project";
/// compose's service label.
pub const SERVICE: &str = "com.docker.compose.service";
/// compose's one-off label: `"True"` on one-off pods, `"False"` on dependencies.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The annotation holding the service's configuration hash: equal → leave the object alone.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
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
