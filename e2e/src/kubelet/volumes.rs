//! Pod volumes on the node, and the pod's `/etc/hosts` and `/etc/resolv.conf`.
//!
//! emptyDir: a directory per pod, removed with it. persistentVolumeClaim: a directory per claim
//! (by the claim's uid) that outlives pods. configMap/secret: the keys projected as files
//! (`items`, `defaultMode`, `optional` honoured). hostPath: the host path itself.
//!
//! # Caveats
//! `downwardAPI`, `projected` and `ephemeral` volumes are not supported (the pod stays in
//! `ContainerCreating` with a `FailedMount` event). Without root, volumes cannot be mounted at all
//! (the kubelet then runs plain host processes and says so).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::env::source_data;
use crate::store::{Store, str_at};

/// Why a volume could not be set up: a `FailedMount` event, and the pod waits.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The ConfigMap or Secret is missing (and not optional).
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {kind} \"{name}\" not found")]
    SourceMissing {
        /// The volume's name.
        volume: String,
        /// `configmap` or `secret`.
        kind: &'static str,
        /// The missing object's name.
        name: String,
    },
    /// The PVC does not exist.
    #[error("persistentvolumeclaim \"{0}\" not found")]
    ClaimMissing(String),
    /// A hostPath of type Directory/File that is not there.
    #[error(
        "MountVolume.SetUp failed for volume \"{volume}\" : hostPath type check failed: {path} is not a {kind}"
    )]
    HostPathType {
        /// The volume's name.
        volume: String,
        /// The path.
        path: String,
        /// `directory` or `file`.
        kind: &'static str,
    },
    /// A volume source the simulator does not implement.
    #[error("MountVolume.SetUp failed for volume \"{0}\" : volume type not supported by kube-sim")]
    Unsupported(String),
    /// A file operation failed.
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {source}")]
    Io {
        /// The volume's name.
        volume: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Sets up every volume of `pod`; returns each volume's host directory (or file) by name.
pub fn prepare(
    store: &Store,
    pod: &Value,
    pod_dir: &Path,
    claims_dir: &Path,
) -> Result<BTreeMap<String, PathBuf>, VolumeError> {
    let namespace = str_at(pod, "/metadata/namespace");
    let mut out = BTreeMap::new();
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap_or("").to_owned();
        let io = |source| VolumeError::Io {
            volume: name.clone(),
            source,
        };
        let path = if volume.get("emptyDir").is_some() {
            let dir = pod_dir.join("volumes").join(&name);
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(io)?;
            dir
        } else if let Some(claim) = volume.get("persistentVolumeClaim") {
            let claim_name = claim["claimName"].as_str().unwrap_or("");
            let object = store
                .get("persistentvolumeclaims", namespace, claim_name)
                .ok_or_else(|| VolumeError::ClaimMissing(claim_name.to_owned()))?;
            let dir = claims_dir
                .join(namespace)
                .join(format!("{claim_name}-{}", str_at(&object, "/metadata/uid")));
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(io)?;
            dir
        } else if let Some(host) = volume.get("hostPath") {
            host_path(&name, host).map_err(|e| match e {
                HostPathError::Io(source) => io(source),
                HostPathError::Type(error) => error,
            })?
        } else if let Some((kind, source)) = ["configMap", "secret"]
            .iter()
            .find_map(|k| volume.get(*k).map(|s| (*k, s)))
        {
            let dir = pod_dir.join("volumes").join(&name);
            project(store, namespace, &name, kind, source, &dir)?;
            dir
        } else {
            return Err(VolumeError::Unsupported(name));
        };
        out.insert(name, path);
    }
    Ok(out)
}

enum HostPathError {
    Io(std::io::Error),
    Type(VolumeError),
}

fn host_path(volume: &str, source: &Value) -> Result<PathBuf, HostPathError> {
    let path = PathBuf::from(source["path"].as_str().unwrap_or("/"));
    let wrong = |kind| {
        HostPathError::Type(VolumeError::HostPathType {
            volume: volume.to_owned(),
            path: path.display().to_string(),
            kind,
        })
    };
    match source["type"].as_str().unwrap_or("") {
        "DirectoryOrCreate" => std::fs::create_dir_all(&path).map_err(HostPathError::Io)?,
        "FileOrCreate" if !path.exists() => {
            std::fs::write(&path, b"").map_err(HostPathError::Io)?
        }
        "Directory" if !path.is_dir() => return Err(wrong("directory")),
        "File" if !path.is_file() => return Err(wrong("file")),
        _ => {}
    }
    Ok(path)
}

