//! Storage: named volumes → PVCs, anonymous volumes and tmpfs → emptyDir, secrets/configs →
//! Secret/ConfigMap, bind mounts per `--mount-mode` (copy: an emptyDir the runtime fills through
//! an init container, or a ConfigMap snapshot for dependencies; hostpath; skip).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, HostPathVolumeSource,
    ImageVolumeSource, KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, Secret, SecretVolumeSource, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;

use super::labels::VOLUME;
use super::names::{LABEL_MAX, is_config_key, label_with_suffix, sanitize, subdomain};
use super::resources::bytes;
use super::{Copy, FileKind, Object, PlanError, Planner, unsupported};
use crate::compose::model::{FileReference, Service, ServiceVolume, TopLevelObject};
use crate::compose::normalize::units::parse_bytes;
use crate::compose::normalize::volumes::clean_path;
use crate::request::MountMode;

/// The image of the init containers that receive bind mount copies (`tar` on stdin).
pub const COPY_IMAGE: &str = "docker.io/library/busybox:1.36";
/// Where the copy init container mounts the volume it fills.
const COPY_DIR: &str = "/krun/dst";
/// ConfigMaps (dependency bind mounts) must stay under the API server's 1 MiB object limit.
const CONFIG_MAP_MAX: usize = 1 << 20;

/// The pod-side result of a service's storage.
#[derive(Debug, Default)]
pub struct Storage {
    /// Pod volumes.
    pub volumes: Vec<Volume>,
    /// The main container's mounts.
    pub mounts: Vec<VolumeMount>,
    /// Copy init containers (one-off, `--mount-mode copy`).
    pub init_containers: Vec<Container>,
    /// What the runtime copies into them.
    pub copies: Vec<Copy>,
    /// Shared objects not yet emitted by an earlier service: PVCs, Secrets, ConfigMaps.
    pub objects: Vec<Object>,
    /// A PersistentVolumeClaim is mounted (Deployments then use the Recreate strategy).
    pub has_claim: bool,
}

impl Storage {
    fn add_volume(&mut self, volume: Volume) {
        if !self.volumes.iter().any(|v| v.name == volume.name) {
            self.volumes.push(volume);
        }
    }

    fn mount(&mut self, volume: &str, target: &str, read_only: bool, sub_path: Option<String>) {
        self.mounts.push(VolumeMount {
            name: volume.to_string(),
            mount_path: target.to_string(),
            read_only: read_only.then_some(true),
            sub_path,
            ..VolumeMount::default()
        });
    }
}

fn empty_dir(name: &str, memory: bool, size: Option<f64>) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: memory.then(|| "Memory".to_string()),
            size_limit: size.map(bytes),
        }),
        ..Volume::default()
    }
}

fn volume_name(prefix: &str, key: &str) -> String {
    label_with_suffix(prefix, &sanitize(key, LABEL_MAX - prefix.len() - 1))
}

/// A top-level extension or kompose label (`x-krun.size`, `kompose.volume.size`).
fn knob(top: Option<&TopLevelObject>, x_krun: &str, kompose: &str) -> Option<String> {
    let top = top?;
    top.extra
        .get("x-krun")
        .and_then(|x| x.get(x_krun))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| top.labels.get(kompose).cloned())
}

/// Splits `/run:size=64m,mode=1777` into the target and its size.
fn tmpfs_entry(spec: &str) -> (String, Option<f64>, bool) {
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let mut size = None;
    let mut other = false;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", s)) => size = parse_bytes(s).map(|b| b as f64),
            _ if matches!(opt, "rw" | "ro") => {}
            _ => other = true,
        }
    }
    (target.to_string(), size, other)
}

/// A Kubernetes quantity: a decimal number with an optional binary or decimal suffix.
fn is_quantity(q: &str) -> bool {
    let number_len = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(number_len);
    number.parse::<f64>().is_ok()
        && matches!(
            suffix,
            "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "k" | "M" | "G" | "T" | "P" | "E" | "m"
        )
}

