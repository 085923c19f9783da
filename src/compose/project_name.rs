//! Project name rules (`cli/options.go:withNamePrecedenceLoad`, `loader/loader.go:projectName`):
//! `--project-name` › `COMPOSE_PROJECT_NAME` › last `name:` › project directory basename.

use super::error::LoadError;

/// compose's `NormalizeProjectName`: lowercase, keep `[a-z0-9_-]`, trim leading `_`/`-`.
pub fn normalize(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Rejects a name given explicitly (flag or env) that normalisation would change.
pub fn validate_explicit(name: &str) -> Result<(), LoadError> {
    if normalize(name) == name {
        Ok(())
    } else {
        Err(LoadError::invalid(format!(
            "invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        )))
    }
}

/// Picks the project name by compose's precedence. `from_files` is the last non-empty
/// (interpolated) top-level `name:`; `dir_name` the project directory's basename.
pub fn choose(
    flag: Option<&str>,
    env: Option<&str>,
    from_files: Option<&str>,
    dir_name: &str,
) -> Result<String, LoadError> {
    let name = if let Some(n) = flag.filter(|n| !n.is_empty()) {
        validate_explicit(n)?;
        n.to_string()
    } else if let Some(n) = env.filter(|n| !n.is_empty()) {
        validate_explicit(n)?;
        n.to_string()
    } else if let Some(n) = from_files.filter(|n| !n.is_empty()) {
        normalize(n)
    } else {
        normalize(dir_name)
    };
    if name.is_empty() {
        return Err(LoadError::invalid("project name must not be empty"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize("My.Project_X"), "myproject_x");
        assert_eq!(normalize("UNNORMALIZED PATH"), "unnormalizedpath");
        assert_eq!(normalize("_-42my"), "42my");
    }

    #[test]
    fn precedence_and_validation() {
        assert_eq!(
            choose(Some("a"), Some("b"), Some("c"), "d").as_deref(),
            Ok("a")
        );
        assert_eq!(choose(None, Some("b"), Some("c"), "d").as_deref(), Ok("b"));
        assert_eq!(
            choose(None, Some(""), Some("C.x"), "d").as_deref(),
            Ok("cx")
        );
        assert_eq!(choose(None, None, None, "My Dir").as_deref(), Ok("mydir"));
        let e = choose(Some("_my_project"), None, None, "d").expect_err("invalid");
        assert!(
            e.message
                .starts_with("invalid project name \"_my_project\": must consist only")
        );
        assert!(choose(None, Some("MY_PROJECT"), None, "d").is_err());
        assert_eq!(
            choose(None, None, None, "/").expect_err("empty").message,
            "project name must not be empty"
        );
    }
}
