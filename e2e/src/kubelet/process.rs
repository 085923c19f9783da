//! Starting a container's (or an exec's) process and talking to it: stdin, a real pty for TTY
//! containers, output pumps, resize, signals and the exit code.
//!
//! The executable is looked up the way runc does (Go's `exec.LookPath` inside the container's
//! root, then `execve`), so a missing command fails before it runs, with runc's message, and a
//! file without `#!` or an ELF header is an exec-format error (no shell fallback as `execvp`
//! would do).

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc, watch};

use super::logs::Stream;
use super::rootfs::{Sandbox, join_inside};

/// The `PATH` runc assumes when the process environment has none.
const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long output may keep flowing after the process exited (from processes it left behind)
/// before the output is declared complete.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Why a process could not be started; the messages are runc's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// A bare command name not found in `$PATH`.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotInPath(String),
    /// A path that does not exist.
    #[error("exec: \"{0}\": stat {0}: no such file or directory")]
    NoSuchFile(String),
    /// A file without execute permission (or a directory).
    #[error("exec: \"{0}\": permission denied")]
    PermissionDenied(String),
    /// A file the kernel cannot execute.
    #[error("exec {0}: exec format error")]
    Format(String),
    /// Anything else (namespaces, pty, fork).
    #[error("{0}")]
    Other(String),
}

/// What to run and how.
#[derive(Debug)]
pub struct Spec {
    /// The command line; `argv[0]` as the pod spells it.
    pub argv: Vec<OsString>,
    /// The whole environment.
    pub env: Vec<(OsString, OsString)>,
    /// Whether stdin is a pipe kept for attach (else `/dev/null`).
    pub stdin: bool,
    /// Whether to run on a pty (stdout and stderr merged).
    pub tty: bool,
    /// Where to run it.
    pub sandbox: Sandbox,
    /// Whom to run it as (`securityContext`); `None` keeps root.
    pub user: Option<User>,
}

/// A process identity from `runAsUser`/`runAsGroup`/`supplementalGroups`/`fsGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `runAsUser`.
    pub uid: u32,
    /// `runAsGroup` (0 when unset, the busybox image's group).
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl User {
    /// Drops to this identity. Runs in the child between `fork` and `exec` (the group list
    /// was built before the fork).
    fn apply(&self, groups: &[nix::unistd::Gid]) -> nix::Result<()> {
        nix::unistd::setgroups(groups)?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(self.gid))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(self.uid))
    }
}

/// A running (or finished) process.
pub struct Process {
    /// Its pid on the host.
    pub pid: u32,
    stdin: Mutex<Option<Box<dyn AsyncWrite + Send + Unpin>>>,
    pty: Option<OwnedFd>,
    exit: watch::Receiver<Option<i32>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process").field("pid", &self.pid).finish()
    }
}

/// runc's lookup of `name` inside `root` (the host's `/` when `None`) with `path_var`.
fn look_path(
    root: Option<&Path>,
    path_var: &str,
    name: &str,
    cwd: &str,
) -> Result<PathBuf, StartError> {
    let root = root.unwrap_or(Path::new("/"));
    let check = |inside: &Path| -> Result<(), io::ErrorKind> {
        let host = resolve_in_root(root, inside).ok_or(io::ErrorKind::NotFound)?;
        let meta = std::fs::metadata(host).map_err(|e| e.kind())?;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Err(io::ErrorKind::PermissionDenied);
        }
        Ok(())
    };
    if name.contains('/') {
        let inside = if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            Path::new(cwd).join(name)
        };
        return match check(&inside) {
            Ok(()) => Ok(inside),
            Err(io::ErrorKind::PermissionDenied) => {
                Err(StartError::PermissionDenied(name.to_owned()))
            }
            Err(_) => Err(StartError::NoSuchFile(name.to_owned())),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let inside = Path::new(cwd).join(dir).join(name);
        if check(&inside).is_ok() {
            return Ok(inside);
        }
    }
    Err(StartError::NotInPath(name.to_owned()))
}

/// Follows `inside` (absolute, in the container) to a host path, resolving symlinks relative to
/// `root` as the kernel would after `chroot`.
fn resolve_in_root(root: &Path, inside: &Path) -> Option<PathBuf> {
    let mut current = root.to_path_buf();
    let mut pending: Vec<OsString> = inside
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_bytes() {
            b"/" | b"." | b"" => continue,
            b".." => {
                if current != root {
                    current.pop();
                }
                continue;
            }
            _ => {}
        }
        let next = current.join(&part);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = std::fs::read_link(&next).ok()?;
                if target.is_absolute() {
                    current = root.to_path_buf();
                }
                pending.extend(target.components().rev().map(|c| c.as_os_str().to_owned()));
            }
            Ok(_) => current = next,
            Err(_) => return None,
        }
    }
    Some(current)
}

