//! What the engine and a shim tell each other: the command line, the one line the shim prints
//! once the container runs, and the exit record it leaves behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where one container's shim reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimOptions {
    /// Container id (the runtime's id too).
    pub id: String,
    /// OCI bundle: `config.json` next to the root file system.
    pub bundle: PathBuf,
    /// libcontainer's state root; the container's state lands in `<root>/<id>`.
    pub root: PathBuf,
    /// json-file log the shim appends the container's output to.
    pub log: PathBuf,
    /// Where the shim writes the [`ExitRecord`] when the container has exited.
    pub exit_file: PathBuf,
    /// Set when the shim re-executed itself to watch a started container.
    pub monitor: Option<Monitor>,
}

/// What a shim passes to its re-executed self: the container and its output pipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Monitor {
    /// Host pid of the container's first process.
    pub pid: i32,
    /// Read end of the container's stdout pipe.
    pub stdout_fd: i32,
    /// Read end of the container's stderr pipe.
    pub stderr_fd: i32,
}

impl ShimOptions {
    /// The arguments after the applet name that [`crate::main`] parses back.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        for (flag, value) in [
            ("--id", Path::new(&self.id)),
            ("--bundle", &self.bundle),
            ("--root", &self.root),
            ("--log", &self.log),
            ("--exit-file", &self.exit_file),
        ] {
            args.push(OsString::from(flag));
            args.push(value.as_os_str().to_owned());
        }
        if let Some(m) = self.monitor {
            for (flag, value) in [
                ("--monitor-pid", m.pid),
                ("--stdout-fd", m.stdout_fd),
                ("--stderr-fd", m.stderr_fd),
            ] {
                args.push(flag.into());
                args.push(value.to_string().into());
            }
        }
        args
    }

    /// Parses what [`ShimOptions::to_args`] wrote.
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut options = Self {
            id: String::new(),
            bundle: PathBuf::new(),
            root: PathBuf::new(),
            log: PathBuf::new(),
            exit_file: PathBuf::new(),
            monitor: None,
        };
        let mut numbers = [None::<i32>; 3];
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("{} needs a value", flag.to_string_lossy()))?;
            match flag.to_str() {
                Some("--id") => {
                    options.id = value.to_str().ok_or("--id is not UTF-8")?.to_owned();
                }
                Some("--bundle") => options.bundle = value.into(),
                Some("--root") => options.root = value.into(),
                Some("--log") => options.log = value.into(),
                Some("--exit-file") => options.exit_file = value.into(),
                Some(flag @ ("--monitor-pid" | "--stdout-fd" | "--stderr-fd")) => {
                    let slot = match flag {
                        "--monitor-pid" => 0,
                        "--stdout-fd" => 1,
                        _ => 2,
                    };
                    let number = value
                        .to_str()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| format!("{flag} needs a number"))?;
                    numbers[slot] = Some(number);
                }
                _ => return Err(format!("unknown option {}", flag.to_string_lossy())),
            }
        }
        options.monitor = match numbers {
            [Some(pid), Some(stdout_fd), Some(stderr_fd)] => Some(Monitor {
                pid,
                stdout_fd,
                stderr_fd,
            }),
            [None, None, None] => None,
            _ => return Err("--monitor-pid, --stdout-fd and --stderr-fd go together".into()),
        };
        for (name, missing) in [
            ("--id", options.id.is_empty()),
            ("--bundle", options.bundle.as_os_str().is_empty()),
            ("--root", options.root.as_os_str().is_empty()),
            ("--log", options.log.as_os_str().is_empty()),
            ("--exit-file", options.exit_file.as_os_str().is_empty()),
        ] {
            if missing {
                return Err(format!("{name} is required"));
            }
        }
        Ok(options)
    }
}

/// The one JSON line a shim prints on its stdout: the container started, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Started {
    /// The container's init runs with this host pid.
    Running {
        /// Host pid of the container's first process.
        pid: i32,
    },
    /// The runtime refused; the message says why.
    Failed {
        /// The runtime's error.
        message: String,
    },
}

/// How a container ended, written atomically by its shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit status; 128 + the signal number when a signal ended it, as a shell reports it.
    pub exit_code: i64,
    /// RFC 3339 time the shim saw the exit.
    pub finished_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_arguments() {
        let options = ShimOptions {
            id: "abc".into(),
            bundle: "/b".into(),
            root: "/r".into(),
            log: "/l.log".into(),
            exit_file: "/e.json".into(),
            monitor: None,
        };
        assert_eq!(
            ShimOptions::from_args(options.to_args()),
            Ok(options.clone())
        );
        let watching = ShimOptions {
            monitor: Some(Monitor {
                pid: 9,
                stdout_fd: 3,
                stderr_fd: 4,
            }),
            ..options
        };
        assert_eq!(ShimOptions::from_args(watching.to_args()), Ok(watching));
        let half = ShimOptions::from_args(["--monitor-pid", "1"].into_iter().map(OsString::from));
        assert!(half.unwrap_err().contains("go together"));
    }

    #[test]
    fn missing_and_unknown_options_are_named() {
        let err = ShimOptions::from_args(["--id".into(), "x".into()]).unwrap_err();
        assert_eq!(err, "--bundle is required");
        let err = ShimOptions::from_args(["--nope".into(), "x".into()]).unwrap_err();
        assert_eq!(err, "unknown option --nope");
        let err = ShimOptions::from_args(["--id".into()]).unwrap_err();
        assert_eq!(err, "--id needs a value");
    }

    #[test]
    fn started_lines_are_tagged() {
        let line = serde_json::to_string(&Started::Running { pid: 7 }).unwrap();
        assert_eq!(line, r#"{"running":{"pid":7}}"#);
    }
}
