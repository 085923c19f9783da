//! SIGINT, SIGTERM and SIGHUP as one stream, so every phase of a run can react to them (and
//! none kills krun before its cleanup ran).

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::error::ClusterError;

/// A signal krun handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// Ctrl-C.
    Int,
    /// `kill`, CI timeouts.
    Term,
    /// The terminal went away.
    Hup,
}

impl Sig {
    /// The name `kill -s` takes.
    pub fn name(self) -> &'static str {
        match self {
            Sig::Int => "INT",
            Sig::Term => "TERM",
            Sig::Hup => "HUP",
        }
    }
}

/// The handled signals; installing them replaces the default "terminate" action.
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> Result<Signals, ClusterError> {
        let make =
            |kind| signal(kind).map_err(|e| ClusterError::local("installing signal handlers", e));
        Ok(Signals {
            int: make(SignalKind::interrupt())?,
            term: make(SignalKind::terminate())?,
            hup: make(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Sig {
        tokio::select! {
            _ = self.int.recv() => Sig::Int,
            _ = self.term.recv() => Sig::Term,
            _ = self.hup.recv() => Sig::Hup,
        }
    }
}
