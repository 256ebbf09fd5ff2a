//! Docker's json-file log format: one JSON object per line of output, written by the shim so
//! logs outlive an engine restart.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

/// Docker splits lines longer than this (bytes) into several records.
pub const MAX_RECORD: usize = 16 * 1024;

/// One record of a json-file log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The bytes of output, newline included when the line was complete.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time with nanoseconds, UTC.
    pub time: String,
}

/// Which output stream bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The container's stdout.
    Stdout,
    /// The container's stderr.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Cuts one stream's bytes into records at newlines (or [`MAX_RECORD`]) and writes them.
#[derive(Debug)]
pub struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter for `stream`.
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    /// Adds `bytes`; writes every complete line to `out`, stamped with `now`.
    pub fn push(&mut self, bytes: &[u8], now: &str, out: &mut impl Write) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        loop {
            let cut = match self.pending.iter().position(|&b| b == b'\n') {
                Some(newline) if newline < MAX_RECORD => newline + 1,
                _ if self.pending.len() >= MAX_RECORD => MAX_RECORD,
                _ => return Ok(()),
            };
            let line: Vec<u8> = self.pending.drain(..cut).collect();
            self.write(&line, now, out)?;
        }
    }

    /// Writes what is left (output that did not end in a newline).
    pub fn finish(&mut self, now: &str, out: &mut impl Write) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.pending);
        self.write(&rest, now, out)
    }

    fn write(&self, line: &[u8], now: &str, out: &mut impl Write) -> io::Result<()> {
        let record = LogRecord {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: self.stream.name().to_owned(),
            time: now.to_owned(),
        };
        let mut encoded = serde_json::to_vec(&record).map_err(io::Error::other)?;
        encoded.push(b'\n');
        out.write_all(&encoded)
    }
}

/// Now, as json-file stamps it.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(out: &[u8]) -> Vec<LogRecord> {
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_become_records_and_partial_lines_wait() {
        let mut split = LineSplitter::new(Stream::Stderr);
        let mut out = Vec::new();
        split.push(b"one\ntw", "T", &mut out).unwrap();
        assert_eq!(records(&out).len(), 1);
        split.push(b"o\n", "T", &mut out).unwrap();
        split.push(b"tail", "T", &mut out).unwrap();
        split.finish("T", &mut out).unwrap();
        let logs: Vec<_> = records(&out).into_iter().map(|r| r.log).collect();
        assert_eq!(logs, ["one\n", "two\n", "tail"]);
        assert!(records(&out).iter().all(|r| r.stream == "stderr"));
    }

    #[test]
    fn long_lines_are_cut_at_the_record_limit() {
        let mut split = LineSplitter::new(Stream::Stdout);
        let mut out = Vec::new();
        let long = vec![b'x'; MAX_RECORD * 2 + 3];
        split.push(&long, "T", &mut out).unwrap();
        split.finish("T", &mut out).unwrap();
        let sizes: Vec<_> = records(&out).iter().map(|r| r.log.len()).collect();
        assert_eq!(sizes, [MAX_RECORD, MAX_RECORD, 3]);
    }

    #[test]
    fn timestamps_carry_nanoseconds_in_utc() {
        let now = timestamp();
        assert!(now.ends_with('Z'), "{now}");
        assert_eq!(now.split('.').nth(1).map(str::len), Some(10), "{now}");
    }
}
