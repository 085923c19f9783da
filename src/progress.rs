//! Progress on stderr, rendered in one place: a spinner line on a terminal, plain lines
//! otherwise, nothing with `-q` / `COMPOSE_PROGRESS=quiet`; `--quiet-pull` drops pull lines.
//! Warnings are not progress and are always shown.

use std::io::Write;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

const FRAMES: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const TICK: Duration = Duration::from_millis(100);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing.
    Quiet,
    /// One line per step.
    Plain,
    /// A redrawn spinner line (stderr is a terminal).
    Spinner,
}

impl Mode {
    /// compose's choice: `-q` or `COMPOSE_PROGRESS=quiet` silence it, `plain` forces lines,
    /// `tty` forces the spinner, `auto` (or unset) picks the spinner on a terminal.
    pub fn decide(compose_progress: Option<&str>, quiet: bool, stderr_is_terminal: bool) -> Mode {
        match compose_progress.map(str::to_ascii_lowercase).as_deref() {
            _ if quiet => Mode::Quiet,
            Some("quiet") => Mode::Quiet,
            Some("plain") | Some("json") => Mode::Plain,
            Some("tty") => Mode::Spinner,
            _ if stderr_is_terminal => Mode::Spinner,
            _ => Mode::Plain,
        }
    }
}

#[derive(Default)]
struct Line {
    subject: String,
    status: String,
    frame: usize,
    shown: bool,
}

/// The progress sink of one krun invocation.
pub struct Progress {
    mode: Mode,
    quiet_pull: bool,
    line: Mutex<Line>,
}

impl Progress {
    /// A sink in `mode`; in spinner mode a ticker redraws the line until it is dropped.
    pub fn new(mode: Mode, quiet_pull: bool) -> Arc<Progress> {
        let p = Arc::new(Progress {
            mode,
            quiet_pull,
            line: Mutex::new(Line::default()),
        });
        if mode == Mode::Spinner && tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(tick(Arc::downgrade(&p)));
        }
        p
    }

    /// Whether progress is silenced (`-q`): messages meant for humans are skipped too.
    pub fn is_quiet(&self) -> bool {
        self.mode == Mode::Quiet
    }

    /// A step in progress, e.g. (`pod web-run-1`, `Scheduled`).
    pub fn step(&self, subject: &str, status: &str) {
        let mut line = self.lock();
        if line.subject == subject && line.status == status {
            return;
        }
        line.subject = subject.to_string();
        line.status = status.to_string();
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => eprintln!("{subject}  {status}"),
            Mode::Spinner => draw(&mut line),
        }
    }

    /// An image pull step: like [`Progress::step`] unless `--quiet-pull`.
    pub fn pull(&self, subject: &str, image: &str) {
        if !self.quiet_pull {
            self.step(subject, &format!("Pulling image {image}"));
        }
    }

    /// A finished step, e.g. (`Deployment db`, `Created`): a final line with a check mark.
    pub fn done(&self, subject: &str, status: &str) {
        let mut line = self.lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                if !(line.subject == subject && line.status == status) {
                    eprintln!("{subject}  {status}");
                }
            }
            Mode::Spinner => {
                eprint!("\r\x1b[2K ✔ {subject}  {status}\n");
            }
        }
        *line = Line::default();
    }

    /// Clears a pending spinner line, before the terminal is handed to the container.
    pub fn clear(&self) {
        let mut line = self.lock();
        if self.mode == Mode::Spinner && line.shown {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
        *line = Line::default();
    }

    /// A warning: always printed.
    pub fn warn(&self, message: &str) {
        self.clear();
        eprintln!("WARN {message}");
    }

    /// An informational line the user needs even in quiet mode (a chosen port).
    pub fn notice(&self, message: &str) {
        self.clear();
        eprintln!("{message}");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn draw(line: &mut Line) {
    if line.subject.is_empty() {
        return;
    }
    line.frame = (line.frame + 1) % FRAMES.len();
    line.shown = true;
    eprint!(
        "\r\x1b[2K {} {}  {}",
        FRAMES[line.frame], line.subject, line.status
    );
    let _ = std::io::stderr().flush();
}

async fn tick(progress: Weak<Progress>) {
    loop {
        tokio::time::sleep(TICK).await;
        let Some(p) = progress.upgrade() else { return };
        let mut line = p.lock();
        draw(&mut line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_follows_compose_progress_and_quiet() {
        assert_eq!(Mode::decide(None, true, true), Mode::Quiet);
        assert_eq!(Mode::decide(Some("quiet"), false, true), Mode::Quiet);
        assert_eq!(Mode::decide(Some("plain"), false, true), Mode::Plain);
        assert_eq!(Mode::decide(Some("tty"), false, false), Mode::Spinner);
        assert_eq!(Mode::decide(None, false, true), Mode::Spinner);
        assert_eq!(Mode::decide(Some("auto"), false, false), Mode::Plain);
    }
}
