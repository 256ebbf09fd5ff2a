//! `respawn -f FILE`: runs each command line of FILE in its own session and starts it again
//! when it exits — the console's gettys and sshd. A line that restarts more than ten times
//! within a second is given up. SIGTERM goes to every child and ends the supervision.

use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use ros_services::model::split_words;

/// Restarts allowed inside [`WINDOW`] before a line is given up.
const MAX_RESTARTS: usize = 10;
const WINDOW: Duration = Duration::from_secs(1);

/// The command lines of a respawn file: blank lines and `#` comments skipped.
pub fn parse(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| split_words(l).ok())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Restart bookkeeping for one line.
#[derive(Debug, Default)]
pub struct Budget {
    starts: Vec<Instant>,
}

impl Budget {
    /// Records a start at `now`; false once the line restarted too often.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.starts.retain(|t| now.duration_since(*t) < WINDOW);
        self.starts.push(now);
        self.starts.len() <= MAX_RESTARTS
    }
}

struct Line {
    argv: Vec<String>,
    pid: Option<i32>,
    budget: Budget,
}

fn spawn(line: &mut Line) {
    let mut command = Command::new(&line.argv[0]);
    command.args(&line.argv[1..]);
    ros_sys::new_session(&mut command);
    match command.spawn() {
        Ok(child) => line.pid = i32::try_from(child.id()).ok(),
        Err(e) => {
            line.pid = None;
            tracing::error!(command = %line.argv.join(" "), %e, "respawn: cannot start");
        }
    }
}

/// Supervises the lines of `text` until SIGTERM.
pub fn supervise(text: &str) {
    drop(ros_sys::catch_terminate());
    let mut lines: Vec<Line> = parse(text)
        .into_iter()
        .map(|argv| Line {
            argv,
            pid: None,
            budget: Budget::default(),
        })
        .collect();
    for line in &mut lines {
        line.budget.allow(Instant::now());
        spawn(line);
    }
    loop {
        if ros_sys::terminate_requested() {
            for pid in lines.iter().filter_map(|l| l.pid) {
                drop(ros_sys::send_signal(pid, 15));
            }
            return;
        }
        match ros_sys::reap_any_nohang() {
            Ok(Some(reaped)) => {
                if let Some(line) = lines.iter_mut().find(|l| l.pid == Some(reaped.pid)) {
                    line.pid = None;
                    if line.budget.allow(Instant::now()) {
                        spawn(line);
                    } else {
                        tracing::error!(command = %line.argv.join(" "), "respawn: restarting too fast, given up");
                    }
                }
            }
            // Nothing ended yet, or no children at all (every line given up).
            Ok(None) | Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Entry point: `respawn -f FILE`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let mut args = args.into_iter().skip(1);
    let file = match (args.next(), args.next(), args.next()) {
        (Some(flag), Some(file), None) if flag == "-f" => file,
        _ => {
            drop(writeln!(std::io::stderr(), "usage: respawn -f FILE"));
            return ExitCode::from(2);
        }
    };
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            supervise(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            drop(writeln!(
                std::io::stderr(),
                "respawn: {}: {e}",
                std::path::Path::new(&file).display()
            ));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_as_words_without_comments() {
        let text = "# gettys\n/sbin/getty 115200 ttyS0 vt100\n\n  /usr/sbin/sshd -D -e \n";
        assert_eq!(
            parse(text),
            [
                vec!["/sbin/getty", "115200", "ttyS0", "vt100"],
                vec!["/usr/sbin/sshd", "-D", "-e"]
            ]
        );
    }

    #[test]
    fn more_than_ten_starts_within_a_second_are_refused() {
        let mut budget = Budget::default();
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(budget.allow(t0 + Duration::from_millis(i * 10)));
        }
        assert!(!budget.allow(t0 + Duration::from_millis(200)));
        assert!(
            budget.allow(t0 + Duration::from_millis(2500)),
            "a calm line starts again"
        );
    }
}
