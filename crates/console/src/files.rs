//! The cloud-config steps the console applies: `write_files` (plain, base64, gzip+base64,
//! with owner and mode) and `runcmd`.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use ros_config::model::{Command as RunCommand, WriteFile};

/// The bytes of `file`, decoded as its `encoding` says.
pub fn decode(file: &WriteFile) -> Result<Vec<u8>, String> {
    let b64 = |text: &str| {
        let compact: String = text.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("base64: {e}"))
    };
    match file.encoding.as_str() {
        "" | "text/plain" => Ok(file.content.clone().into_bytes()),
        "b64" | "base64" => b64(&file.content),
        "gz+b64" | "gz+base64" | "gzip+b64" | "gzip+base64" => {
            let packed = b64(&file.content)?;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&packed[..])
                .read_to_end(&mut out)
                .map_err(|e| format!("gzip: {e}"))?;
            Ok(out)
        }
        other => Err(format!("encoding `{other}` is not b64, gz+b64 or plain")),
    }
}

/// `0644`, `644` or `0o644`; default 0644.
pub fn mode(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_start_matches("0o");
    if digits.is_empty() {
        return Ok(0o644);
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("permissions `{text}` are not an octal mode"))
}

/// `user[:group]` as numbers, looked up in `root`'s passwd and group files.
fn owner(root: &Path, text: &str) -> Result<Option<(u32, u32)>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let (user, group) = text.split_once(':').unwrap_or((text, ""));
    let lookup = |file: &str, name: &str| -> Option<u32> {
        name.parse().ok().or_else(|| {
            std::fs::read_to_string(root.join(file))
                .ok()?
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 3 && f[0] == name)
                        .then(|| f[2].parse().ok())
                        .flatten()
                })
        })
    };
    let uid = lookup("etc/passwd", user).ok_or_else(|| format!("owner: no user `{user}`"))?;
    let gid = if group.is_empty() {
        uid
    } else {
        lookup("etc/group", group).ok_or_else(|| format!("owner: no group `{group}`"))?
    };
    Ok(Some((uid, gid)))
}

/// Writes the entries meant for `container` (`console` also takes those without one).
/// Returns one line per entry that failed, naming its index and path.
pub fn write_files(root: &Path, files: &[WriteFile], container: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let target = if file.container.is_empty() {
            "console"
        } else {
            file.container.as_str()
        };
        if target != container {
            continue;
        }
        let result = (|| -> Result<(), String> {
            if !file.path.starts_with('/') {
                return Err("path must be absolute".into());
            }
            let bytes = decode(file)?;
            let mode = mode(&file.permissions)?;
            let path = root.join(file.path.trim_start_matches('/'));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            ros_sys::write_atomic(&path, &bytes, mode).map_err(|e| e.to_string())?;
            if let Some((uid, gid)) = owner(root, &file.owner)? {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            problems.push(format!("write_files[{i}] {}: {e}", file.path));
        }
    }
    problems
}

/// Runs each `runcmd` entry in order (a string through `sh -c`, a list as argv); returns one
/// line per command that failed.
pub fn run_commands(commands: &[RunCommand]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let mut process = match command {
            RunCommand::Shell(line) => {
                let mut c = Command::new("sh");
                c.args(["-c", line]);
                c
            }
            RunCommand::Argv(argv) if !argv.is_empty() => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
            RunCommand::Argv(_) => continue,
        };
        match process.status() {
            Ok(s) if s.success() => {}
            Ok(s) => problems.push(format!("[{i}] {command:?}: {s}")),
            Err(e) => problems.push(format!("[{i}] {command:?}: {e}")),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn file(path: &str, content: &str, encoding: &str, permissions: &str) -> WriteFile {
        WriteFile {
            path: path.into(),
            content: content.into(),
            encoding: encoding.into(),
            permissions: permissions.into(),
            ..WriteFile::default()
        }
    }

    #[test]
    fn encodings_decode() {
        assert_eq!(decode(&file("/a", "hi", "", "")).unwrap(), b"hi");
        assert_eq!(decode(&file("/a", "aGk=\n", "b64", "")).unwrap(), b"hi");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"zipped").unwrap();
        let packed = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        assert_eq!(
            decode(&file("/a", &packed, "gz+b64", "")).unwrap(),
            b"zipped"
        );
        assert!(
            decode(&file("/a", "x", "rot13", ""))
                .unwrap_err()
                .contains("rot13")
        );
        assert!(decode(&file("/a", "!!", "b64", "")).is_err());
    }

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(mode("0755").unwrap(), 0o755);
        assert_eq!(mode("600").unwrap(), 0o600);
        assert_eq!(mode("").unwrap(), 0o644);
        assert!(mode("0999").is_err());
        assert!(mode("77777").is_err());
    }

    #[test]
    fn files_for_this_container_are_written_with_their_mode() {
        let root = tempfile::tempdir().unwrap();
        let mut other = file("/etc/other", "x", "", "");
        other.container = "ntp".into();
        let files = vec![
            file("/etc/motd", "hello\n", "", "0600"),
            other,
            file("relative", "x", "", ""),
        ];
        let problems = write_files(root.path(), &files, "console");
        assert_eq!(problems, ["write_files[2] relative: path must be absolute"]);
        let motd = root.path().join("etc/motd");
        assert_eq!(std::fs::read_to_string(&motd).unwrap(), "hello\n");
        assert_eq!(
            std::fs::metadata(&motd).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!root.path().join("etc/other").exists());
    }

    #[test]
    fn commands_run_in_order_and_failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let commands = vec![
            RunCommand::Shell(format!("echo one >> {}", log.display())),
            RunCommand::Argv(vec!["false".into()]),
            RunCommand::Argv(vec![
                "sh".into(),
                "-c".into(),
                format!("echo two >> {}", log.display()),
            ]),
        ];
        let problems = run_commands(&commands);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("[1] "), "{problems:?}");
        assert_eq!(std::fs::read_to_string(log).unwrap(), "one\ntwo\n");
    }
}
