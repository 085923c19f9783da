//! `GET pods/{name}/log`: a container's log as the API server and kubelet serve it.
//!
//! Parameters: `container`, `follow`, `previous`, `timestamps` (RFC 3339 with nanoseconds before
//! each line), `sinceSeconds`/`sinceTime`, `tailLines`, `limitBytes`. A container that has not
//! started gets the kubelet's 400 (`container "x" in pod "y" is waiting to start:
//! ContainerCreating`); an unscheduled pod gets an empty 200, as from the API server. With
//! `follow`, the body stays open until the container's output is complete (it exited). The
//! `stream` parameter (alpha `PodLogsQuerySplitStreams`, off by default) is refused with 422.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use super::{container_name, get_pod};
use crate::api::query::Query;
use crate::api::status::{ApiError, Cause, full};
use crate::kubelet::{LogLine, Run};
use crate::sim::{Body, Sim};
use crate::store::str_at;

/// The options of one log request.
#[derive(Debug, Default)]
struct Options {
    follow: bool,
    previous: bool,
    timestamps: bool,
    since: Option<jiff::Timestamp>,
    tail: Option<usize>,
    limit: Option<u64>,
}

fn parse(query: &Query, pod: &str) -> Result<Options, ApiError> {
    let mut causes = Vec::new();
    let mut invalid = |field: &str, value: i64, why: &str| {
        causes.push(Cause {
            reason: "FieldValueInvalid",
            field: field.to_owned(),
            message: format!("Invalid value: {value}: {why}"),
        });
    };
    let since_seconds = query.int("sinceSeconds")?;
    let tail = query.int("tailLines")?;
    let limit = query.int("limitBytes")?;
    if let Some(s) = since_seconds.filter(|s| *s < 1) {
        invalid("sinceSeconds", s, "must be greater than 0");
    }
    if let Some(t) = tail.filter(|t| *t < 0) {
        invalid("tailLines", t, "must be greater than or equal to 0");
    }
    if let Some(l) = limit.filter(|l| *l < 1) {
        invalid("limitBytes", l, "must be greater than 0");
    }
    let since_time = query.get("sinceTime").filter(|t| !t.is_empty());
    if since_seconds.is_some() && since_time.is_some() {
        causes.push(Cause {
            reason: "FieldValueForbidden",
            field: String::new(),
            message: "at most one of `sinceTime` or `sinceSeconds` may be specified".to_owned(),
        });
    }
    if query.get("stream").is_some() {
        causes.push(Cause {
            reason: "FieldValueForbidden",
            field: "stream".to_owned(),
            message: "Forbidden: may not be specified".to_owned(),
        });
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("", "PodLogOptions", pod, &causes));
    }
    let since = match (since_seconds, since_time) {
        (Some(s), _) => jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(s))
            .ok(),
        (None, Some(t)) => Some(
            t.parse::<jiff::Timestamp>()
                .map_err(|e| ApiError::bad_request(format!("invalid sinceTime {t:?}: {e}")))?,
        ),
        (None, None) => None,
    };
    Ok(Options {
        follow: query.flag("follow")?,
        previous: query.flag("previous")?,
        timestamps: query.flag("timestamps")?,
        since,
        tail: tail.map(|t| usize::try_from(t).unwrap_or(0)),
        limit: limit.map(|l| u64::try_from(l).unwrap_or(0)),
    })
}

/// The kubelet's `validateContainerLogStatus`: `Err` with its 400 text when there is no log.
fn check_status(pod: &Value, container: &str, previous: bool) -> Result<(), ApiError> {
    let name = str_at(pod, "/metadata/name");
    let statuses = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|f| pod["status"][*f].as_array().cloned().unwrap_or_default());
    let status = statuses.into_iter().find(|s| s["name"] == container);
    let fail = |what: String| {
        Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" {what}"
        )))
    };
    let Some(status) = status else {
        return fail("is not available".to_owned());
    };
    let last_terminated = status["lastState"]["terminated"].is_object();
    let state = &status["state"];
    if previous {
        if !last_terminated {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        return Ok(());
    }
    if state["running"].is_object() || state["terminated"].is_object() || last_terminated {
        return Ok(());
    }
    match state["waiting"]["reason"].as_str() {
        Some("ErrImagePull") => fail("is waiting to start: image can't be pulled".to_owned()),
        Some("ImagePullBackOff") => {
            fail("is waiting to start: trying and failing to pull image".to_owned())
        }
        Some(reason) => fail(format!("is waiting to start: {reason}")),
        None => fail("is waiting to start - no logs yet".to_owned()),
    }
}

