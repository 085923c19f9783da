//! compose-go's struct layout: which model paths are Go structs and their fields in
//! declaration order. `config` prints struct fields in that order (maps sorted), and the JSON
//! form leaves out the extensions of every struct but the project.

use std::sync::LazyLock;

use super::merge::PathTable;

/// The project's fields (`types.Project`).
pub const PROJECT: &[&str] = &[
    "name", "services", "networks", "volumes", "secrets", "configs", "models",
];

const SERVICE: &[&str] = &[
    "name",
    "profiles",
    "annotations",
    "attach",
    "build",
    "develop",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "provider",
    "environment",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "group_add",
    "gpus",
    "hostname",
    "healthcheck",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "log_driver",
    "log_opt",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "mac_address",
    "models",
    "net",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
    "pre_start",
    "post_start",
    "pre_stop",
];

const BUILD: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "args",
    "provenance",
    "sbom",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "no_cache_filter",
    "additional_contexts",
    "pull",
    "extra_hosts",
    "isolation",
    "network",
    "target",
    "secrets",
    "shm_size",
    "tags",
    "ulimits",
    "platforms",
    "privileged",
];

const FILE_REFERENCE: &[&str] = &["source", "target", "uid", "gid", "mode"];
const FILE_OBJECT: &[&str] = &[
    "name",
    "file",
    "environment",
    "content",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
];
const ULIMITS: &[&str] = &["single", "soft", "hard"];
const THROTTLE_DEVICE: &[&str] = &["path", "rate"];
const UPDATE_CONFIG: &[&str] = &[
    "parallelism",
    "delay",
    "failure_action",
    "monitor",
    "max_failure_ratio",
    "order",
];
const RESOURCE: &[&str] = &["cpus", "memory", "pids", "devices", "generic_resources"];
const DEVICE_REQUEST: &[&str] = &["capabilities", "driver", "count", "device_ids", "options"];
const HOOK: &[&str] = &[
    "command",
    "image",
    "user",
    "privileged",
    "working_dir",
    "environment",
    "per_replica",
];

