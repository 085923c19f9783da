//! `attach` and `exec` over websocket: channels 0 stdin, 1 stdout, 2 stderr, 3 error/status,
//! 4 resize; v5 adds the `[255, channel]` close signal (stdin EOF).
//!
//! Wire behaviour, as the API server (v5 is translated there, 1.30+) and kubelet produce it:
//! - After the 101, the first writable channel (stdout, else stderr, else error) gets an empty
//!   frame: the "connection is ready" signal.
//! - attach sees only output produced after it connected; it ends with
//!   `{"metadata":{},"status":"Success"}` on channel 3 (never an exit code) when the container
//!   exits, or when its stdin ends unless the container has `stdinOnce` and no TTY (then the
//!   container's stdin is closed and output goes on until it exits).
//! - exec ends with `Success`, or `Failure`/`NonZeroExitCode` with
//!   `details.causes[{reason: ExitCode, message: "N"}]`, or an `InternalError` when the command
//!   cannot start; the status frame is always the last frame before the close, which is a
//!   normal (1000) close. Messages are the kubelet's for v4 and the API server's stream
//!   translator's for v5 (it re-wraps them: `command terminated with non-zero exit code:
//!   command terminated with exit code 3`); clients should read `details.causes`.
//! - A container that is not running: v5 gets the upgrade and then the translator's
//!   `InternalError` (`unable to upgrade connection: container not found ("web")`) on channel 3;
//!   v4 and the base protocol get that error as a 500 before the upgrade.
//! - With a TTY (the container's setting decides for attach, the request's for exec) stdout and
//!   stderr are one pty stream on channel 1; resize frames set the pty size.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;

use super::ws::{self, Socket, frame};
use super::{container_name, get_pod, require_host};
use crate::api::query::Query;
use crate::api::status::ApiError;
use crate::kubelet::{Process, Run, Stream};
use crate::sim::{Body, Sim};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

const V5: &str = "v5.channel.k8s.io";
const V4: &str = "v4.channel.k8s.io";
const BASE: &str = "channel.k8s.io";

/// Which subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pods/attach`.
    Attach,
    /// `pods/exec`.
    Exec,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Attach => "attach",
            Kind::Exec => "exec",
        }
    }
}

/// The streams a client asked for.
#[derive(Debug, Clone, Copy)]
struct Streams {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

/// What a session ends with on the error channel, as the kubelet reports it.
enum Outcome {
    /// Attach ended, or the command exited 0.
    Success,
    /// The command exited non-zero: (code, Go `%v` of the command).
    Exit(i32, String),
    /// The kubelet could not run the command (its `InternalError` text, without the prefix).
    Internal(String),
    /// The API server could not reach a running container (v5 only: the translator's error).
    Unreachable(String),
}

fn internal_error(cause: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {cause}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": cause}]},
        "code": 500,
    })
}

/// The Status on the error channel. v4 clients get the kubelet's; v5 requests go through the
/// API server's stream translator (1.30+), which re-wraps what client-go made of the kubelet's
/// Status: the exit code survives, the message is the translator's own.
fn status_json(outcome: &Outcome, protocol: &str) -> Value {
    let translated = protocol == V5;
    match outcome {
        Outcome::Success => json!({"metadata": {}, "status": "Success"}),
        Outcome::Exit(code, command) => {
            let message = if translated {
                format!(
                    "command terminated with non-zero exit code: command terminated with exit code {code}"
                )
            } else {
                format!(
                    "command terminated with non-zero exit code: error executing command {command}, exit code {code}"
                )
            };
            json!({
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            })
        }
        Outcome::Internal(cause) if translated => {
            internal_error(&format!("Internal error occurred: {cause}"))
        }
        Outcome::Internal(cause) | Outcome::Unreachable(cause) => internal_error(cause),
    }
}

/// The error channel's payload: a Status for v4/v5, plain text (nothing on success) for the
/// base protocol.
fn status_frame(protocol: &str, outcome: &Outcome) -> Option<Message> {
    if protocol == V5 || protocol == V4 {
        let body = serde_json::to_vec(&status_json(outcome, protocol)).unwrap_or_default();
        return Some(frame(ERROR, &body));
    }
    let text = status_json(outcome, protocol)["message"]
        .as_str()
        .map(str::to_owned)?;
    Some(frame(ERROR, text.as_bytes()))
}

