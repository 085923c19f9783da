//! The request log: every request kube-sim received, in order, for assertions and benchmarks.
//!
//! Read it in-process with [`RequestLog::entries`], or over HTTP at `GET /kube-sim/requests`
//! (a JSON array of [`RequestRecord`]); `DELETE /kube-sim/requests` clears it. Requests to
//! `/kube-sim/…` themselves are not logged. The last 100 000 requests are kept.

use std::sync::Mutex;

use serde::Serialize;

/// Bodies longer than this are cut (with a marker) so that big applies cannot bloat the log.
const MAX_BODY: usize = 64 * 1024;

/// The log keeps this many records (the oldest go first), so long benchmarks stay bounded.
const MAX_ENTRIES: usize = 100_000;

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Position in the log, from 0 (kept across [`RequestLog::clear`]).
    pub seq: u64,
    /// When it arrived (RFC 3339, microseconds).
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (`""` when absent).
    pub query: String,
    /// `Content-Type` header (`""` when absent).
    pub content_type: String,
    /// Request body as text (lossy UTF-8, cut at 64 KiB).
    pub body: String,
    /// Response status, filled in once known (101 for upgraded streams).
    pub status: Option<u16>,
}

/// The shared log.
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    entries: std::collections::VecDeque<RequestRecord>,
}

impl RequestLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a request and returns its `seq`, for [`RequestLog::set_status`].
    pub fn push(
        &self,
        method: &str,
        path: &str,
        query: &str,
        content_type: &str,
        body: &[u8],
    ) -> u64 {
        let mut text = String::from_utf8_lossy(&body[..body.len().min(MAX_BODY)]).into_owned();
        if body.len() > MAX_BODY {
            text.push_str("…[truncated]");
        }
        let mut inner = self.lock();
        let seq = inner.next;
        inner.next += 1;
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.pop_front();
        }
        inner.entries.push_back(RequestRecord {
            seq,
            time: crate::store::micro_timestamp(),
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            content_type: content_type.to_owned(),
            body: text,
            status: None,
        });
        seq
    }

    /// Records the response status of request `seq`.
    pub fn set_status(&self, seq: u64, status: u16) {
        let mut inner = self.lock();
        if let Some(entry) = inner.entries.iter_mut().rev().find(|e| e.seq == seq) {
            entry.status = Some(status);
        }
    }

    /// A copy of every record, oldest first.
    pub fn entries(&self) -> Vec<RequestRecord> {
        self.lock().entries.iter().cloned().collect()
    }

    /// Forgets every record (so a test can assert on what happens next only).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }
}
