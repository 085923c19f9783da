//! What `config` prints besides the model: docker compose's one-per-line views of a loaded
//! project (`--services`, `--volumes`, `--images`, `--hash`, ...).

use serde_json::Value;

use super::error::{ErrorKind, LoadError};
use super::interpolate::{self, Variable};
use super::{ConfigFormat, Loaded, render};
use crate::request::ConfigView;

/// The text `config` prints for `view` (empty for `--quiet`). `--variables` wants a project
/// loaded with its templates as written (`LoadOptions::templates_as_written`).
pub fn show(loaded: &Loaded, view: &ConfigView, format: ConfigFormat) -> Result<String, LoadError> {
    let lines = match view {
        ConfigView::Model => return Ok(render(loaded, format)),
        ConfigView::Quiet => return Ok(String::new()),
        ConfigView::Services => dependency_order(loaded),
        ConfigView::Volumes => names(loaded, "volumes"),
        ConfigView::Networks => names(loaded, "networks"),
        ConfigView::Hash(which) => hashes(loaded, which)?,
        ConfigView::Images => images(loaded),
        ConfigView::Profiles => loaded.all_profiles.clone(),
        ConfigView::Variables => {
            let mut found = Vec::new();
            collect_variables(&loaded.model, &mut found);
            return Ok(variables_table(found));
        }
        ConfigView::Environment => {
            let mut vars: Vec<String> = loaded
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            vars.sort();
            vars
        }
    };
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// Variables as `config --variables` tabulates them: columns at least 20 wide, 3 spaces
/// after the longest cell; the last one unpadded.
fn variables_table(found: Vec<Variable>) -> String {
    let mut rows = vec![[
        "NAME".to_string(),
        "REQUIRED".into(),
        "DEFAULT VALUE".into(),
        "ALTERNATE VALUE".into(),
    ]];
    rows.extend(
        found
            .into_iter()
            .map(|v| [v.name, v.required.to_string(), v.default, v.alternate]),
    );
    let width = |col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count() + 3)
            .max()
            .unwrap_or_default()
            .max(20)
    };
    let widths = [width(0), width(1), width(2)];
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (cell, w) in r.iter().zip(widths) {
                line.push_str(&format!("{cell:<w$}"));
            }
            line.push_str(&r[3]);
            line.push('\n');
            line
        })
        .collect()
}

