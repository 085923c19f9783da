//! The label and annotation keys krun writes on every object and reads back from the cluster:
//! compose's own keys, so users and tools find krun's objects as they find compose's.

/// The label every krun object carries.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`].
pub const KRUN: &str = "krun";
/// compose's project label.
pub const PROJECT: &str = "com.docker.compose.project";
/// compose's service label.
pub const SERVICE: &str = "com.docker.compose.service";
/// compose's one-off label: `"True"` on one-off pods, `"False"` on dependencies.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// compose's slug (an annotation: 64 hex is too long for a label value).
pub const SLUG: &str = "com.docker.compose.slug";
/// compose's config hash (an annotation): equal → the object is left alone.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// The project directory (an annotation: it contains `/`).
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The project's compose files (an annotation).
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// compose's dependency list (an annotation: it contains `:`).
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// compose's volume label on PVCs.
pub const VOLUME: &str = "com.docker.compose.volume";
/// The per-run label alias Services select under `--use-aliases`.
pub const RUN: &str = "krun.dev/run";
