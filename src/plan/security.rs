//! Users, capabilities, privileges, `security_opt`, sysctls and groups → security contexts.

use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, PodSecurityContext, SELinuxOptions, SeccompProfile,
    SecurityContext, Sysctl,
};

use super::{PlanError, Planner, unsupported};
use crate::compose::model::Service;

/// `CAP_NET_ADMIN` / `net_admin` → `NET_ADMIN`, as the CRI expects.
pub fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

/// compose's merge of `--cap-add`/`--cap-drop` into the service lists: each flag is appended
/// to its list and removed from the other.
pub fn merge_caps(
    add: &[String],
    drop: &[String],
    flag_add: &[String],
    flag_drop: &[String],
) -> (Vec<String>, Vec<String>) {
    let norm = |l: &[String]| l.iter().map(|c| capability(c)).collect::<Vec<_>>();
    let (fa, fd) = (norm(flag_add), norm(flag_drop));
    let mut add: Vec<String> = norm(add).into_iter().filter(|c| !fd.contains(c)).collect();
    let mut drop: Vec<String> = norm(drop).into_iter().filter(|c| !fa.contains(c)).collect();
    for c in fa.into_iter().filter(|c| !fd.contains(c)) {
        if !add.contains(&c) {
            add.push(c);
        }
    }
    for c in fd {
        if !drop.contains(&c) {
            drop.push(c);
        }
    }
    (add, drop)
}

/// The API server refuses `allowPrivilegeEscalation: false` with `privileged` or an added
/// `SYS_ADMIN` (which imply escalation).
pub fn escalation_conflict(sc: &SecurityContext) -> bool {
    let sys_admin = sc
        .capabilities
        .as_ref()
        .and_then(|c| c.add.as_ref())
        .is_some_and(|a| a.iter().any(|c| c == "SYS_ADMIN" || c == "ALL"));
    sc.allow_privilege_escalation == Some(false) && (sc.privileged == Some(true) || sys_admin)
}

fn numeric(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|n| *n >= 0)
}

