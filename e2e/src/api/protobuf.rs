//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl's typed clients (`kubectl create namespace|deployment|job|configmap|secret|service`)
//! send protobuf, which every real API server accepts. kube-sim stores JSON, so it decodes the
//! `k8s\0` envelope (`runtime.Unknown`) and the object with a field table of the types those
//! commands send (field numbers from `generated.proto`). A field outside the table is a 415
//! naming it (unless it holds a zero value, which gogo-protobuf writes for every unset
//! non-pointer field), never silently dropped. Go's JSON `omitempty` is mirrored: unset non-pointer
//! fields (empty strings, zero numbers, false) are dropped, pointer fields kept.

use base64::Engine;
use serde_json::{Map, Value, json};

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// Not the `k8s\0` envelope, or a truncated message.
    #[error("invalid protobuf body: {0}")]
    Malformed(String),
    /// A kind or field kube-sim has no table entry for.
    #[error("kube-sim cannot decode protobuf {0}; send JSON instead")]
    Unsupported(String),
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    /// A non-pointer integer (dropped when 0).
    Int,
    /// A pointer integer (kept when 0).
    IntP,
    Bool,
    BoolP,
    Msg(&'static str),
    MapStr,
    MapBytes,
    MapQuantity,
    IntOrString,
    Time,
    /// Decoded elsewhere or reset by the server (status).
    Skip,
}

use Kind::*;

