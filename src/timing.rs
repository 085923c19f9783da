//! A per-phase timing trace, for finding where a run's time goes before changing code:
//! `KRUN_TIMING=1` prints each phase's end on stderr, in milliseconds since the process
//! started. Off (the default), a mark costs one atomic read.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Option<Instant>> = OnceLock::new();

/// Starts the clock; `enabled` is the value of `KRUN_TIMING` (on unless empty or `0`).
pub fn start(enabled: Option<&std::ffi::OsStr>) {
    let on = enabled.is_some_and(|v| !v.is_empty() && v != "0");
    START.get_or_init(|| on.then(Instant::now));
}

/// Records that `phase` just ended.
pub fn mark(phase: &str) {
    if let Some(Some(t0)) = START.get() {
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        eprintln!("krun timing: {ms:8.1} ms  {phase}");
    }
}