/// Whether the kernel would run the file at `host` (a `#!` script or an ELF binary).
fn executable_format(host: &Path) -> bool {
    let mut head = [0u8; 4];
    match std::fs::File::open(host).and_then(|mut f| io::Read::read(&mut f, &mut head)) {
        Ok(n) if n >= 2 && &head[..2] == b"#!" => true,
        Ok(4) => &head == b"\x7fELF",
        _ => false,
    }
}

fn env_value<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k.as_bytes() == name.as_bytes())
        .and_then(|(_, v)| v.to_str())
}

/// Starts `spec`, sending its output to `output` (stdout and stderr separately, or the pty's
/// output as stdout). The sender is dropped once the output is complete.
pub fn spawn(
    spec: Spec,
    workdir: &str,
    output: mpsc::Sender<(Stream, Bytes)>,
) -> Result<Arc<Process>, StartError> {
    let Some(argv0) = spec.argv.first().cloned() else {
        return Err(StartError::Other("no command specified".to_owned()));
    };
    let name = argv0.to_string_lossy().into_owned();
    let root = spec.sandbox.lookup_root();
    let path_var = env_value(&spec.env, "PATH").unwrap_or(FALLBACK_PATH);
    let inside = look_path(root.as_deref(), path_var, &name, workdir)?;
    let host_path = match &root {
        Some(root) => resolve_in_root(root, &inside)
            .unwrap_or_else(|| join_inside(root, &inside.to_string_lossy())),
        None => inside.clone(),
    };
    if !executable_format(&host_path) {
        return Err(StartError::Format(inside.display().to_string()));
    }

    let mut command = tokio::process::Command::new(&inside);
    command
        .arg0(&argv0)
        .args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(false);
    let pty = if spec.tty {
        let pair = nix::pty::openpty(None, None)
            .map_err(|e| StartError::Other(format!("openpty: {e}")))?;
        let slave = pair.slave;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|e| StartError::Other(format!("dup: {e}")))
        };
        command
            .stdin(Stdio::from(dup(&slave)?))
            .stdout(Stdio::from(dup(&slave)?))
            .stderr(Stdio::from(slave));
        Some(pair.master)
    } else {
        command
            .stdin(if spec.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        None
    };
    let tty = spec.tty;
    let sandbox = spec.sandbox;
    let user = spec.user;
    let groups: Vec<nix::unistd::Gid> = user
        .iter()
        .flat_map(|u| u.groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)))
        .collect();
    // SAFETY: the closure only makes async-signal-safe system calls on data prepared before
    // fork (see `Sandbox::enter`); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            sandbox.enter(tty)?;
            if let Some(user) = &user {
                user.apply(&groups)?;
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| match e.raw_os_error() {
        Some(nix::libc::ENOENT) => StartError::NoSuchFile(name.clone()),
        Some(nix::libc::EACCES) => StartError::PermissionDenied(name.clone()),
        Some(nix::libc::ENOEXEC) => StartError::Format(inside.display().to_string()),
        _ => StartError::Other(e.to_string()),
    })?;
    drop(command);
    let pid = child.id().unwrap_or(0);

    let mut pumps = tokio::task::JoinSet::new();
    let stdin: Option<Box<dyn AsyncWrite + Send + Unpin>> = match &pty {
        Some(master) => {
            let reader = master
                .try_clone()
                .map_err(|e| StartError::Other(format!("dup: {e}")))?;
            let writer = master
                .try_clone()
                .map_err(|e| StartError::Other(format!("dup: {e}")))?;
            pumps.spawn(pump(
                tokio::fs::File::from_std(std::fs::File::from(reader)),
                Stream::Stdout,
                output.clone(),
            ));
            Some(Box::new(tokio::fs::File::from_std(std::fs::File::from(
                writer,
            ))))
        }
        None => {
            if let Some(out) = child.stdout.take() {
                pumps.spawn(pump(out, Stream::Stdout, output.clone()));
            }
            if let Some(err) = child.stderr.take() {
                pumps.spawn(pump(err, Stream::Stderr, output.clone()));
            }
            child
                .stdin
                .take()
                .map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>)
        }
    };
    drop(output);
    let (exit_tx, exit) = watch::channel(None);
    tokio::spawn(async move {
        let code = match child.wait().await {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .unwrap_or(255)
            }
            Err(_) => 255,
        };
        // The container's init died: like the kernel for a PID namespace, kill the rest.
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        let _ = tokio::time::timeout(DRAIN_LIMIT, async {
            while pumps.join_next().await.is_some() {}
        })
        .await;
        pumps.abort_all();
        let _ = exit_tx.send(Some(code));
    });
    Ok(Arc::new(Process {
        pid,
        stdin: Mutex::new(stdin),
        pty,
        exit,
    }))
}

