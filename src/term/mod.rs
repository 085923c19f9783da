//! The local terminal: raw mode that is restored on every exit path (drop and panic), the
//! terminal size, and SIGWINCH.

use std::sync::Once;

static PANIC_HOOK: Once = Once::new();

/// Raw mode for the lifetime of the guard; restored on drop and, should krun panic, by a
/// panic hook installed with the first guard.
pub struct RawMode(());

impl RawMode {
    /// Puts the terminal in raw mode (bytes such as Ctrl-C go to the container).
    pub fn enable() -> std::io::Result<RawMode> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = crossterm::terminal::disable_raw_mode();
                previous(info);
            }));
        });
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// The terminal's (columns, rows), if stdout is a terminal.
pub fn size() -> Option<(u16, u16)> {
    crossterm::terminal::size()
        .ok()
        .filter(|(w, h)| *w > 0 && *h > 0)
}

/// SIGWINCH notifications.
pub fn resizes() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
}