/// (tag, JSON name, kind, repeated)
type Field = (u32, &'static str, Kind, bool);

fn schema(message: &str) -> Option<&'static [Field]> {
    Some(match message {
        "ObjectMeta" => &[
            (1, "name", Str, false),
            (2, "generateName", Str, false),
            (3, "namespace", Str, false),
            (4, "selfLink", Str, false),
            (5, "uid", Str, false),
            (6, "resourceVersion", Str, false),
            (7, "generation", Int, false),
            (8, "creationTimestamp", Time, false),
            (9, "deletionTimestamp", Time, false),
            (10, "deletionGracePeriodSeconds", IntP, false),
            (11, "labels", MapStr, false),
            (12, "annotations", MapStr, false),
            (13, "ownerReferences", Msg("OwnerReference"), true),
            (14, "finalizers", Str, true),
            (17, "managedFields", Skip, true),
        ],
        "OwnerReference" => &[
            (1, "kind", Str, false),
            (3, "name", Str, false),
            (4, "uid", Str, false),
            (5, "apiVersion", Str, false),
            (6, "controller", BoolP, false),
            (7, "blockOwnerDeletion", BoolP, false),
        ],
        "LabelSelector" => &[
            (1, "matchLabels", MapStr, false),
            (2, "matchExpressions", Msg("LabelSelectorRequirement"), true),
        ],
        "LabelSelectorRequirement" => &[
            (1, "key", Str, false),
            (2, "operator", Str, false),
            (3, "values", Str, true),
        ],
        "Namespace" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "spec", Msg("NamespaceSpec"), false),
            (3, "status", Skip, false),
        ],
        "NamespaceSpec" => &[(1, "finalizers", Str, true)],
        "ConfigMap" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "data", MapStr, false),
            (3, "binaryData", MapBytes, false),
            (4, "immutable", BoolP, false),
        ],
        "Secret" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "data", MapBytes, false),
            (3, "type", Str, false),
            (4, "stringData", MapStr, false),
            (5, "immutable", BoolP, false),
        ],
        "Pod" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "spec", Msg("PodSpec"), false),
            (3, "status", Skip, false),
        ],
        "PodTemplateSpec" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "spec", Msg("PodSpec"), false),
        ],
        "PodSpec" => &[
            (2, "containers", Msg("Container"), true),
            (20, "initContainers", Msg("Container"), true),
            (3, "restartPolicy", Str, false),
            (4, "terminationGracePeriodSeconds", IntP, false),
            (5, "activeDeadlineSeconds", IntP, false),
            (6, "dnsPolicy", Str, false),
            (7, "nodeSelector", MapStr, false),
            (8, "serviceAccountName", Str, false),
            (9, "serviceAccount", Str, false),
            (10, "nodeName", Str, false),
            (11, "hostNetwork", Bool, false),
            (16, "hostname", Str, false),
            (17, "subdomain", Str, false),
            (19, "schedulerName", Str, false),
            (21, "automountServiceAccountToken", BoolP, false),
            (24, "priorityClassName", Str, false),
            (25, "priority", IntP, false),
            (27, "shareProcessNamespace", BoolP, false),
            (30, "enableServiceLinks", BoolP, false),
            (31, "preemptionPolicy", Str, false),
            (14, "securityContext", Msg("Empty"), false),
        ],
        "Container" => &[
            (1, "name", Str, false),
            (2, "image", Str, false),
            (3, "command", Str, true),
            (4, "args", Str, true),
            (5, "workingDir", Str, false),
            (6, "ports", Msg("ContainerPort"), true),
            (7, "env", Msg("EnvVar"), true),
            (8, "resources", Msg("ResourceRequirements"), false),
            (9, "volumeMounts", Msg("VolumeMount"), true),
            (13, "terminationMessagePath", Str, false),
            (20, "terminationMessagePolicy", Str, false),
            (14, "imagePullPolicy", Str, false),
            (16, "stdin", Bool, false),
            (17, "stdinOnce", Bool, false),
            (18, "tty", Bool, false),
        ],
        "ContainerPort" => &[
            (1, "name", Str, false),
            (2, "hostPort", Int, false),
            (3, "containerPort", Int, false),
            (4, "protocol", Str, false),
            (5, "hostIP", Str, false),
        ],
        "EnvVar" => &[(1, "name", Str, false), (2, "value", Str, false)],
        "ResourceRequirements" => &[
            (1, "limits", MapQuantity, false),
            (2, "requests", MapQuantity, false),
        ],
        "VolumeMount" => &[
            (1, "name", Str, false),
            (2, "readOnly", Bool, false),
            (3, "mountPath", Str, false),
            (4, "subPath", Str, false),
        ],
        "Deployment" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "spec", Msg("DeploymentSpec"), false),
            (3, "status", Skip, false),
        ],
        "DeploymentSpec" => &[
            (1, "replicas", IntP, false),
            (2, "selector", Msg("LabelSelector"), false),
            (3, "template", Msg("PodTemplateSpec"), false),
            (4, "strategy", Msg("DeploymentStrategy"), false),
            (5, "minReadySeconds", Int, false),
            (6, "revisionHistoryLimit", IntP, false),
            (7, "paused", Bool, false),
            (9, "progressDeadlineSeconds", IntP, false),
        ],
        "DeploymentStrategy" => &[
            (1, "type", Str, false),
            (2, "rollingUpdate", Msg("RollingUpdateDeployment"), false),
        ],
        "RollingUpdateDeployment" => &[
            (1, "maxUnavailable", IntOrString, false),
            (2, "maxSurge", IntOrString, false),
        ],
        "Job" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "spec", Msg("JobSpec"), false),
            (3, "status", Skip, false),
        ],
        "JobSpec" => &[
            (1, "parallelism", IntP, false),
            (2, "completions", IntP, false),
            (3, "activeDeadlineSeconds", IntP, false),
            (4, "selector", Msg("LabelSelector"), false),
            (5, "manualSelector", BoolP, false),
            (6, "template", Msg("PodTemplateSpec"), false),
            (7, "backoffLimit", IntP, false),
            (8, "ttlSecondsAfterFinished", IntP, false),
            (9, "completionMode", Str, false),
            (10, "suspend", BoolP, false),
            (14, "podReplacementPolicy", Str, false),
        ],
        "Service" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "spec", Msg("ServiceSpec"), false),
            (3, "status", Skip, false),
        ],
        "ServiceSpec" => &[
            (1, "ports", Msg("ServicePort"), true),
            (2, "selector", MapStr, false),
            (3, "clusterIP", Str, false),
            (18, "clusterIPs", Str, true),
            (4, "type", Str, false),
            (5, "externalIPs", Str, true),
            (7, "sessionAffinity", Str, false),
            (10, "externalName", Str, false),
            (13, "publishNotReadyAddresses", Bool, false),
            (19, "ipFamilies", Str, true),
            (17, "ipFamilyPolicy", Str, false),
            (22, "internalTrafficPolicy", Str, false),
        ],
        "ServicePort" => &[
            (1, "name", Str, false),
            (2, "protocol", Str, false),
            (3, "port", Int, false),
            (4, "targetPort", IntOrString, false),
            (5, "nodePort", Int, false),
            (6, "appProtocol", Str, false),
        ],
        "Empty" => &[],
        _ => return None,
    })
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or_else(|| ProtobufError::Malformed("truncated varint".into()))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint too long".into()))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| ProtobufError::Malformed("truncated field".into()))?;
        let slice = &self.data[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn skip(&mut self, wire: u64) -> Result<(), ProtobufError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            _ => Err(ProtobufError::Malformed(format!("wire type {wire}"))),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), ProtobufError> {
        if self.pos + n > self.data.len() {
            return Err(ProtobufError::Malformed("truncated field".into()));
        }
        self.pos += n;
        Ok(())
    }

    /// The next (tag, wire type), or `None` at the end.
    fn key(&mut self) -> Result<Option<(u32, u64)>, ProtobufError> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        Ok(Some(((key >> 3) as u32, key & 7)))
    }
}

fn text(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ProtobufError::Malformed("invalid UTF-8 in string".into()))
}

