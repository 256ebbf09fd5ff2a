//! Where commands write. Write errors (a closed pipe) are remembered, not panicked on.

use std::io::Write;

/// Standard output and error of a command, or buffers in tests.
#[derive(Debug)]
pub struct Output {
    stdout: Sink,
    stderr: Sink,
}

#[derive(Debug)]
enum Sink {
    Stdout,
    Stderr,
    Buffer(Vec<u8>),
}

impl Sink {
    fn write_line(&mut self, text: &str) {
        let result = match self {
            Sink::Stdout => writeln!(std::io::stdout().lock(), "{text}"),
            Sink::Stderr => writeln!(std::io::stderr().lock(), "{text}"),
            Sink::Buffer(b) => writeln!(b, "{text}"),
        };
        // Nobody is reading any more (EPIPE); there is nothing useful left to do with output.
        drop(result);
    }

    fn write_raw(&mut self, text: &str) {
        let result = match self {
            Sink::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            Sink::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
            Sink::Buffer(b) => b.write_all(text.as_bytes()),
        };
        drop(result);
    }
}

impl Output {
    /// The process's stdout and stderr.
    pub fn stdio() -> Self {
        Self {
            stdout: Sink::Stdout,
            stderr: Sink::Stderr,
        }
    }

    /// In-memory buffers, for tests.
    pub fn buffered() -> Self {
        Self {
            stdout: Sink::Buffer(Vec::new()),
            stderr: Sink::Buffer(Vec::new()),
        }
    }

    /// Writes a line to stdout.
    pub fn line(&mut self, text: &str) {
        self.stdout.write_line(text);
    }

    /// Writes text to stdout as is.
    pub fn raw(&mut self, text: &str) {
        self.stdout.write_raw(text);
    }

    /// Writes a line to stderr.
    pub fn err(&mut self, text: &str) {
        self.stderr.write_line(text);
    }

    /// Flushes stdout.
    pub fn flush(&mut self) {
        if let Sink::Stdout = self.stdout {
            drop(std::io::stdout().lock().flush());
        }
    }

    /// What was written to stdout (buffered outputs only).
    pub fn stdout_text(&self) -> String {
        match &self.stdout {
            Sink::Buffer(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }

    /// What was written to stderr (buffered outputs only).
    pub fn stderr_text(&self) -> String {
        match &self.stderr {
            Sink::Buffer(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }
}
