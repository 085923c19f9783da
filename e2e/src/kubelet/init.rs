//! A container's PID namespace, entered between `fork` and `exec`: the process that `std`
//! forked unshares (or joins) the namespace and forks once more; the grandchild becomes the
//! namespace's PID 1 (or a process inside it, for exec) and goes on to `exec`, while the middle
//! process stays behind as a tiny shim, like containerd's shim: it forwards signals to the
//! grandchild and exits with its status.
//!
//! This gives the container real PID-1 semantics: a SIGTERM to a command without a handler is
//! ignored (so deletion waits for the grace period, then SIGKILL, as on a cluster), `kill 1`
//! inside the container signals the container's command (never the host's init), and when PID 1
//! ends the kernel kills everything left in the container.
//!
//! Everything here runs in a forked child of a multi-threaded process: only async-signal-safe
//! system calls, no allocation.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// The signals a runtime may send a container; the shim passes them on to PID 1.
const FORWARDED: [Signal; 9] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGALRM,
    Signal::SIGWINCH,
];

/// The shim's grandchild, for the signal handler (one per shim process).
static INIT: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: nix::libc::c_int) {
    // SAFETY: kill(2) is async-signal-safe; the pid was stored before the handler was set.
    unsafe { nix::libc::kill(INIT.load(Ordering::SeqCst), signal) };
}

/// Forks; returns in the grandchild only (the namespace's new member). The middle process
/// never returns: it is the shim.
pub fn fork_into_namespace() -> io::Result<()> {
    // SAFETY: we are a single-threaded forked child; both sides only make async-signal-safe
    // calls until exec or _exit.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // Dies with the shim, so killing the shim kills the container. (The shim cannot
            // die unnoticed before this line: nothing signals it before the spawn returns.
            // Across the namespace boundary getppid() is 0, so it cannot be checked anyway.)
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // A container starts with every signal at its default, whatever the caller
            // ignored (a test run under nohup ignores SIGHUP, and a shell cannot trap a signal
            // ignored on entry).
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            for signal in Signal::iterator() {
                if !matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
                    // SAFETY: sigaction(2) is async-signal-safe.
                    let _ = unsafe { sigaction(signal, &default) };
                }
            }
            Ok(())
        }
        ForkResult::Parent { child } => run_shim(child),
    }
}

fn run_shim(child: Pid) -> ! {
    INIT.store(child.as_raw(), Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in FORWARDED {
        // SAFETY: the handler only calls kill(2).
        let _ = unsafe { sigaction(signal, &action) };
    }
    // Hold nothing open: not the container's stdio (its EOFs must not wait for the shim) nor
    // std's exec-error pipe (the spawner waits for its EOF).
    // SAFETY: close_range(2) only closes descriptors.
    let closed = unsafe { nix::libc::syscall(nix::libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    if closed != 0 {
        for fd in 0..4096 {
            // SAFETY: closing a descriptor number that may not be open is harmless.
            unsafe { nix::libc::close(fd) };
        }
    }
    loop {
        match waitpid(child, None) {
            // SAFETY: _exit is always safe.
            Ok(WaitStatus::Exited(_, code)) => unsafe { nix::libc::_exit(code) },
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                // Die the same way, so the runtime sees the same status (128 + signal).
                let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
                // SAFETY: restoring the default disposition.
                let _ = unsafe { sigaction(signal, &default) };
                let _ = SigSet::all().thread_unblock();
                let _ = nix::sys::signal::raise(signal);
                // SAFETY: _exit is always safe.
                unsafe { nix::libc::_exit(128 + signal as i32) };
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            // SAFETY: _exit is always safe.
            Err(_) => unsafe { nix::libc::_exit(255) },
        }
    }
}