/// Decodes a `k8s\0`-prefixed body into (apiVersion, kind, JSON object).
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| ProtobufError::Malformed("missing k8s\\0 prefix".into()))?;
    let mut reader = Reader { data: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((tag, wire)) = reader.key()? {
        match (tag, wire) {
            (1, 2) => {
                let mut meta = Reader {
                    data: reader.bytes()?,
                    pos: 0,
                };
                while let Some((t, w)) = meta.key()? {
                    match (t, w) {
                        (1, 2) => api_version = text(meta.bytes()?)?,
                        (2, 2) => kind = text(meta.bytes()?)?,
                        _ => meta.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = reader.bytes()?,
            _ => reader.skip(wire)?,
        }
    }
    if schema(&kind).is_none() || kind == "Empty" {
        return Err(ProtobufError::Unsupported(format!("kind {kind:?}")));
    }
    let mut object = message(&kind, raw)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

fn message(name: &str, data: &[u8]) -> Result<Value, ProtobufError> {
    let fields =
        schema(name).ok_or_else(|| ProtobufError::Unsupported(format!("message {name}")))?;
    let mut out = Map::new();
    let mut reader = Reader { data, pos: 0 };
    while let Some((tag, wire)) = reader.key()? {
        let Some(&(_, json_name, kind, repeated)) = fields.iter().find(|f| f.0 == tag) else {
            // gogo-protobuf writes every non-pointer field, set or not: an unknown field that
            // holds a zero value carries nothing; any other would be lost, so it is refused.
            let empty = match wire {
                0 => reader.varint()? == 0,
                2 => reader.bytes()?.is_empty(),
                _ => false,
            };
            if empty {
                continue;
            }
            return Err(ProtobufError::Unsupported(format!("field {tag} of {name}")));
        };
        let value = match kind {
            Skip => {
                reader.skip(wire)?;
                continue;
            }
            Str => json!(text(reader.bytes()?)?),
            Int | IntP => json!(reader.varint()? as i64 as i32 as i64),
            Bool | BoolP => json!(reader.varint()? != 0),
            Msg(inner) => message(inner, reader.bytes()?)?,
            IntOrString => int_or_string(reader.bytes()?)?,
            Time => time(reader.bytes()?)?,
            MapStr | MapBytes | MapQuantity => {
                let (key, value) = map_entry(reader.bytes()?, kind)?;
                let map = out.entry(json_name).or_insert_with(|| json!({}));
                map[key] = value;
                continue;
            }
        };
        if repeated {
            let list = out.entry(json_name).or_insert_with(|| json!([]));
            if let Some(items) = list.as_array_mut() {
                items.push(value);
            }
        } else {
            out.insert(json_name.to_owned(), value);
        }
    }
    // Go's omitempty: unset non-pointer fields disappear.
    out.retain(|key, value| {
        let pointer = fields
            .iter()
            .any(|f| f.1 == key && matches!(f.2, IntP | BoolP));
        pointer
            || !(value.is_null()
                || value == &json!("")
                || value == &json!(0)
                || value == &json!(false)
                || value.as_object().is_some_and(Map::is_empty))
    });
    Ok(Value::Object(out))
}

fn map_entry(data: &[u8], kind: Kind) -> Result<(String, Value), ProtobufError> {
    let mut reader = Reader { data, pos: 0 };
    let (mut key, mut value) = (String::new(), json!(""));
    while let Some((tag, wire)) = reader.key()? {
        match tag {
            1 => key = text(reader.bytes()?)?,
            2 => {
                let bytes = reader.bytes()?;
                value = match kind {
                    MapBytes => json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    MapQuantity => quantity(bytes)?,
                    _ => json!(text(bytes)?),
                };
            }
            _ => reader.skip(wire)?,
        }
    }
    Ok((key, value))
}

fn quantity(data: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader { data, pos: 0 };
    let mut value = String::new();
    while let Some((tag, wire)) = reader.key()? {
        if tag == 1 {
            value = text(reader.bytes()?)?
        } else {
            reader.skip(wire)?
        }
    }
    Ok(json!(value))
}

fn int_or_string(data: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader { data, pos: 0 };
    let (mut is_string, mut int, mut string) = (false, 0i64, String::new());
    while let Some((tag, wire)) = reader.key()? {
        match tag {
            1 => is_string = reader.varint()? == 1,
            2 => int = reader.varint()? as i64 as i32 as i64,
            3 => string = text(reader.bytes()?)?,
            _ => reader.skip(wire)?,
        }
    }
    Ok(if is_string { json!(string) } else { json!(int) })
}

fn time(data: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader { data, pos: 0 };
    let mut seconds = 0i64;
    while let Some((tag, wire)) = reader.key()? {
        if tag == 1 {
            seconds = reader.varint()? as i64
        } else {
            reader.skip(wire)?
        }
    }
    if seconds == 0 {
        return Ok(Value::Null);
    }
    Ok(jiff::Timestamp::from_second(seconds)
        .map(|t| json!(crate::store::format_time(t)))
        .unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(tag: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((tag << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_namespace_envelope() {
        let meta = field(1, &field(1, b"foo"));
        let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &meta)].concat();
        let object = decode(&body).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}})
        );
        let unknown = [
            b"k8s\0".to_vec(),
            field(1, &[field(1, b"v1"), field(2, b"Widget")].concat()),
        ]
        .concat();
        assert!(matches!(
            decode(&unknown),
            Err(ProtobufError::Unsupported(_))
        ));
    }
}