/// Writes a ConfigMap's or Secret's keys as files into `dir` (replacing what was there).
fn project(
    store: &Store,
    namespace: &str,
    volume: &str,
    kind: &str,
    source: &Value,
    dir: &Path,
) -> Result<(), VolumeError> {
    let (word, name_field) = if kind == "secret" {
        ("secret", "secretName")
    } else {
        ("configmap", "name")
    };
    let object_name = source[name_field].as_str().unwrap_or("");
    let io = |source| VolumeError::Io {
        volume: volume.to_owned(),
        source,
    };
    let data = match source_data(store, word, namespace, object_name) {
        Some(data) => data,
        None if source["optional"].as_bool() == Some(true) => Vec::new(),
        None => {
            return Err(VolumeError::SourceMissing {
                volume: volume.to_owned(),
                kind: word,
                name: object_name.to_owned(),
            });
        }
    };
    let default_mode = source["defaultMode"].as_u64().unwrap_or(0o644) as u32;
    let files: Vec<(String, Vec<u8>, u32)> = match source["items"].as_array() {
        Some(items) => items
            .iter()
            .filter_map(|item| {
                let key = item["key"].as_str()?;
                let (_, value) = data.iter().find(|(k, _)| k == key)?;
                let mode = item["mode"].as_u64().map_or(default_mode, |m| m as u32);
                Some((
                    item["path"].as_str().unwrap_or(key).to_owned(),
                    value.clone(),
                    mode,
                ))
            })
            .collect(),
        None => data
            .into_iter()
            .map(|(k, v)| (k, v, default_mode))
            .collect(),
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io)?;
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    for (relative, bytes, mode) in files {
        let path = super::rootfs::join_inside(dir, &relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, bytes).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    Ok(())
}

/// The pod's `/etc/hosts`: the kubelet's managed file, the pod's own name, `hostAliases`, and
/// (kube-sim's stand-in for cluster DNS) each Service of the namespace under its DNS names,
/// pointing at the address of one pod it selects.
pub fn hosts_file(store: &Store, pod: &Value, pod_ip: &str, hostname: &str) -> String {
    let namespace = str_at(pod, "/metadata/namespace");
    let mut text = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let subdomain = str_at(pod, "/spec/subdomain");
    if subdomain.is_empty() {
        text.push_str(&format!("{pod_ip}\t{hostname}\n"));
    } else {
        text.push_str(&format!(
            "{pod_ip}\t{hostname}.{subdomain}.{namespace}.svc.cluster.local\t{hostname}\n"
        ));
    }
    let aliases = pod["spec"]["hostAliases"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !aliases.is_empty() {
        text.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            let names: Vec<&str> = alias["hostnames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            text.push_str(&format!(
                "{}\t{}\n",
                str_at(&alias, "/ip"),
                names.join("\t")
            ));
        }
    }
    let (services, _) = store.list("services", Some(namespace), |_| true);
    let (pods, _) = store.list("pods", Some(namespace), |p| {
        !str_at(p, "/status/podIP").is_empty()
    });
    let mut entries = String::new();
    for service in services {
        let Some(selector) = service["spec"]["selector"]
            .as_object()
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let target = pods.iter().find(|p| {
            selector
                .iter()
                .all(|(k, v)| p["metadata"]["labels"][k.as_str()] == *v)
        });
        if let Some(target) = target {
            let name = str_at(&service, "/metadata/name");
            entries.push_str(&format!(
                "{}\t{name}.{namespace}.svc.cluster.local\t{name}.{namespace}.svc\t{name}.{namespace}\t{name}\n",
                str_at(target, "/status/podIP")
            ));
        }
    }
    if !entries.is_empty() {
        text.push_str("\n# kube-sim: Services of this namespace (no cluster DNS here).\n");
        text.push_str(&entries);
    }
    text
}

/// The pod's `/etc/resolv.conf` (cluster DNS search path; the nameserver answers nothing here,
/// names resolve through `/etc/hosts`).
pub fn resolv_conf(namespace: &str) -> String {
    format!(
        "search {namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.53\noptions ndots:5\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_maps_project_as_files_and_missing_ones_fail_the_mount() {
        let store = Store::default();
        let dir = tempfile::tempdir().unwrap();
        let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"volumes": [
            {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "a", "path": "sub/a.txt"}]}}]}});
        let err = prepare(&store, &pod, dir.path(), dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"cm\" not found"
        );
        store
            .create("configmaps", json!({"metadata": {"name": "cm", "namespace": "default"}, "data": {"a": "A", "b": "B"}}))
            .unwrap();
        let paths = prepare(&store, &pod, dir.path(), dir.path()).unwrap();
        let cfg = &paths["cfg"];
        assert_eq!(std::fs::read_to_string(cfg.join("sub/a.txt")).unwrap(), "A");
        assert!(!cfg.join("b").exists());
    }

    #[test]
    fn hosts_name_services_by_their_pods() {
        let store = Store::default();
        store
            .create("services", json!({"metadata": {"name": "db", "namespace": "default"}, "spec": {"selector": {"app": "db"}}}))
            .unwrap();
        store
            .create("pods", json!({"metadata": {"name": "db-1", "namespace": "default", "labels": {"app": "db"}}, "status": {"podIP": "127.0.0.9"}}))
            .unwrap();
        let pod = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {}});
        let hosts = hosts_file(&store, &pod, "127.0.0.5", "web");
        assert!(hosts.contains("127.0.0.5\tweb\n"));
        assert!(
            hosts.contains(
                "127.0.0.9\tdb.default.svc.cluster.local\tdb.default.svc\tdb.default\tdb\n"
            )
        );
    }
}