/// Go's `time.RFC3339Nano`: nanoseconds with trailing zeros trimmed.
fn rfc3339_nano(t: jiff::Timestamp) -> String {
    let base = t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.subsec_nanosecond();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Renders lines for the wire, honouring `timestamps` and the remaining byte budget.
fn render(lines: &[LogLine], options: &Options, budget: &mut Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        if options.since.is_some_and(|since| line.time < since) {
            continue;
        }
        if options.timestamps {
            out.extend_from_slice(rfc3339_nano(line.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&line.data);
    }
    if let Some(left) = budget {
        let keep = out.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
        out.truncate(keep);
        *left -= keep as u64;
    }
    out
}

/// Serves one log request.
pub async fn serve(
    sim: &Arc<Sim>,
    namespace: &str,
    name: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let options = parse(query, name)?;
    let pod = get_pod(sim, namespace, name)?;
    let container = container_name(&pod, query.get("container"), true)?;
    if str_at(&pod, "/spec/nodeName").is_empty() {
        return Ok(text_response(full(Bytes::new())));
    }
    check_status(&pod, &container, options.previous)?;
    let Some(run) = sim
        .kubelet
        .run_of(namespace, name, &container, options.previous)
    else {
        return Ok(text_response(full(Bytes::new())));
    };
    let drop_after = sim.faults.stream_drop("log", namespace);
    Ok(text_response(stream(run, options, drop_after)))
}

fn text_response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The body: what is there now (tail applied), then, with `follow`, every new line until the
/// log closes; a stream-drop fault ends it with an error (the connection is cut).
fn stream(run: Arc<Run>, options: Options, drop_after: Option<std::time::Duration>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let deadline = drop_after.map(|d| tokio::time::Instant::now() + d);
        let mut budget = options.limit;
        let mut changed = run.log.subscribe();
        let first = run.log.read_from(0);
        let start = options
            .tail
            .map_or(0, |t| first.lines.len().saturating_sub(t));
        let mut chunk = render(&first.lines[start..], &options, &mut budget);
        let (mut next, mut closed) = (first.next, first.closed);
        loop {
            if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            if !options.follow || closed || budget == Some(0) {
                return;
            }
            let wait = changed.changed();
            let cut = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = wait => if result.is_err() { return },
                _ = cut => {
                    let _ = tx.send(Err(std::io::Error::other("stream dropped (kube-sim fault)"))).await;
                    return;
                }
            }
            let update = run.log.read_from(next);
            chunk = render(&update.lines, &options, &mut budget);
            next = update.next;
            closed = update.closed;
        }
    });
    let frames = tokio_stream_from(rx).map(|r| r.map(Frame::data));
    BodyExt::boxed(StreamBody::new(frames))
}

/// An mpsc receiver as a `Stream`.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn waiting_containers_get_the_kubelet_texts() {
        let pod = |state: Value| {
            json!({"metadata": {"name": "p"}, "status": {"containerStatuses": [
                {"name": "web", "state": state, "lastState": {}}]}})
        };
        let err = check_status(
            &pod(json!({"waiting": {"reason": "ContainerCreating"}})),
            "web",
            false,
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "container \"web\" in pod \"p\" is waiting to start: ContainerCreating"
        );
        let err = check_status(
            &pod(json!({"waiting": {"reason": "ImagePullBackOff"}})),
            "web",
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "container \"web\" in pod \"p\" is waiting to start: trying and failing to pull image"
        );
        let err = check_status(&pod(json!({"running": {}})), "web", true).unwrap_err();
        assert_eq!(
            err.message,
            "previous terminated container \"web\" in pod \"p\" not found"
        );
        assert!(check_status(&pod(json!({"running": {}})), "web", false).is_ok());
    }

    #[test]
    fn options_are_validated_like_the_api_server() {
        let err = parse(&Query::parse("tailLines=-1&stream=Stdout"), "p").unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.starts_with("PodLogOptions \"p\" is invalid: ["),
            "{}",
            err.message
        );
        assert!(parse(&Query::parse("follow=true&tailLines=2"), "p").is_ok());
    }

    #[test]
    fn timestamps_trim_like_go() {
        let t: jiff::Timestamp = "2024-01-02T03:04:05.120Z".parse().unwrap();
        assert_eq!(rfc3339_nano(t), "2024-01-02T03:04:05.12Z");
        let t: jiff::Timestamp = "2024-01-02T03:04:05Z".parse().unwrap();
        assert_eq!(rfc3339_nano(t), "2024-01-02T03:04:05Z");
    }
}
