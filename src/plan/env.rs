//! The container environment, in compose-run.md §2.4's precedence: service `environment` (with
//! `env_file` folded in by the loader), then `--env-from-file` for keys not given with `-e`,
//! then `-e`. Values are `$`-escaped.

use indexmap::IndexMap;
use k8s_openapi::api::core::v1::EnvVar;

use super::command::escape;
use super::{PlanError, Planner};
use crate::compose::dotenv;

/// Environment entries as the container sees them.
pub fn env_vars(env: &IndexMap<String, Option<String>>) -> Option<Vec<EnvVar>> {
    let vars: Vec<EnvVar> = env
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref().map(|v| EnvVar {
                name: k.clone(),
                value: Some(escape(v)),
                value_from: None,
            })
        })
        .collect();
    (!vars.is_empty()).then_some(vars)
}

impl Planner<'_> {
    /// Warns about `environment: [X]` entries that resolved nowhere.
    pub(super) fn unset_env(&mut self, name: &str, env: &IndexMap<String, Option<String>>) {
        let unset: Vec<&str> = env
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        if !unset.is_empty() {
            self.warn(
                name,
                "environment",
                format!(
                    "{} not set anywhere: docker would unset it in the container, Kubernetes \
                     cannot unset an image variable, so the image's value (if any) stays",
                    unset.join(", ")
                ),
            );
        }
    }

    /// Applies `--env-from-file` and `-e` to the service environment.
    pub(super) fn run_env(
        &self,
        mut env: IndexMap<String, Option<String>>,
    ) -> Result<IndexMap<String, Option<String>>, PlanError> {
        let request = self.input.request;
        let project_env = &self.input.loaded.environment;
        let mut flags: IndexMap<String, String> = IndexMap::new();
        for e in &request.env {
            let value = match &e.value {
                Some(v) => Some(v.clone()),
                None => project_env.get(&e.key).cloned(),
            };
            if let Some(v) = value {
                flags.insert(e.key.clone(), v);
            }
        }
        for (path, text) in &self.input.env_from_files {
            let lookup = |k: &str| flags.get(k).cloned();
            let parsed = dotenv::parse(text, &lookup).map_err(|e| PlanError::EnvFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            for (k, v) in parsed {
                if !flags.contains_key(&k) {
                    env.insert(k, Some(v));
                }
            }
        }
        for (k, v) in flags {
            env.insert(k, Some(v));
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_entries_are_left_out_and_values_escaped() {
        let env = IndexMap::from([
            ("A".to_string(), Some("$x".to_string())),
            ("B".to_string(), None),
        ]);
        let vars = env_vars(&env).unwrap();
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].value.as_deref(), Some("$$x"));
    }
}
