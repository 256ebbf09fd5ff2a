//! Container output for `logs` and `attach`: json-file records read back, filtered and framed
//! as Docker's multiplexed stream (8-byte header: stream, 0, 0, 0, big-endian length).

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ros_shim::LogRecord;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

use crate::engine::{Container, Lifecycle};

/// How often a follower looks for new output while the container runs.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// Which records to send and how.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Send stdout records.
    pub stdout: bool,
    /// Send stderr records.
    pub stderr: bool,
    /// Keep sending until the container stops.
    pub follow: bool,
    /// Prefix each line with its time.
    pub timestamps: bool,
    /// Only the last this many records (of the selected streams).
    pub tail: Option<usize>,
    /// Only records at or after (Unix seconds).
    pub since: Option<f64>,
    /// Only records before (Unix seconds).
    pub until: Option<f64>,
    /// Start at this byte offset of the log (attach starts at the end).
    pub from_offset: Option<u64>,
    /// Frame records (non-TTY) rather than sending raw bytes.
    pub multiplexed: bool,
}

/// One frame of the multiplexed stream.
pub fn frame(stream: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + payload.len());
    out.put_u8(stream);
    out.put_bytes(0, 3);
    out.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    out.put_slice(payload);
    out.freeze()
}

fn render(record: &LogRecord, options: &LogOptions) -> Option<Bytes> {
    let stream = match record.stream.as_str() {
        "stdout" if options.stdout => 1,
        "stderr" if options.stderr => 2,
        _ => return None,
    };
    let at = crate::time::parse_instant(&record.time).unwrap_or(0.0);
    if options.since.is_some_and(|s| at < s) || options.until.is_some_and(|u| at >= u) {
        return None;
    }
    let mut payload = Vec::new();
    if options.timestamps {
        payload.extend_from_slice(record.time.as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(record.log.as_bytes());
    Some(if options.multiplexed {
        frame(stream, &payload)
    } else {
        Bytes::from(payload)
    })
}

/// Streams `container`'s output per `options` into a channel; the receiver ends when the
/// output does (at once without `follow`, else when the container stops).
pub fn stream(container: &Container, log: PathBuf, options: LogOptions) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(64);
    let lifecycle = container.lifecycle.subscribe();
    let start_exits = lifecycle.borrow().exits;
    tokio::spawn(async move {
        let mut lifecycle = lifecycle;
        let file = tokio::fs::File::open(&log).await.ok();
        let mut reader = match file {
            Some(mut f) => {
                if let Some(offset) = options.from_offset {
                    drop(f.seek(SeekFrom::Start(offset)).await);
                }
                Some(BufReader::new(f))
            }
            None => None,
        };
        // History first, with the tail applied.
        let mut backlog = VecDeque::new();
        let mut line = String::new();
        if let Some(r) = reader.as_mut() {
            while let Ok(n) = r.read_line(&mut line).await {
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                if let Ok(record) = serde_json::from_str::<LogRecord>(&line)
                    && let Some(bytes) = render(&record, &options)
                {
                    backlog.push_back(bytes);
                    if options.tail.is_some_and(|t| backlog.len() > t) {
                        backlog.pop_front();
                    }
                }
                line.clear();
            }
        }
        for bytes in backlog {
            if tx.send(bytes).await.is_err() {
                return;
            }
        }
        if !options.follow {
            return;
        }
        loop {
            let state: Lifecycle = *lifecycle.borrow_and_update();
            let finished = state.removed
                || (!state.running && state.exits > start_exits)
                || (!state.running && options.from_offset.is_none());
            if reader.is_none() {
                reader = tokio::fs::File::open(&log).await.ok().map(BufReader::new);
            }
            if let Some(r) = reader.as_mut() {
                loop {
                    match r.read_line(&mut line).await {
                        Ok(n) if n > 0 && line.ends_with('\n') => {
                            if let Ok(record) = serde_json::from_str::<LogRecord>(&line)
                                && let Some(bytes) = render(&record, &options)
                                && tx.send(bytes).await.is_err()
                            {
                                return;
                            }
                            line.clear();
                        }
                        // A partial line stays in `line` until its end is written.
                        _ => break,
                    }
                }
            }
            if finished {
                return;
            }
            tokio::select! {
                _ = lifecycle.changed() => {}
                () = tokio::time::sleep(FOLLOW_POLL) => {}
                () = tx.closed() => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_length() {
        assert_eq!(&frame(2, b"hi")[..], &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }

    #[test]
    fn records_are_filtered_by_stream_and_time() {
        let record = LogRecord {
            log: "x\n".into(),
            stream: "stderr".into(),
            time: "2026-01-01T00:00:10.5Z".into(),
        };
        let mut options = LogOptions {
            stdout: true,
            multiplexed: true,
            ..Default::default()
        };
        assert!(render(&record, &options).is_none());
        options.stderr = true;
        assert_eq!(&render(&record, &options).unwrap()[..1], &[2]);
        options.since = Some(1_767_225_611.0);
        assert!(render(&record, &options).is_none());
        options.since = None;
        options.timestamps = true;
        options.multiplexed = false;
        assert_eq!(
            &render(&record, &options).unwrap()[..],
            b"2026-01-01T00:00:10.5Z x\n"
        );
    }
}