/// Go's `%v` of a `[]string`: `[sh -c exit 3]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Checks the request like the API server and kubelet, then upgrades and runs the session.
pub fn serve(
    sim: &Arc<Sim>,
    kind: Kind,
    namespace: &str,
    name: &str,
    query: &Query,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let streams = Streams {
        stdin: query.flag("stdin")?,
        stdout: query.flag("stdout")?,
        stderr: query.flag("stderr")?,
        tty: query.flag("tty")?,
    };
    let command: Vec<String> = query
        .all("command")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let pod = get_pod(sim, namespace, name)?;
    let container = container_name(&pod, query.get("container"), false)?;
    require_host(&pod)?;
    if kind == Kind::Exec && command.is_empty() {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    if !streams.stdin && !streams.stdout && !streams.stderr {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let offered: &[&str] = match sim.faults.without_v5_streams() {
        true => &[V4, BASE],
        false => &[V5, V4, BASE],
    };
    let accepted = ws::accept(&mut req, offered)?;
    let run = sim
        .kubelet
        .run_of(namespace, name, &container, false)
        .filter(|r| !r.finished());
    let not_found = format!("unable to upgrade connection: container not found ({container:?})");
    if run.is_none() && accepted.protocol != V5 {
        return Err(ApiError::internal(not_found));
    }
    let protocol = accepted.protocol;
    let drop_after = sim.faults.stream_drop(kind.as_str(), namespace);
    let sim = sim.clone();
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    tokio::spawn(async move {
        let Some(mut socket) = ws::open(accepted.upgrade).await else {
            return;
        };
        let session = async {
            let ready = if streams.stdout {
                STDOUT
            } else if streams.stderr {
                STDERR
            } else {
                ERROR
            };
            socket.send(frame(ready, &[])).await.ok()?;
            let outcome = match (kind, run) {
                (_, None) => Outcome::Unreachable(not_found),
                (Kind::Attach, Some(run)) => attach(&mut socket, protocol, &run, streams).await?,
                (Kind::Exec, Some(_)) => {
                    let argv = command.iter().map(OsString::from).collect();
                    match sim.kubelet.exec(
                        &namespace,
                        &name,
                        &container,
                        argv,
                        streams.stdin,
                        streams.tty,
                    ) {
                        Ok((process, output)) => {
                            exec(&mut socket, protocol, &process, output, streams).await?;
                            match process.wait().await {
                                0 => Outcome::Success,
                                code => Outcome::Exit(code, go_list(&command)),
                            }
                        }
                        Err(crate::kubelet::ExecError::NotRunning(_)) => {
                            Outcome::Unreachable(not_found)
                        }
                        Err(e) => {
                            Outcome::Internal(format!("error executing command in container: {e}"))
                        }
                    }
                }
            };
            if let Some(message) = status_frame(protocol, &outcome) {
                socket.send(message).await.ok()?;
            }
            ws::finish(&mut socket).await;
            Some(())
        };
        let ended = match drop_after {
            // The fault: the connection just goes away mid-stream.
            Some(after) => match tokio::time::timeout(after, session).await {
                Ok(ended) => ended,
                Err(_) => return,
            },
            None => session.await,
        };
        if ended.is_none() {
            // The client closed first: flush tungstenite's queued close reply.
            let _ = socket.flush().await;
        }
    });
    Ok(accepted.response)
}

/// What a client frame asks for.
enum Input {
    Stdin(Bytes),
    Eof,
    Resize(u16, u16),
    Other,
}

fn parse_input(
    protocol: &str,
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Input {
    let Some(Ok(message)) = message else {
        return Input::Eof;
    };
    let data = match message {
        Message::Binary(data) => data,
        Message::Close(_) => return Input::Eof,
        _ => return Input::Other,
    };
    match data.first() {
        Some(&STDIN) => Input::Stdin(data.slice(1..)),
        Some(&RESIZE) => {
            let size: Value = serde_json::from_slice(&data[1..]).unwrap_or_default();
            let dim = |k: &str| {
                size[k]
                    .as_u64()
                    .and_then(|v| u16::try_from(v).ok())
                    .unwrap_or(0)
            };
            Input::Resize(dim("Width"), dim("Height"))
        }
        Some(&CLOSE) if protocol == V5 && data.get(1) == Some(&STDIN) => Input::Eof,
        _ => Input::Other,
    }
}

/// Sends one output chunk if the client asked for that stream.
async fn forward(
    socket: &mut Socket,
    streams: Streams,
    tty: bool,
    stream: Stream,
    chunk: &[u8],
) -> Option<()> {
    let channel = match stream {
        Stream::Stdout if streams.stdout => STDOUT,
        Stream::Stderr if streams.stderr && !tty => STDERR,
        _ => return Some(()),
    };
    socket.send(frame(channel, chunk)).await.ok()
}

/// An attach session; `None` when the client vanished.
async fn attach(
    socket: &mut Socket,
    protocol: &str,
    run: &Run,
    streams: Streams,
) -> Option<Outcome> {
    let mut output = run.subscribe();
    let stdin_wired = streams.stdin && run.stdin_open();
    let mut stdin_open = stdin_wired;
    let closed = run.log.wait_closed();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            chunk = output.recv() => match chunk {
                Ok((stream, data)) => forward(socket, streams, run.tty, stream, &data).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = &mut closed => {
                while let Ok((stream, data)) = output.try_recv() {
                    forward(socket, streams, run.tty, stream, &data).await?;
                }
                break;
            }
            message = socket.next() => {
                let vanished = message.is_none();
                match parse_input(protocol, message) {
                    Input::Stdin(data) if stdin_open => {
                        if let Some(process) = &run.process {
                            process.write_stdin(&data).await;
                        }
                    }
                    Input::Resize(w, h) if run.tty => {
                        if let Some(process) = &run.process {
                            process.resize(w, h);
                        }
                    }
                    Input::Eof if stdin_open || vanished => {
                        stdin_open = false;
                        if stdin_wired {
                            run.attach_stdin_ended().await;
                        }
                        if vanished {
                            return None;
                        }
                        if !run.stdin_once || run.tty {
                            // containerd detaches the session's output with its stdin.
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Some(Outcome::Success)
}

/// An exec session's streaming part; `None` when the client vanished.
async fn exec(
    socket: &mut Socket,
    protocol: &str,
    process: &Arc<Process>,
    mut output: mpsc::Receiver<(Stream, Bytes)>,
    streams: Streams,
) -> Option<()> {
    let mut stdin_open = streams.stdin;
    let mut client_gone = false;
    loop {
        tokio::select! {
            chunk = output.recv() => match chunk {
                Some((stream, data)) => forward(socket, streams, streams.tty, stream, &data).await?,
                None => break,
            },
            message = socket.next(), if !client_gone => {
                client_gone = message.is_none();
                match parse_input(protocol, message) {
                    Input::Stdin(data) if stdin_open => {
                        process.write_stdin(&data).await;
                    }
                    Input::Resize(w, h) if streams.tty => process.resize(w, h),
                    Input::Eof if stdin_open || client_gone => {
                        stdin_open = false;
                        process.close_stdin().await;
                    }
                    _ => {}
                }
            }
        }
    }
    // Output is complete; the exit code follows promptly.
    let _ = tokio::time::timeout(Duration::from_secs(5), process.wait()).await;
    (!client_gone).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_the_kubelet_and_the_translator() {
        assert_eq!(
            status_json(&Outcome::Success, V5).to_string(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let command = go_list(&["sh".into(), "-c".into(), "exit 3".into()]);
        let exit = Outcome::Exit(3, command);
        let v4 = status_json(&exit, V4);
        assert_eq!(v4["reason"], "NonZeroExitCode");
        assert_eq!(
            v4["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
        assert_eq!(
            v4["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        assert_eq!(
            status_json(&exit, V5)["message"],
            "command terminated with non-zero exit code: command terminated with exit code 3"
        );
        let internal = Outcome::Internal("boom".into());
        assert_eq!(
            status_json(&internal, V4)["message"],
            "Internal error occurred: boom"
        );
        assert_eq!(
            status_json(&internal, V5)["message"],
            "Internal error occurred: Internal error occurred: boom"
        );
        assert!(status_frame(BASE, &Outcome::Success).is_none());
    }
}
