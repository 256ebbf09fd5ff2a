//! `ros os`: the running OS. `boot-time` prints the boot's timeline from the markers init,
//! the System engine and ros-sysinit kept in `/run/ros/boot-markers`.

use std::path::Path;

use clap::Subcommand;

use crate::{CliError, Output};

#[derive(Debug, Clone, Copy, Subcommand)]
pub(crate) enum OsCommand {
    /// Print the boot timeline: each step with the seconds since the kernel started.
    BootTime,
}

pub(crate) fn run(command: OsCommand, root: &Path, out: &mut Output) -> Result<(), CliError> {
    match command {
        OsCommand::BootTime => boot_time(root, out),
    }
}

/// One marker: `ros: boot ok uptime=3.55 modules=58/58` → (3.55, "boot ok", "modules=58/58").
fn parse(line: &str) -> Option<(f64, String, String)> {
    let rest = line.strip_prefix("ros: ")?;
    let mut event = Vec::new();
    let mut details = Vec::new();
    let mut uptime = None;
    for word in rest.split_whitespace() {
        match word.split_once('=') {
            Some(("uptime", v)) => uptime = v.parse::<f64>().ok(),
            Some(_) => details.push(word),
            None if details.is_empty() && uptime.is_none() => event.push(word),
            None => details.push(word),
        }
    }
    Some((uptime?, event.join(" "), details.join(" ")))
}

fn boot_time(root: &Path, out: &mut Output) -> Result<(), CliError> {
    let path = root.join(ros_sys::BOOT_MARKERS.trim_start_matches('/'));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::Message(format!(
            "{}: {e} (was this system booted by ros init?)",
            path.display()
        ))
    })?;
    let mut steps: Vec<_> = text.lines().filter_map(parse).collect();
    if steps.is_empty() {
        return Err(CliError::Message(format!(
            "{}: no boot markers",
            path.display()
        )));
    }
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (seconds, event, details) in steps {
        let line = format!("{seconds:>8.2}s  {event}");
        if details.is_empty() {
            out.line(&line);
        } else {
            out.line(&format!("{line}  ({details})"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_into_time_event_and_details() {
        assert_eq!(
            parse("ros: boot ok uptime=3.55 modules=58/58 images=1/1"),
            Some((3.55, "boot ok".into(), "modules=58/58 images=1/1".into()))
        );
        assert_eq!(
            parse("ros: services up ok=11 failed=0 uptime=40.21"),
            Some((40.21, "services up".into(), "ok=11 failed=0".into()))
        );
        assert_eq!(parse("ros: sysinit: service x: no such image"), None);
        assert_eq!(parse("unrelated uptime=1"), None);
    }
}
