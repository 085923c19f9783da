//! The content tag of an image: a hash of everything that goes into the build — the context's
//! files as the builder sees them (after `.dockerignore`), the Dockerfile, args, target,
//! labels, platforms and extra contexts. Same inputs, same tag: an image the cluster already
//! has under it is neither rebuilt nor pushed again.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ring::digest::{Context, SHA256};

use super::BuildError;
use super::dockerignore::DockerIgnore;
use super::spec::BuildSpec;

/// Hex characters of the hash kept in the tag.
const TAG_HEX: usize = 20;

/// The tag for `spec`'s image: `krun-<hash>`.
pub fn tag(service: &str, spec: &BuildSpec) -> Result<String, BuildError> {
    let mut h = Context::new(&SHA256);
    let fail = |path: &Path, e: io::Error| BuildError::Context {
        service: service.to_string(),
        path: path.to_path_buf(),
        source: e,
    };
    // A local context counts by its content, not by where the checkout lives.
    if spec.is_remote() {
        field(&mut h, "context", spec.context.as_bytes());
    } else {
        let root = PathBuf::from(&spec.context);
        let ignore = ignore_file(spec)
            .map(|p| fs::read_to_string(&p).map_err(|e| fail(&p, e)))
            .transpose()?
            .map(|t| DockerIgnore::parse(&t))
            .unwrap_or_default();
        tree(&mut h, &root, &root, &ignore).map_err(|(p, e)| fail(&p, e))?;
    }
    match (&spec.dockerfile_inline, spec.dockerfile_path()) {
        (Some(text), _) => field(&mut h, "dockerfile_inline", text.as_bytes()),
        (None, Some(path)) => {
            let text = fs::read(&path).map_err(|e| fail(&path, e))?;
            field(&mut h, "dockerfile", &text);
        }
        (None, None) => field(
            &mut h,
            "dockerfile",
            spec.dockerfile.as_deref().unwrap_or("").as_bytes(),
        ),
    }
    for (k, v) in &spec.args {
        if let Some(v) = v {
            field(&mut h, "arg", format!("{k}={v}").as_bytes());
        }
    }
    for (k, v) in &spec.labels {
        field(&mut h, "label", format!("{k}={v}").as_bytes());
    }
    field(
        &mut h,
        "target",
        spec.target.as_deref().unwrap_or("").as_bytes(),
    );
    for p in &spec.platforms {
        field(&mut h, "platform", p.as_bytes());
    }
    for (name, location) in &spec.additional_contexts {
        field(&mut h, "additional_context", name.as_bytes());
        let dir = Path::new(location);
        if dir.is_dir() {
            tree(&mut h, dir, dir, &DockerIgnore::default()).map_err(|(p, e)| fail(&p, e))?;
        } else {
            field(&mut h, "location", location.as_bytes());
        }
    }
    let hex: String = h
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("krun-{}", &hex[..TAG_HEX]))
}

/// The `.dockerignore` that applies: `<Dockerfile>.dockerignore` beside the Dockerfile
/// (BuildKit), else the context's own.
fn ignore_file(spec: &BuildSpec) -> Option<PathBuf> {
    let beside = spec.dockerfile_path().map(|p| {
        let mut name = p.file_name().unwrap_or_default().to_os_string();
        name.push(".dockerignore");
        p.with_file_name(name)
    });
    beside
        .into_iter()
        .chain([Path::new(&spec.context).join(".dockerignore")])
        .find(|p| p.is_file())
}

/// One length-prefixed record, so that no two different inputs hash alike.
fn field(h: &mut Context, name: &str, value: &[u8]) {
    h.update(name.as_bytes());
    h.update(&(value.len() as u64).to_le_bytes());
    h.update(value);
}

/// Hashes `dir` below `root` in name order: each entry's relative path, kind, executable bit
/// and content (a symlink's target), skipping what `ignore` excludes.
fn tree(
    h: &mut Context,
    root: &Path,
    dir: &Path,
    ignore: &DockerIgnore,
) -> Result<(), (PathBuf, io::Error)> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| (dir.to_path_buf(), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| (dir.to_path_buf(), e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        if ignore.excludes(&rel) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(|e| (path.clone(), e))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(|e| (path.clone(), e))?;
            field(h, "symlink", rel.as_bytes());
            field(h, "target", target.to_string_lossy().as_bytes());
        } else if meta.is_dir() {
            field(h, "dir", rel.as_bytes());
            tree(h, root, &path, ignore)?;
        } else {
            let executable = meta.permissions().mode() & 0o111 != 0;
            field(h, if executable { "exe" } else { "file" }, rel.as_bytes());
            let bytes = fs::read(&path).map_err(|e| (path.clone(), e))?;
            field(h, "content", &bytes);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path) -> BuildSpec {
        BuildSpec {
            context: dir.display().to_string(),
            ..BuildSpec::default()
        }
    }

    #[test]
    fn the_tag_follows_what_the_builder_sees() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("Dockerfile"), "FROM busybox:1.36\n").unwrap();
        fs::write(d.join("app.sh"), "echo 1\n").unwrap();
        fs::write(d.join(".dockerignore"), "*.log\n").unwrap();
        let first = tag("web", &spec(d)).unwrap();
        assert!(
            first.starts_with("krun-") && first.len() == 5 + TAG_HEX,
            "{first}"
        );
        assert_eq!(tag("web", &spec(d)).unwrap(), first, "stable");
        fs::write(d.join("debug.log"), "noise").unwrap();
        assert_eq!(
            tag("web", &spec(d)).unwrap(),
            first,
            "ignored files do not count"
        );
        fs::write(d.join("app.sh"), "echo 2\n").unwrap();
        let changed = tag("web", &spec(d)).unwrap();
        assert_ne!(changed, first, "a source change changes the tag");
        let mut with_arg = spec(d);
        with_arg.args.insert("V".into(), Some("1".into()));
        assert_ne!(tag("web", &with_arg).unwrap(), changed, "args count");
        with_arg.args.insert("V".into(), None);
        assert_eq!(tag("web", &with_arg).unwrap(), changed, "unset args do not");
        let mut inline = spec(d);
        inline.dockerfile_inline = Some("FROM alpine:3\n".into());
        assert_ne!(tag("web", &inline).unwrap(), changed);
        fs::remove_file(d.join("Dockerfile")).unwrap();
        assert!(matches!(
            tag("web", &spec(d)),
            Err(BuildError::Context { .. })
        ));
    }
}
