//! Writes the kubeconfig that points kubectl, kube-rs and krun at a running kube-sim.

use std::net::SocketAddr;
use std::path::Path;

/// The cluster, user and context name in the written kubeconfig.
pub const CONTEXT: &str = "kube-sim";

/// The kubeconfig text for a simulator at `addr` whose context selects `namespace`.
pub fn render(addr: SocketAddr, namespace: &str) -> String {
    // JSON is valid YAML and needs no YAML writer; every kubeconfig reader accepts it.
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": format!("http://{addr}")}}],
        "users": [{"name": CONTEXT, "user": {"token": CONTEXT}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// Writes [`render`]'s text to `path` (creating parent directories), owner-only readable.
pub fn write(path: &Path, addr: SocketAddr, namespace: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, render(addr, namespace))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}