async fn pump(
    mut reader: impl AsyncRead + Unpin,
    stream: Stream,
    output: mpsc::Sender<(Stream, Bytes)>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if output
                    .send((stream, Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
}

impl Process {
    /// Writes to the process's stdin; false once stdin is closed (or was never open).
    pub async fn write_stdin(&self, data: &[u8]) -> bool {
        let mut stdin = self.stdin.lock().await;
        let Some(writer) = stdin.as_mut() else {
            return false;
        };
        if writer.write_all(data).await.is_err() || writer.flush().await.is_err() {
            *stdin = None;
            return false;
        }
        true
    }

    /// Closes stdin: the process reads EOF (for a pty: nothing happens to the terminal).
    pub async fn close_stdin(&self) {
        if let Some(mut writer) = self.stdin.lock().await.take() {
            let _ = writer.shutdown().await;
        }
    }

    /// Sets the pty's window size (the process gets SIGWINCH); no-op without a TTY.
    pub fn resize(&self, width: u16, height: u16) {
        if let Some(master) = &self.pty {
            let size = nix::pty::Winsize {
                ws_row: height,
                ws_col: width,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer; the fd is ours.
            unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCSWINSZ, &size) };
        }
    }

    /// Sends `signal` to the process itself (as a runtime signals a container's init).
    pub fn signal(&self, signal: Signal) {
        if self.exit_code().is_none() {
            let _ = kill(Pid::from_raw(self.pid as i32), signal);
        }
    }

    /// Kills the process and everything in its process group.
    pub fn kill_all(&self) {
        if self.exit_code().is_none() {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        }
    }

    /// The exit code (128+signal when killed), once the process ended and its output is in.
    pub fn exit_code(&self) -> Option<i32> {
        *self.exit.borrow()
    }

    /// Waits for [`Process::exit_code`].
    pub async fn wait(&self) -> i32 {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(code) => code.unwrap_or(255),
            Err(_) => 255,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_follows_runc() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/busybox"), b"\x7fELF").unwrap();
        std::fs::set_permissions(
            root.join("bin/busybox"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", root.join("bin/abs")).unwrap();
        std::fs::write(root.join("plain"), b"data").unwrap();
        let path = "/usr/bin:/bin";
        assert_eq!(
            look_path(Some(root), path, "sh", "/").unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(
            look_path(Some(root), path, "abs", "/").unwrap(),
            PathBuf::from("/bin/abs")
        );
        assert_eq!(
            look_path(Some(root), path, "nope", "/")
                .unwrap_err()
                .to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(
            look_path(Some(root), path, "/nope", "/")
                .unwrap_err()
                .to_string(),
            "exec: \"/nope\": stat /nope: no such file or directory"
        );
        assert_eq!(
            look_path(Some(root), path, "/plain", "/").unwrap_err(),
            StartError::PermissionDenied("/plain".into())
        );
        assert!(executable_format(&root.join("bin/busybox")));
        assert!(!executable_format(&root.join("plain")));
    }

    /// `sh -c script` on the host, with stdin, optionally on a pty.
    fn host_shell(script: &str, tty: bool) -> (Arc<Process>, mpsc::Receiver<(Stream, Bytes)>) {
        let (tx, rx) = mpsc::channel(16);
        let spec = Spec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            stdin: true,
            tty,
            sandbox: Sandbox::Host {
                workdir: c"/".into(),
                pid: crate::kubelet::rootfs::HostPid::Shared,
            },
            user: None,
        };
        (spawn(spec, "/", tx).unwrap(), rx)
    }

    #[tokio::test]
    async fn host_process_runs_with_stdin_and_exit_code() {
        let (process, mut rx) = host_shell("cat; echo err >&2; exit 3", false);
        assert!(process.write_stdin(b"hello\n").await);
        process.close_stdin().await;
        let code = tokio::time::timeout(Duration::from_secs(10), process.wait())
            .await
            .unwrap();
        assert_eq!(code, 3);
        let mut got = Vec::new();
        while let Some(item) = rx.recv().await {
            got.push(item);
        }
        assert!(got.contains(&(Stream::Stdout, Bytes::from_static(b"hello\n"))));
        assert!(got.contains(&(Stream::Stderr, Bytes::from_static(b"err\n"))));
    }

    #[tokio::test]
    async fn tty_process_sees_its_window_size() {
        let (process, mut rx) = host_shell("read x; stty size", true);
        process.resize(100, 40);
        assert!(process.write_stdin(b"go\n").await);
        let code = tokio::time::timeout(Duration::from_secs(10), process.wait())
            .await
            .unwrap();
        assert_eq!(code, 0);
        let mut out = Vec::new();
        while let Some((_, chunk)) = rx.recv().await {
            out.extend_from_slice(&chunk);
        }
        assert!(String::from_utf8_lossy(&out).contains("40 100"), "{out:?}");
    }
}