impl Planner<'_> {
    /// The container's security context.
    pub(super) fn security_context(
        &mut self,
        name: &str,
        svc: &Service,
    ) -> Result<Option<SecurityContext>, PlanError> {
        let mut sc = SecurityContext::default();
        if let Some(user) = svc.user.as_deref().filter(|u| !u.is_empty()) {
            let (uid, gid) = match user.split_once(':') {
                Some((u, g)) => (u, Some(g)),
                None => (user, None),
            };
            match (numeric(uid), gid.map(numeric)) {
                (Some(u), None) => sc.run_as_user = Some(u),
                (Some(u), Some(Some(g))) => {
                    sc.run_as_user = Some(u);
                    sc.run_as_group = Some(g);
                }
                _ => {
                    return Err(unsupported(
                        name,
                        "user",
                        format!(
                            "\"{user}\" is a name: Kubernetes runs containers as numeric IDs \
                             (runAsUser/runAsGroup) and cannot look names up in the image; \
                             write the numeric uid[:gid] (e.g. user: \"1000:1000\"), or pass -u UID[:GID]"
                        ),
                    ));
                }
            }
        }
        let (add, drop) = merge_caps(&svc.cap_add, &svc.cap_drop, &[], &[]);
        if !add.is_empty() || !drop.is_empty() {
            sc.capabilities = Some(Capabilities {
                add: (!add.is_empty()).then_some(add),
                drop: (!drop.is_empty()).then_some(drop),
            });
        }
        if svc.privileged {
            sc.privileged = Some(true);
        }
        if svc.read_only {
            sc.read_only_root_filesystem = Some(true);
        }
        for (i, opt) in svc.security_opt.iter().enumerate() {
            self.security_opt(name, i, opt, &mut sc);
        }
        if escalation_conflict(&sc) {
            sc.allow_privilege_escalation = None;
            self.warn(
                name,
                "security_opt",
                "Kubernetes refuses no-new-privileges together with privileged or CAP_SYS_ADMIN: \
                 no-new-privileges is dropped",
            );
        }
        Ok((sc != SecurityContext::default()).then_some(sc))
    }

    fn security_opt(&mut self, name: &str, i: usize, opt: &str, sc: &mut SecurityContext) {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt, ""));
        let key = format!("security_opt[{i}]");
        match (k, v) {
            ("no-new-privileges", "" | "true") => sc.allow_privilege_escalation = Some(false),
            ("no-new-privileges", "false") => {}
            ("seccomp", "unconfined") => {
                sc.seccomp_profile = Some(SeccompProfile {
                    type_: "Unconfined".into(),
                    localhost_profile: None,
                })
            }
            ("seccomp", file) => {
                let base = file.rsplit('/').next().unwrap_or(file).to_string();
                sc.seccomp_profile = Some(SeccompProfile {
                    type_: "Localhost".into(),
                    localhost_profile: Some(base.clone()),
                });
                self.warn(name, &key, format!("seccomp profile file \"{file}\" must be installed on the node under the kubelet's seccomp directory as \"{base}\""));
            }
            ("apparmor", "docker-default") => {
                sc.app_armor_profile = Some(AppArmorProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                })
            }
            ("apparmor", "unconfined") => {
                sc.app_armor_profile = Some(AppArmorProfile {
                    type_: "Unconfined".into(),
                    localhost_profile: None,
                })
            }
            ("apparmor", profile) => {
                sc.app_armor_profile = Some(AppArmorProfile {
                    type_: "Localhost".into(),
                    localhost_profile: Some(profile.into()),
                })
            }
            ("label", l) => {
                let se = sc
                    .se_linux_options
                    .get_or_insert_with(SELinuxOptions::default);
                match l.split_once(':') {
                    Some(("user", x)) => se.user = Some(x.into()),
                    Some(("role", x)) => se.role = Some(x.into()),
                    Some(("type", x)) => se.type_ = Some(x.into()),
                    Some(("level", x)) => se.level = Some(x.into()),
                    _ => self.warn(
                        name,
                        &key,
                        format!("SELinux option \"{l}\" has no Kubernetes equivalent: ignored"),
                    ),
                }
            }
            _ => self.warn(
                name,
                &key,
                format!("\"{opt}\" has no Kubernetes equivalent: ignored"),
            ),
        }
    }

    /// The pod's security context: `sysctls` and numeric `group_add`.
    pub(super) fn pod_security_context(
        &mut self,
        name: &str,
        svc: &Service,
    ) -> Result<Option<PodSecurityContext>, PlanError> {
        let mut psc = PodSecurityContext::default();
        let sysctls: Vec<Sysctl> = svc
            .sysctls
            .iter()
            .map(|(k, v)| Sysctl {
                name: k.clone(),
                value: v.clone(),
            })
            .collect();
        if !sysctls.is_empty() {
            psc.sysctls = Some(sysctls);
        }
        let mut groups = Vec::new();
        for g in &svc.group_add {
            match numeric(g) {
                Some(n) => groups.push(n),
                None => {
                    return Err(unsupported(
                        name,
                        "group_add",
                        format!(
                            "\"{g}\" is a group name: Kubernetes takes numeric supplemental groups only; write its GID"
                        ),
                    ));
                }
            }
        }
        if !groups.is_empty() {
            psc.supplemental_groups = Some(groups);
        }
        Ok((psc != PodSecurityContext::default()).then_some(psc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(l: &[&str]) -> Vec<String> {
        l.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_cancel_service_caps() {
        let (add, drop) = merge_caps(
            &s(&["CAP_NET_ADMIN", "SYS_TIME"]),
            &s(&["chown"]),
            &s(&["CHOWN"]),
            &s(&["sys_time"]),
        );
        assert_eq!(add, ["NET_ADMIN", "CHOWN"]);
        assert_eq!(drop, ["SYS_TIME"]);
    }
}
