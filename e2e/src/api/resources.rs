//! The resources kube-sim serves: names, kinds, groups, scope and verbs — the one table that
//! routing, discovery and messages read.

/// One served resource.
#[derive(Debug)]
pub struct Resource {
    /// Plural, as in URLs (`pods`).
    pub plural: &'static str,
    /// Singular (`pod`), for discovery.
    pub singular: &'static str,
    /// Kind (`Pod`).
    pub kind: &'static str,
    /// API group, `""` for core.
    pub group: &'static str,
    /// Version (`v1`).
    pub version: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// `kubectl get po` style abbreviations.
    pub short_names: &'static [&'static str],
    /// Discovery verbs.
    pub verbs: &'static [&'static str],
    /// Served subresources (`status`, `log`…).
    pub subresources: &'static [&'static str],
    /// Discovery categories (`all`).
    pub categories: &'static [&'static str],
}

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

const NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Every served resource.
pub static RESOURCES: &[Resource] = &[
    Resource {
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        group: "",
        version: "v1",
        namespaced: false,
        short_names: &["ns"],
        verbs: NO_DELETECOLLECTION,
        subresources: &["status", "finalize"],
        categories: &[],
    },
    Resource {
        plural: "nodes",
        singular: "node",
        kind: "Node",
        group: "",
        version: "v1",
        namespaced: false,
        short_names: &["no"],
        verbs: CRUD,
        subresources: &["status"],
        categories: &[],
    },
    Resource {
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["po"],
        verbs: CRUD,
        subresources: &["status", "log", "attach", "exec", "portforward"],
        categories: &["all"],
    },
    Resource {
        plural: "services",
        singular: "service",
        kind: "Service",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["svc"],
        verbs: CRUD,
        subresources: &["status"],
        categories: &["all"],
    },
    Resource {
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["cm"],
        verbs: CRUD,
        subresources: &[],
        categories: &[],
    },
    Resource {
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &[],
        verbs: CRUD,
        subresources: &[],
        categories: &[],
    },
    Resource {
        plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        kind: "PersistentVolumeClaim",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["pvc"],
        verbs: CRUD,
        subresources: &["status"],
        categories: &[],
    },
    Resource {
        plural: "events",
        singular: "event",
        kind: "Event",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["ev"],
        verbs: CRUD,
        subresources: &[],
        categories: &[],
    },
    Resource {
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["sa"],
        verbs: CRUD,
        subresources: &[],
        categories: &[],
    },
    Resource {
        plural: "resourcequotas",
        singular: "resourcequota",
        kind: "ResourceQuota",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["quota"],
        verbs: CRUD,
        subresources: &["status"],
        categories: &[],
    },
    Resource {
        plural: "limitranges",
        singular: "limitrange",
        kind: "LimitRange",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["limits"],
        verbs: CRUD,
        subresources: &[],
        categories: &[],
    },
    Resource {
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        group: "apps",
        version: "v1",
        namespaced: true,
        short_names: &["deploy"],
        verbs: CRUD,
        subresources: &["status"],
        categories: &["all"],
    },
    Resource {
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        group: "apps",
        version: "v1",
        namespaced: true,
        short_names: &["rs"],
        verbs: CRUD,
        subresources: &["status"],
        categories: &["all"],
    },
    Resource {
        plural: "jobs",
        singular: "job",
        kind: "Job",
        group: "batch",
        version: "v1",
        namespaced: true,
        short_names: &[],
        verbs: CRUD,
        subresources: &["status"],
        categories: &["all"],
    },
    Resource {
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        group: "authorization.k8s.io",
        version: "v1",
        namespaced: false,
        short_names: &[],
        verbs: &["create"],
        subresources: &[],
        categories: &[],
    },
];

/// The served groups (besides core) and their one version, in discovery order.
pub static GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("batch", "v1"),
    ("authorization.k8s.io", "v1"),
];

impl Resource {
    /// `v1` or `apps/v1`: the `apiVersion` of this resource's objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The resource at `group`/`version`/`plural`, if served.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource whose objects have this `apiVersion` and `kind` (for ownerReferences).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The resource stored under this plural (plurals are unique across served groups).
pub fn by_plural(plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.plural == plural)
}