/// Every variable of every string value, the last use of a name winning (compose keeps
/// them in a map).
fn collect_variables(v: &Value, found: &mut Vec<Variable>) {
    match v {
        Value::String(s) => {
            for var in interpolate::variables(s) {
                found.retain(|f| f.name != var.name);
                found.push(var);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_variables(i, found)),
        Value::Object(map) => map.values().for_each(|i| collect_variables(i, found)),
        _ => {}
    }
}

/// The names of a top-level section (sorted: compose's order is a Go map's).
fn names(loaded: &Loaded, section: &str) -> Vec<String> {
    loaded
        .model
        .get(section)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Service names, each after the services it depends on (compose walks its dependency
/// graph; among independent services its order is a Go map's, here names sort).
fn dependency_order(loaded: &Loaded) -> Vec<String> {
    fn visit<'a>(
        name: &'a str,
        loaded: &'a Loaded,
        seen: &mut Vec<&'a str>,
        out: &mut Vec<String>,
    ) {
        let Some(svc) = services(loaded).find(|(n, _)| *n == name).map(|(_, s)| s) else {
            return;
        };
        if seen.contains(&name) {
            return;
        }
        seen.push(name);
        for dep in svc
            .get("depends_on")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|d| d.keys())
        {
            visit(dep, loaded, seen, out);
        }
        out.push(name.to_string());
    }
    let (mut seen, mut out) = (Vec::new(), Vec::new());
    for (name, _) in services(loaded) {
        visit(name, loaded, &mut seen, &mut out);
    }
    out
}

fn services(loaded: &Loaded) -> impl Iterator<Item = (&String, &Value)> {
    loaded
        .model
        .get("services")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// Each service's image, or the name compose gives the image it builds (`PROJECT-SERVICE`).
fn images(loaded: &Loaded) -> Vec<String> {
    services(loaded)
        .map(
            |(name, svc)| match svc.get("image").and_then(Value::as_str) {
                Some(image) => image.to_string(),
                None => format!("{}-{name}", loaded.name),
            },
        )
        .collect()
}

/// `name hash` of the services `which` lists (comma-separated, `*` for all), in model order.
fn hashes(loaded: &Loaded, which: &str) -> Result<Vec<String>, LoadError> {
    let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
    let all = wanted.contains(&"*");
    if let Some(missing) = wanted
        .iter()
        .find(|w| !all && !services(loaded).any(|(name, _)| name == *w))
    {
        return Err(LoadError::new(
            ErrorKind::NoSuchService,
            format!("no such service: {missing}: not found"),
        ));
    }
    Ok(services(loaded)
        .filter(|(name, _)| all || wanted.contains(&name.as_str()))
        .map(|(name, svc)| format!("{name} {}", render::service_hash(name, svc)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loaded(model: Value) -> Loaded {
        Loaded {
            environment: [("B".to_string(), "2".to_string()), ("A".into(), "1".into())]
                .into_iter()
                .collect(),
            all_profiles: vec!["dev".into()],
            ..Loaded::of(model)
        }
    }

    #[test]
    fn views_print_one_name_per_line() {
        let l = loaded(json!({"name": "p", "services": {
            "a": {"image": "nginx", "command": null, "entrypoint": null},
            "b": {"build": {"context": "/p"}, "command": null, "entrypoint": null}},
            "volumes": {"data": {"name": "p_data"}}}));
        let show = |v: ConfigView| show(&l, &v, ConfigFormat::Yaml).expect("shown");
        assert_eq!(show(ConfigView::Services), "a\nb\n");
        let deps = loaded(json!({"services": {"a": {"depends_on": {"c": {}}}, "b": {}, "c": {}}}));
        assert_eq!(
            super::show(&deps, &ConfigView::Services, ConfigFormat::Yaml).expect("shown"),
            "c\na\nb\n"
        );
        assert_eq!(show(ConfigView::Volumes), "data\n");
        assert_eq!(show(ConfigView::Networks), "");
        assert_eq!(show(ConfigView::Images), "nginx\np-b\n");
        assert_eq!(show(ConfigView::Profiles), "dev\n");
        assert_eq!(show(ConfigView::Environment), "A=1\nB=2\n");
        assert_eq!(show(ConfigView::Quiet), "");
        // the hash docker compose v5.3.1 computes for {image: b} (checked against the oracle)
        let b = loaded(
            json!({"services": {"b": {"command": null, "entrypoint": null, "image": "b", "networks": {"default": null}, "profiles": ["p"]}}}),
        );
        assert_eq!(
            show_hash(&b, "*"),
            "b e08bee784ab58c98ddd7d757763a741d7d095c5eef16ef3f0fd89a604eb7275c\n"
        );
        let err = hashes(&b, "nope").expect_err("unknown");
        assert_eq!(err.message, "no such service: nope: not found");
    }

    #[test]
    fn variables_are_a_table_of_their_operators() {
        let l = loaded(
            json!({"services": {"a": {"image": "${IMAGE:-nginx}", "environment": {"K": "${K?} ${ALT:+yes}"}}}}),
        );
        let table = show(&l, &ConfigView::Variables, ConfigFormat::Yaml).expect("table");
        let pad = |s: &str| format!("{s:<20}");
        let row = |cells: [&str; 4]| {
            format!(
                "{}{}{}{}\n",
                pad(cells[0]),
                pad(cells[1]),
                pad(cells[2]),
                cells[3]
            )
        };
        assert_eq!(
            table,
            [
                row(["NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"]),
                row(["IMAGE", "false", "nginx", ""]),
                row(["K", "true", "", ""]),
                row(["ALT", "false", "", "yes"]),
            ]
            .concat()
        );
    }

    fn show_hash(l: &Loaded, which: &str) -> String {
        show(l, &ConfigView::Hash(which.into()), ConfigFormat::Yaml).expect("hashes")
    }
}