fn data_key(name: &str) -> String {
    if is_config_key(name) {
        name.to_string()
    } else {
        sanitize(name, 253)
    }
}

impl Planner<'_> {
    /// The volumes, mounts, init containers, copies and shared objects of one service.
    pub(super) fn storage(
        &mut self,
        name: &str,
        svc: &Service,
        oneoff: bool,
    ) -> Result<Storage, PlanError> {
        let mut st = Storage::default();
        let volumes = self.with_volumes_from(name, svc);
        let mut binds: Vec<String> = Vec::new();
        for (i, v) in volumes.iter().enumerate() {
            match v.kind.as_str() {
                "volume" => match v.source.as_deref().filter(|s| !s.is_empty()) {
                    Some(source) => self.named_volume(name, source, v, &mut st),
                    None => {
                        let vol = format!("anon-{i}");
                        st.add_volume(empty_dir(&vol, false, None));
                        st.mount(&vol, &v.target, v.read_only, None);
                    }
                },
                "tmpfs" => {
                    let vol = format!("tmpfs-{i}");
                    let tmpfs = v.tmpfs.as_ref();
                    if tmpfs.and_then(|t| t.mode).is_some() {
                        self.warn(
                            name,
                            &format!("volumes[{i}].tmpfs.mode"),
                            "an emptyDir's mode cannot be set: ignored",
                        );
                    }
                    st.add_volume(empty_dir(&vol, true, tmpfs.and_then(|t| t.size)));
                    st.mount(&vol, &v.target, v.read_only, None);
                }
                "bind" => {
                    if let Some(copied) = self.bind(name, i, v, oneoff, &mut st)? {
                        binds.push(copied);
                    }
                }
                "image" => {
                    let vol = format!("image-{i}");
                    st.add_volume(Volume {
                        name: vol.clone(),
                        image: Some(ImageVolumeSource {
                            reference: v.source.clone(),
                            pull_policy: Some("IfNotPresent".into()),
                        }),
                        ..Volume::default()
                    });
                    st.mount(
                        &vol,
                        &v.target,
                        true,
                        v.image.as_ref().and_then(|o| o.subpath.clone()),
                    );
                    self.warn(
                        name,
                        &format!("volumes[{i}]"),
                        "image volumes need the ImageVolume feature (beta and off by default before Kubernetes 1.35)",
                    );
                }
                other => self.warn(
                    name,
                    &format!("volumes[{i}]"),
                    format!("volume type \"{other}\" has no Kubernetes equivalent: not mounted"),
                ),
            }
            if v.bind.as_ref().and_then(|b| b.selinux.as_ref()).is_some() {
                self.warn(
                    name,
                    &format!("volumes[{i}].bind.selinux"),
                    "SELinux relabelling (:z/:Z) is done by the kubelet, not per mount: ignored",
                );
            }
        }
        self.bind_warning(name, oneoff, &binds);
        for (i, spec) in svc.tmpfs.iter().enumerate() {
            let (target, size, other) = tmpfs_entry(spec);
            if other {
                self.warn(
                    name,
                    &format!("tmpfs[{i}]"),
                    "only the size option of a tmpfs maps to an emptyDir: the others are ignored",
                );
            }
            let vol = format!("tmpfs-{}", volumes.len() + i);
            st.add_volume(empty_dir(&vol, true, size));
            st.mount(&vol, &target, false, None);
        }
        if let Some(size) = svc.shm_size {
            st.add_volume(empty_dir("dshm", true, Some(size)));
            st.mount("dshm", "/dev/shm", false, None);
        }
        for r in &svc.secrets {
            self.file_object(name, r, true, &mut st)?;
        }
        for r in &svc.configs {
            self.file_object(name, r, false, &mut st)?;
        }
        Ok(st)
    }

    /// The service's volumes plus those of `volumes_from` services (`:ro` honoured).
    fn with_volumes_from(&mut self, name: &str, svc: &Service) -> Vec<ServiceVolume> {
        let mut out = svc.volumes.clone();
        for (i, from) in svc.volumes_from.iter().enumerate() {
            let (other, mode) = from.split_once(':').unwrap_or((from, "rw"));
            let Some(o) = self.service(other).filter(|_| other != "container") else {
                self.warn(
                    name,
                    &format!("volumes_from[{i}]"),
                    format!("\"{from}\" is not a service of this project: ignored"),
                );
                continue;
            };
            let shared: Vec<ServiceVolume> = o
                .volumes
                .iter()
                .filter(|v| !out.iter().any(|m| m.target == v.target))
                .cloned()
                .map(|mut v| {
                    v.read_only |= mode == "ro";
                    v
                })
                .collect();
            out.extend(shared);
        }
        out
    }

    fn named_volume(&mut self, name: &str, source: &str, v: &ServiceVolume, st: &mut Storage) {
        let top = self.input.project.volumes.get(source);
        let claim = subdomain(top.and_then(|t| t.name.as_deref()).unwrap_or(source));
        let vol = volume_name("vol", source);
        // An undeclared name is a global volume Docker creates on first use: so does krun.
        if !top.is_some_and(|t| t.external) {
            if top.is_some_and(|t| t.driver.is_some() || !t.driver_opts.is_empty()) {
                self.warn(name, &format!("volumes.{source}.driver"), "volume drivers and their options do not apply to PersistentVolumeClaims: the cluster's default storage is used");
            }
            let key = format!("PersistentVolumeClaim/{claim}");
            if self.emitted.insert(key) {
                let mut meta = self.project_meta();
                meta.set(VOLUME, source);
                let size = match knob(top, "size", "kompose.volume.size") {
                    Some(q) if is_quantity(&q) => q,
                    Some(q) => {
                        self.warn(
                            name,
                            &format!("volumes.{source}.size"),
                            format!("\"{q}\" is not a Kubernetes quantity (e.g. 5Gi): 1Gi is used"),
                        );
                        "1Gi".into()
                    }
                    None => "1Gi".into(),
                };
                let pvc = PersistentVolumeClaim {
                    metadata: meta.object_meta(&claim, &self.input.namespace),
                    spec: Some(PersistentVolumeClaimSpec {
                        access_modes: Some(vec!["ReadWriteOnce".into()]),
                        resources: Some(VolumeResourceRequirements {
                            requests: Some(BTreeMap::from([(
                                "storage".to_string(),
                                Quantity(size),
                            )])),
                            ..VolumeResourceRequirements::default()
                        }),
                        storage_class_name: knob(
                            top,
                            "storageClassName",
                            "kompose.volume.storage-class-name",
                        ),
                        ..PersistentVolumeClaimSpec::default()
                    }),
                    ..PersistentVolumeClaim::default()
                };
                st.objects.push(Object::PersistentVolumeClaim(pvc));
            }
        }
        st.add_volume(Volume {
            name: vol.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim,
                read_only: None,
            }),
            ..Volume::default()
        });
        st.mount(
            &vol,
            &v.target,
            v.read_only,
            v.volume.as_ref().and_then(|o| o.subpath.clone()),
        );
        st.has_claim = true;
    }

    /// One bind mount; returns the source when a writable copy is made (for the write-back
    /// warning).
    fn bind(
        &mut self,
        name: &str,
        i: usize,
        v: &ServiceVolume,
        oneoff: bool,
        st: &mut Storage,
    ) -> Result<Option<String>, PlanError> {
        let raw = v.source.clone().unwrap_or_default();
        let source = if Path::new(&raw).is_absolute() {
            PathBuf::from(&raw)
        } else {
            let joined = self.input.files.current_dir().join(&raw);
            PathBuf::from(clean_path(&joined.to_string_lossy()))
        };
        let key = format!("volumes[{i}]");
        let vol = format!("bind-{i}");
        if raw.ends_with(".sock") {
            self.warn(
                name,
                &key,
                format!("{raw} is a host socket, which a pod cannot reach: not mounted"),
            );
            return Ok(None);
        }
        let kind = self.input.files.kind(&source);
        let create = v
            .bind
            .as_ref()
            .and_then(|b| b.create_host_path)
            .unwrap_or(true);
        if kind.is_none() && !create && self.input.request.settings.mount_mode != MountMode::Skip {
            return Err(unsupported(
                name,
                &key,
                format!(
                    "bind source path does not exist: {}; create it, or drop create_host_path: false",
                    source.display()
                ),
            ));
        }
        match self.input.request.settings.mount_mode {
            MountMode::Skip => {
                self.warn(
                    name,
                    &key,
                    format!("bind mount of {raw} skipped (--mount-mode skip)"),
                );
                Ok(None)
            }
            MountMode::Hostpath => {
                let host_type = match kind {
                    Some(FileKind::File) => "File",
                    Some(FileKind::Dir) => "Directory",
                    None => "DirectoryOrCreate",
                };
                st.add_volume(Volume {
                    name: vol.clone(),
                    host_path: Some(HostPathVolumeSource {
                        path: source.display().to_string(),
                        type_: Some(host_type.into()),
                    }),
                    ..Volume::default()
                });
                st.mount(&vol, &v.target, v.read_only, None);
                if let Some(p) = v.bind.as_ref().and_then(|b| b.propagation.as_deref()) {
                    let mode = match p {
                        "shared" | "rshared" => "Bidirectional",
                        "slave" | "rslave" => "HostToContainer",
                        _ => "None",
                    };
                    if let Some(m) = st.mounts.last_mut() {
                        m.mount_propagation = Some(mode.into());
                    }
                }
                Ok(None)
            }
            MountMode::Copy if oneoff => {
                st.add_volume(empty_dir(&vol, false, None));
                let file_name = source.file_name().map(|n| n.to_string_lossy().into_owned());
                let sub_path = if kind == Some(FileKind::File) {
                    file_name
                } else {
                    None
                };
                st.mount(&vol, &v.target, v.read_only, sub_path);
                if kind.is_some() {
                    let init = format!("krun-copy-{}", st.copies.len());
                    st.init_containers.push(Container {
                        name: init.clone(),
                        image: Some(COPY_IMAGE.into()),
                        image_pull_policy: Some("IfNotPresent".into()),
                        command: Some(
                            ["tar", "-x", "-f", "-", "-C", COPY_DIR]
                                .map(String::from)
                                .to_vec(),
                        ),
                        stdin: Some(true),
                        stdin_once: Some(true),
                        volume_mounts: Some(vec![VolumeMount {
                            name: vol.clone(),
                            mount_path: COPY_DIR.into(),
                            ..VolumeMount::default()
                        }]),
                        ..Container::default()
                    });
                    let copied = (!v.read_only).then(|| source.display().to_string());
                    st.copies.push(Copy {
                        source,
                        init_container: init,
                        volume: vol,
                    });
                    return Ok(copied);
                }
                Ok(None)
            }
            MountMode::Copy => {
                self.bind_config_map(name, i, &source, kind, v, st)?;
                Ok(None)
            }
        }
    }

    /// A dependency's bind mount in copy mode: a ConfigMap snapshot (files of one directory).
    fn bind_config_map(
        &mut self,
        name: &str,
        i: usize,
        source: &Path,
        kind: Option<FileKind>,
        v: &ServiceVolume,
        st: &mut Storage,
    ) -> Result<(), PlanError> {
        let key = format!("volumes[{i}]");
        let vol = format!("bind-{i}");
        let files: Vec<(String, PathBuf)> = match kind {
            None => Vec::new(),
            Some(FileKind::File) => vec![(
                source
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                source.to_path_buf(),
            )],
            Some(FileKind::Dir) => {
                let entries = self.input.files.list(source).map_err(|e| PlanError::File {
                    service: name.into(),
                    key: key.clone(),
                    path: source.to_path_buf(),
                    source: e,
                })?;
                if entries.iter().any(|(_, k)| *k == FileKind::Dir) {
                    self.warn(name, &key, format!("{} has subdirectories, which a ConfigMap cannot hold: only its top-level files are mounted (or use --mount-mode hostpath)", source.display()));
                }
                entries
                    .into_iter()
                    .filter(|(_, k)| *k == FileKind::File)
                    .map(|(n, _)| (n.clone(), source.join(n)))
                    .collect()
            }
        };
        if kind.is_none() {
            st.add_volume(empty_dir(&vol, false, None));
            st.mount(&vol, &v.target, v.read_only, None);
            return Ok(());
        }
        let mut data = BTreeMap::new();
        let mut binary = BTreeMap::new();
        let mut total = 0usize;
        for (file, path) in &files {
            let content = self.input.files.read(path).map_err(|e| PlanError::File {
                service: name.into(),
                key: key.clone(),
                path: path.clone(),
                source: e,
            })?;
            total += content.len();
            match String::from_utf8(content) {
                Ok(text) => {
                    data.insert(data_key(file), text);
                }
                Err(e) => {
                    binary.insert(data_key(file), ByteString(e.into_bytes()));
                }
            }
        }
        if total > CONFIG_MAP_MAX {
            return Err(unsupported(
                name,
                &key,
                format!(
                    "{} holds {total} bytes, more than a ConfigMap can (1 MiB): use --mount-mode hostpath, or a named volume",
                    source.display()
                ),
            ));
        }
        let cm_name = subdomain(&format!("{}-{}-bind-{i}", self.input.loaded.name, name));
        let mut meta = self.project_meta();
        meta.set(super::labels::SERVICE, &super::labels::value_of(name));
        st.objects.push(Object::ConfigMap(ConfigMap {
            metadata: meta.object_meta(&cm_name, &self.input.namespace),
            data: (!data.is_empty()).then_some(data),
            binary_data: (!binary.is_empty()).then_some(binary),
            ..ConfigMap::default()
        }));
        st.add_volume(Volume {
            name: vol.clone(),
            config_map: Some(ConfigMapVolumeSource {
                name: cm_name,
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        let sub_path = (kind == Some(FileKind::File)).then(|| data_key(&files[0].0));
        st.mount(&vol, &v.target, true, sub_path);
        Ok(())
    }

    /// One warning per service for all bind mounts that are copies.
    fn bind_warning(&mut self, name: &str, oneoff: bool, binds: &[String]) {
        let copied_to_config_map = !oneoff
            && self.input.request.settings.mount_mode == MountMode::Copy
            && self
                .service(name)
                .is_some_and(|s| s.volumes.iter().any(|v| v.kind == "bind"));
        if !binds.is_empty() {
            self.warn(
                name,
                "volumes",
                format!("{} copied into the pod before the command starts (--mount-mode copy): changes made in the pod are not written back", binds.join(", ")),
            );
        } else if copied_to_config_map {
            self.warn(
                name,
                "volumes",
                "bind mounts of a dependency are snapshots in read-only ConfigMaps (--mount-mode copy): use --mount-mode hostpath to share the files",
            );
        }
    }

    /// A secret or config reference: the object (once) and its file mount.
    fn file_object(
        &mut self,
        name: &str,
        r: &FileReference,
        secret: bool,
        st: &mut Storage,
    ) -> Result<(), PlanError> {
        let kind = if secret { "secrets" } else { "configs" };
        let key = format!("{kind}.{}", r.source);
        let project = self.input.project;
        let top = if secret {
            project.secrets.get(&r.source)
        } else {
            project.configs.get(&r.source)
        };
        let Some(top) = top else {
            return Err(unsupported(
                name,
                &key,
                format!(
                    "undefined {kind} \"{}\": declare it under the top-level {kind}:",
                    r.source
                ),
            ));
        };
        let object_name = subdomain(top.name.as_deref().unwrap_or(&r.source));
        let data_name = data_key(&r.source);
        if !top.external && self.emitted.insert(format!("{kind}/{object_name}")) {
            let content = self.file_content(name, &key, top)?;
            let meta = self
                .project_meta()
                .object_meta(&object_name, &self.input.namespace);
            st.objects.push(if secret {
                Object::Secret(Secret {
                    metadata: meta,
                    data: Some(BTreeMap::from([(data_name.clone(), ByteString(content))])),
                    type_: Some("Opaque".into()),
                    ..Secret::default()
                })
            } else {
                let (data, binary_data) = match String::from_utf8(content) {
                    Ok(s) => (Some(BTreeMap::from([(data_name.clone(), s)])), None),
                    Err(e) => (
                        None,
                        Some(BTreeMap::from([(
                            data_name.clone(),
                            ByteString(e.into_bytes()),
                        )])),
                    ),
                };
                Object::ConfigMap(ConfigMap {
                    metadata: meta,
                    data,
                    binary_data,
                    ..ConfigMap::default()
                })
            });
        }
        if r.uid.is_some() || r.gid.is_some() {
            self.warn(name, &format!("{key}.uid"), "a mounted Secret/ConfigMap file cannot be given an owner (only fsGroup for the whole pod): ignored");
        }
        let target = match r.target.as_deref() {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) if secret => format!("/run/secrets/{t}"),
            Some(t) => format!("/{t}"),
            None if secret => format!("/run/secrets/{}", r.source),
            None => format!("/{}", r.source),
        };
        let vol = volume_name(if secret { "secret" } else { "config" }, &r.source);
        let items = Some(vec![KeyToPath {
            key: data_name.clone(),
            path: data_name.clone(),
            mode: r.mode,
        }]);
        st.add_volume(if secret {
            Volume {
                name: vol.clone(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(object_name),
                    items,
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            }
        } else {
            Volume {
                name: vol.clone(),
                config_map: Some(ConfigMapVolumeSource {
                    name: object_name,
                    items,
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }
        });
        st.mount(&vol, &target, true, Some(data_name));
        Ok(())
    }

    /// The content of a secret/config from `file`, `environment` or `content`.
    fn file_content(
        &self,
        name: &str,
        key: &str,
        top: &TopLevelObject,
    ) -> Result<Vec<u8>, PlanError> {
        if let Some(file) = &top.file {
            return self
                .input
                .files
                .read(Path::new(file))
                .map_err(|e| PlanError::File {
                    service: name.into(),
                    key: key.into(),
                    path: PathBuf::from(file),
                    source: e,
                });
        }
        if let Some(var) = &top.environment {
            return self
                .input
                .loaded
                .environment
                .get(var)
                .map(|v| v.clone().into_bytes())
                .ok_or_else(|| {
                    unsupported(
                        name,
                        key,
                        format!(
                            "environment variable \"{var}\" is not set; set it, or put it in .env"
                        ),
                    )
                });
        }
        if let Some(content) = &top.content {
            return Ok(content.clone().into_bytes());
        }
        Err(unsupported(
            name,
            key,
            "has no file, environment or content source",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options() {
        assert_eq!(tmpfs_entry("/run"), ("/run".into(), None, false));
        assert_eq!(
            tmpfs_entry("/run:size=1m,mode=1777"),
            ("/run".into(), Some(1048576.0), true)
        );
    }

    #[test]
    fn quantities_are_checked() {
        assert!(is_quantity("5Gi") && is_quantity("100M") && is_quantity("1.5Gi"));
        assert!(!is_quantity("5GB") && !is_quantity("lots") && !is_quantity(""));
    }

    #[test]
    fn volume_names_are_labels() {
        let n = volume_name("vol", &"X_y".repeat(40));
        assert!(super::super::names::is_dns_label(&n), "{n}");
        assert_eq!(data_key("db password"), "db-password");
    }
}
