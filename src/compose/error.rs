//! The loader's one error type: compose's own message text, plus the file and line it concerns.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, coarsely: lets callers pick an exit code or a hint without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file, directory or env file that should exist does not (or cannot be read).
    NotFound,
    /// The YAML could not be parsed.
    Syntax,
    /// A value, template or file content breaks compose's rules.
    Invalid,
    /// A service named on the command line (or needed by it) does not exist.
    NoSuchService,
}

/// A loading failure whose text contains docker compose's message, so users can search for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// Coarse category, for exit codes and hints.
    pub kind: ErrorKind,
    /// Compose's message (exact text where compose has one).
    pub message: String,
    /// The file the error is about, when there is one.
    pub file: Option<PathBuf>,
    /// The 1-based line in `file`, when known.
    pub line: Option<usize>,
    /// The dotted compose path the error is about (`services.web.ports`), used to find the
    /// file and line once the model has been merged.
    pub path: Option<String>,
}

impl LoadError {
    /// An `Invalid` error not (yet) tied to a file.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// An error of the given kind not (yet) tied to a file.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        LoadError {
            kind,
            message: message.into(),
            file: None,
            line: None,
            path: None,
        }
    }

    /// Ties the error to a file, keeping a file set earlier (the innermost one is the most precise).
    #[must_use]
    pub fn in_file(mut self, file: &Path) -> Self {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
        }
        self
    }

    /// Records the compose path the error concerns, keeping a path set earlier.
    #[must_use]
    pub fn at_path(mut self, path: impl Into<String>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.into());
        }
        self
    }

    /// Records the line, keeping a line set earlier.
    #[must_use]
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        if self.line.is_none() {
            self.line = line;
        }
        self
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), line) => {
                let shown = file.display().to_string();
                let line = line.map(|l| format!(":{l}")).unwrap_or_default();
                if self.message.contains(&shown) {
                    match self.line {
                        Some(l) if !self.message.contains(&format!("line {l}")) => {
                            write!(f, "{} (line {l})", self.message)
                        }
                        _ => f.write_str(&self.message),
                    }
                } else {
                    write!(f, "{shown}{line}: {}", self.message)
                }
            }
            (None, _) => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prefixes_file_and_line_once() {
        let e = LoadError::invalid("boom")
            .in_file(Path::new("/p/compose.yaml"))
            .at_line(Some(3));
        assert_eq!(e.to_string(), "/p/compose.yaml:3: boom");
        let e = LoadError::invalid("validating /p/compose.yaml: x")
            .in_file(Path::new("/p/compose.yaml"));
        assert_eq!(e.to_string(), "validating /p/compose.yaml: x");
        let e = LoadError::invalid("x")
            .in_file(Path::new("/a"))
            .in_file(Path::new("/b"));
        assert_eq!(e.file.as_deref(), Some(Path::new("/a")));
    }
}
