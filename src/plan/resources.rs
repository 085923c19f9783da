//! CPU, memory, GPU and ephemeral-storage settings → container resource requests and limits.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::Planner;
use crate::compose::model::{DeviceRequest, Service};

/// A CPU count as a Quantity (`0.5` → `500m`).
fn cpu(cores: f64) -> Quantity {
    let milli = (cores * 1000.0).round() as i64;
    if milli % 1000 == 0 {
        Quantity((milli / 1000).to_string())
    } else {
        Quantity(format!("{milli}m"))
    }
}

/// A byte count as a Quantity, in the largest binary unit that divides it.
pub fn bytes(n: f64) -> Quantity {
    let n = n.round() as i64;
    for (unit, size) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if n != 0 && n % size == 0 {
            return Quantity(format!("{}{unit}", n / size));
        }
    }
    Quantity(n.to_string())
}

/// GPUs asked for by device requests (`count: all`/`-1` cannot be expressed: `None`).
fn gpu_count(devices: &[DeviceRequest]) -> Option<Option<i64>> {
    let gpus: Vec<&DeviceRequest> = devices
        .iter()
        .filter(|d| {
            d.capabilities.iter().any(|c| c == "gpu") || d.driver.as_deref() == Some("nvidia")
        })
        .collect();
    if gpus.is_empty() {
        return None;
    }
    let mut total = 0i64;
    for d in gpus {
        let n = match &d.count {
            Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(-1),
            Some(serde_json::Value::String(s)) => s.parse::<i64>().unwrap_or(-1),
            _ if !d.device_ids.is_empty() => d.device_ids.len() as i64,
            _ => -1,
        };
        if n < 0 {
            return Some(None);
        }
        total += n;
    }
    Some(Some(total))
}

impl Planner<'_> {
    /// Requests and limits from `cpus`, `cpu_*`, `mem_*`, `deploy.resources`, `gpus`, `storage_opt`.
    pub(super) fn resources(&mut self, name: &str, svc: &Service) -> Option<ResourceRequirements> {
        let mut limits = BTreeMap::new();
        let mut requests = BTreeMap::new();
        let deploy = svc.deploy.as_ref().map(|d| &d.resources);
        let lim = deploy.and_then(|r| r.limits.as_ref());
        let res = deploy.and_then(|r| r.reservations.as_ref());
        let quota = match (svc.cpu_quota, svc.cpu_period) {
            (Some(q), p) if q > 0.0 => Some(q / p.filter(|p| *p > 0.0).unwrap_or(100_000.0)),
            _ => None,
        };
        if let Some(c) = svc
            .cpus
            .or(lim.and_then(|l| l.cpus))
            .or(quota)
            .filter(|c| *c > 0.0)
        {
            limits.insert("cpu".to_string(), cpu(c));
        }
        if let Some(m) = svc
            .mem_limit
            .or(lim.and_then(|l| l.memory))
            .filter(|m| *m > 0.0)
        {
            limits.insert("memory".to_string(), bytes(m));
        }
        let shares = svc.cpu_shares.filter(|s| *s > 0.0).map(|s| s / 1024.0);
        if let Some(c) = res.and_then(|r| r.cpus).or(shares).filter(|c| *c > 0.0) {
            requests.insert("cpu".to_string(), cpu(c));
        }
        if let Some(m) = svc
            .mem_reservation
            .or(res.and_then(|r| r.memory))
            .filter(|m| *m > 0.0)
        {
            requests.insert("memory".to_string(), bytes(m));
        }
        if lim.and_then(|l| l.pids).is_some() {
            self.warn(name, "deploy.resources.limits.pids", "Kubernetes has no per-container pid limit (the node's podPidsLimit applies): ignored");
        }
        if res.is_some_and(|r| !r.generic_resources.is_empty()) {
            self.warn(
                name,
                "deploy.resources.reservations.generic_resources",
                "Swarm generic resources have no Kubernetes equivalent: ignored",
            );
        }
        let devices: Vec<DeviceRequest> = svc
            .gpus
            .iter()
            .chain(res.map(|r| r.devices.as_slice()).unwrap_or_default())
            .cloned()
            .collect();
        match gpu_count(&devices) {
            Some(Some(n)) => {
                limits.insert("nvidia.com/gpu".to_string(), Quantity(n.to_string()));
            }
            Some(None) => self.warn(
                name,
                "gpus",
                "\"all\" GPUs cannot be requested in Kubernetes (a pod asks for a number of nvidia.com/gpu): give a count",
            ),
            None if !devices.is_empty() => self.warn(name, "deploy.resources.reservations.devices", "only GPU device requests map to Kubernetes (nvidia.com/gpu): ignored"),
            None => {}
        }
        if let Some(size) = svc.storage_opt.get("size") {
            match crate::compose::normalize::units::parse_bytes(size) {
                Some(b) => {
                    limits.insert("ephemeral-storage".to_string(), bytes(b as f64));
                }
                None => self.warn(
                    name,
                    "storage_opt.size",
                    format!("\"{size}\" is not a size: ignored"),
                ),
            }
        }
        if svc.storage_opt.keys().any(|k| k != "size") {
            self.warn(name, "storage_opt", "only `size` maps to Kubernetes (ephemeral-storage limit): the other options are ignored");
        }
        if limits.is_empty() && requests.is_empty() {
            return None;
        }
        Some(ResourceRequirements {
            limits: (!limits.is_empty()).then_some(limits),
            requests: (!requests.is_empty()).then_some(requests),
            ..ResourceRequirements::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu(0.5).0, "500m");
        assert_eq!(cpu(2.0).0, "2");
        assert_eq!(bytes(536_870_912.0).0, "512Mi");
        assert_eq!(bytes(1000.0).0, "1000");
    }
}
