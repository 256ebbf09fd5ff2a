//! Boot markers: `ros: <event> uptime=<seconds> …` lines on the console, also kept in
//! [`BOOT_MARKERS`] so `ros os boot-time` can print the timeline after the fact.

use std::io::Write;
use std::path::Path;

/// Where every boot marker is appended (on `/run`: one boot's worth).
pub const BOOT_MARKERS: &str = "/run/ros/boot-markers";

/// Seconds since the kernel started, as `/proc/uptime` has it (`12.34`).
pub fn uptime() -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Writes `line` to `console` and appends it to `root`'s [`BOOT_MARKERS`]; a marker that
/// cannot be kept is still shown.
pub fn announce(root: &Path, console: &mut dyn Write, line: &str) {
    drop(writeln!(console, "{line}"));
    drop(console.flush());
    let path = root.join(BOOT_MARKERS.trim_start_matches('/'));
    if let Some(dir) = path.parent() {
        drop(std::fs::create_dir_all(dir));
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        drop(writeln!(file, "{line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_go_to_the_console_and_the_file_in_order() {
        let root = tempfile::tempdir().unwrap();
        let mut console = Vec::new();
        announce(root.path(), &mut console, "ros: a uptime=1.00");
        announce(root.path(), &mut console, "ros: b uptime=2.00");
        assert_eq!(console, b"ros: a uptime=1.00\nros: b uptime=2.00\n");
        let kept = std::fs::read_to_string(root.path().join("run/ros/boot-markers")).unwrap();
        assert_eq!(kept, "ros: a uptime=1.00\nros: b uptime=2.00\n");
        assert!(uptime().parse::<f64>().is_ok());
    }
}