/// Every struct below the project: path pattern (`*` any key or list item, `[]` list items).
const STRUCTS: &[(&str, &[&str])] = &[
    ("services.*", SERVICE),
    ("services.*.build", BUILD),
    ("services.*.build.secrets.[]", FILE_REFERENCE),
    ("services.*.build.ulimits.*", ULIMITS),
    ("services.*.develop", &["watch"]),
    (
        "services.*.develop.watch.[]",
        &[
            "path",
            "action",
            "target",
            "exec",
            "include",
            "ignore",
            "initial_sync",
        ],
    ),
    ("services.*.develop.watch.[].exec", HOOK),
    (
        "services.*.blkio_config",
        &[
            "weight",
            "weight_device",
            "device_read_bps",
            "device_read_iops",
            "device_write_bps",
            "device_write_iops",
        ],
    ),
    (
        "services.*.blkio_config.weight_device.[]",
        &["path", "weight"],
    ),
    (
        "services.*.blkio_config.device_read_bps.[]",
        THROTTLE_DEVICE,
    ),
    (
        "services.*.blkio_config.device_read_iops.[]",
        THROTTLE_DEVICE,
    ),
    (
        "services.*.blkio_config.device_write_bps.[]",
        THROTTLE_DEVICE,
    ),
    (
        "services.*.blkio_config.device_write_iops.[]",
        THROTTLE_DEVICE,
    ),
    ("services.*.configs.[]", FILE_REFERENCE),
    ("services.*.secrets.[]", FILE_REFERENCE),
    (
        "services.*.credential_spec",
        &["config", "file", "registry"],
    ),
    (
        "services.*.depends_on.*",
        &["condition", "restart", "required"],
    ),
    (
        "services.*.deploy",
        &[
            "mode",
            "replicas",
            "labels",
            "update_config",
            "rollback_config",
            "resources",
            "restart_policy",
            "placement",
            "endpoint_mode",
        ],
    ),
    ("services.*.deploy.update_config", UPDATE_CONFIG),
    ("services.*.deploy.rollback_config", UPDATE_CONFIG),
    ("services.*.deploy.resources", &["limits", "reservations"]),
    ("services.*.deploy.resources.*", RESOURCE),
    ("services.*.deploy.resources.*.devices.[]", DEVICE_REQUEST),
    (
        "services.*.deploy.resources.*.generic_resources.[]",
        &["discrete_resource_spec"],
    ),
    (
        "services.*.deploy.resources.*.generic_resources.[].discrete_resource_spec",
        &["kind", "value"],
    ),
    (
        "services.*.deploy.restart_policy",
        &["condition", "delay", "max_attempts", "window"],
    ),
    (
        "services.*.deploy.placement",
        &["constraints", "preferences", "max_replicas_per_node"],
    ),
    ("services.*.deploy.placement.preferences.[]", &["spread"]),
    (
        "services.*.devices.[]",
        &["source", "target", "permissions"],
    ),
    ("services.*.extends", &["file", "service"]),
    ("services.*.env_file.[]", &["path", "required", "format"]),
    ("services.*.gpus.[]", DEVICE_REQUEST),
    (
        "services.*.healthcheck",
        &[
            "test",
            "timeout",
            "interval",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
    ),
    ("services.*.logging", &["driver", "options"]),
    ("services.*.models.*", &["endpoint_var", "model_var"]),
    (
        "services.*.networks.*",
        &[
            "aliases",
            "driver_opts",
            "gw_priority",
            "interface_name",
            "ipv4_address",
            "ipv6_address",
            "link_local_ips",
            "mac_address",
            "priority",
        ],
    ),
    (
        "services.*.ports.[]",
        &[
            "name",
            "mode",
            "host_ip",
            "target",
            "published",
            "protocol",
            "app_protocol",
        ],
    ),
    ("services.*.provider", &["type", "options"]),
    ("services.*.ulimits.*", ULIMITS),
    (
        "services.*.volumes.[]",
        &[
            "type",
            "source",
            "target",
            "read_only",
            "consistency",
            "bind",
            "volume",
            "tmpfs",
            "image",
        ],
    ),
    (
        "services.*.volumes.[].bind",
        &["selinux", "propagation", "create_host_path", "recursive"],
    ),
    (
        "services.*.volumes.[].volume",
        &["labels", "nocopy", "subpath"],
    ),
    ("services.*.volumes.[].tmpfs", &["size", "mode"]),
    ("services.*.volumes.[].image", &["subpath"]),
    ("services.*.pre_start.[]", HOOK),
    ("services.*.post_start.[]", HOOK),
    ("services.*.pre_stop.[]", HOOK),
    (
        "networks.*",
        &[
            "name",
            "driver",
            "driver_opts",
            "ipam",
            "external",
            "internal",
            "attachable",
            "labels",
            "enable_ipv4",
            "enable_ipv6",
        ],
    ),
    ("networks.*.ipam", &["driver", "config", "options"]),
    (
        "networks.*.ipam.config.[]",
        &["subnet", "gateway", "ip_range", "aux_addresses"],
    ),
    (
        "volumes.*",
        &["name", "driver", "driver_opts", "external", "labels"],
    ),
    ("secrets.*", FILE_OBJECT),
    ("configs.*", FILE_OBJECT),
    (
        "models.*",
        &["name", "model", "context_size", "runtime_flags"],
    ),
];

static TABLE: LazyLock<PathTable<&'static [&'static str]>> =
    LazyLock::new(|| PathTable::new(STRUCTS));

/// The fields of the struct at `path` (empty: the project), or `None` where the model has a
/// map or a list.
pub fn fields<S: AsRef<str>>(path: &[S]) -> Option<&'static [&'static str]> {
    if path.is_empty() {
        return Some(PROJECT);
    }
    TABLE.find(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_are_found_by_path_and_maps_are_not() {
        assert_eq!(fields::<&str>(&[]), Some(PROJECT));
        assert_eq!(fields(&["services", "web"]), Some(SERVICE));
        assert_eq!(
            fields(&["services", "web", "secrets", "[]"]),
            Some(FILE_REFERENCE)
        );
        assert_eq!(fields(&["services"]), None);
        assert_eq!(fields(&["services", "web", "labels"]), None);
    }
}
