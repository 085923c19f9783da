//! Per-container log files kept in memory, line-framed like containerd's CRI log files.
//!
//! containerd writes a line to the log when its newline arrives (or when 16 KiB of a line have
//! piled up, or at EOF), with the time it read it; the log API reads those lines back. Keeping
//! the same framing keeps `timestamps`, `tailLines` and `sinceSeconds` honest.

use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

/// containerd's maximum log line before it splits it into partial lines.
const MAX_LINE: usize = 16 * 1024;

/// How much of a run's log is kept: the kubelet's default rotation (`containerLogMaxSize` 10Mi
/// × `containerLogMaxFiles` 5); older lines are dropped, as rotated-out files are.
const MAX_KEPT: usize = 50 * 1024 * 1024;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// fd 1 (and everything, with a TTY).
    Stdout,
    /// fd 2.
    Stderr,
}

/// One line of a container's log.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// When the runtime read it.
    pub time: jiff::Timestamp,
    /// Which stream wrote it.
    pub stream: Stream,
    /// The bytes, with the newline when the line was complete.
    pub data: Bytes,
}

/// The log of one container run: appended by the output pumps, read by the log API.
#[derive(Debug)]
pub struct LogBuffer {
    inner: Mutex<Inner>,
    /// Bumped on every append and on close, so `follow` readers can wait for news.
    changed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    lines: std::collections::VecDeque<LogLine>,
    /// Lines dropped from the front (positions stay absolute).
    dropped: usize,
    /// Bytes in `lines`.
    size: usize,
    pending: [Vec<u8>; 2],
    closed: bool,
}

impl Inner {
    fn push(&mut self, line: LogLine) {
        self.size += line.data.len();
        self.lines.push_back(line);
        while self.size > MAX_KEPT {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.size -= old.data.len();
            self.dropped += 1;
        }
    }
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer {
            inner: Mutex::new(Inner::default()),
            changed: watch::channel(0).0,
        }
    }
}

/// What a reader got: lines from its position on, and whether the log is complete.
#[derive(Debug)]
pub struct LogChunk {
    /// The new lines.
    pub lines: Vec<LogLine>,
    /// The position to read from next time.
    pub next: usize,
    /// True once the container has exited and every line is in.
    pub closed: bool,
}

impl LogBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds output read from the container.
    pub fn append(&self, stream: Stream, data: &[u8]) {
        let now = jiff::Timestamp::now();
        let mut inner = self.lock();
        let slot = stream as usize;
        let mut pending = std::mem::take(&mut inner.pending[slot]);
        pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            for piece in pending[start..end].chunks(MAX_LINE) {
                inner.push(LogLine {
                    time: now,
                    stream,
                    data: Bytes::copy_from_slice(piece),
                });
            }
            start = end;
        }
        let mut rest = pending.split_off(start);
        while rest.len() >= MAX_LINE {
            let tail = rest.split_off(MAX_LINE);
            inner.push(LogLine {
                time: now,
                stream,
                data: Bytes::from(rest),
            });
            rest = tail;
        }
        inner.pending[slot] = rest;
        drop(inner);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Marks the end of the container's output (flushing unterminated lines).
    pub fn close(&self) {
        let now = jiff::Timestamp::now();
        let mut inner = self.lock();
        for (slot, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let rest = std::mem::take(&mut inner.pending[slot]);
            if !rest.is_empty() {
                inner.push(LogLine {
                    time: now,
                    stream,
                    data: Bytes::from(rest),
                });
            }
        }
        inner.closed = true;
        drop(inner);
        self.changed.send_modify(|n| *n += 1);
    }

    /// The lines from position `from` on.
    pub fn read_from(&self, from: usize) -> LogChunk {
        let inner = self.lock();
        let end = inner.dropped + inner.lines.len();
        let skip = from.clamp(inner.dropped, end) - inner.dropped;
        LogChunk {
            lines: inner.lines.iter().skip(skip).cloned().collect(),
            next: end,
            closed: inner.closed,
        }
    }

    /// A receiver that changes whenever lines arrive or the log closes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until the container's output is complete (returns at once if it is).
    pub async fn wait_closed(&self) {
        let mut changed = self.subscribe();
        while !self.lock().closed {
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// Everything written so far, concatenated (for `FallbackToLogsOnError` and tests).
    pub fn contents(&self) -> Vec<u8> {
        let inner = self.lock();
        let mut out: Vec<u8> = inner
            .lines
            .iter()
            .flat_map(|l| l.data.iter().copied())
            .collect();
        for pending in &inner.pending {
            out.extend_from_slice(pending);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_framed_per_stream_and_flushed_on_close() {
        let log = LogBuffer::default();
        log.append(Stream::Stdout, b"a\nb");
        log.append(Stream::Stderr, b"err\n");
        log.append(Stream::Stdout, b"c\nd");
        let chunk = log.read_from(0);
        let texts: Vec<&[u8]> = chunk.lines.iter().map(|l| &l.data[..]).collect();
        assert_eq!(texts, vec![&b"a\n"[..], b"err\n", b"bc\n"]);
        assert!(!chunk.closed);
        log.close();
        let rest = log.read_from(chunk.next);
        assert_eq!(&rest.lines[0].data[..], b"d");
        assert!(rest.closed);
    }

    #[test]
    fn old_lines_rotate_out_and_positions_stay_valid() {
        let log = LogBuffer::default();
        let line = vec![b'y'; MAX_LINE - 1];
        let mut with_newline = line.clone();
        with_newline.push(b'\n');
        let count = MAX_KEPT / MAX_LINE + 10;
        for _ in 0..count {
            log.append(Stream::Stdout, &with_newline);
        }
        let all = log.read_from(0);
        assert_eq!(all.next, count);
        assert_eq!(all.lines.len(), MAX_KEPT / MAX_LINE);
        assert_eq!(log.read_from(count - 2).lines.len(), 2);
    }

    #[test]
    fn long_lines_split_at_16k() {
        let log = LogBuffer::default();
        log.append(Stream::Stdout, &vec![b'x'; MAX_LINE + 10]);
        assert_eq!(log.read_from(0).lines.len(), 1);
        assert_eq!(log.contents().len(), MAX_LINE + 10);
    }
}
