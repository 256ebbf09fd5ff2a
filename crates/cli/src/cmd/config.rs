//! `ros config` (alias `c`): get, set, merge, export, validate, images, generate.
//!
//! Differences from RancherOS, on purpose: files are written 0600 (RancherOS wrote decimal
//! 400, i.e. octal 0620), every write is atomic and durable, `validate` exits non-zero on
//! errors, CRLF input is accepted, and `set`/`merge` refuse to touch a `cloud-config.yml` they
//! cannot parse instead of losing it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ros_config::{
    CloudConfig, ConfigPaths, Diagnostic, ExportOptions, Loaded, Scope, check_source, export_tree,
    load, read_source, template, tree, yaml,
};
use serde_json::{Map, Value};

use crate::{CliError, Output};

/// Mode of every configuration file we write.
const CONFIG_FILE_MODE: u32 = 0o600;
/// Mode of directories we create for them.
const CONFIG_DIR_MODE: u32 = 0o700;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the value of a dotted key from the merged configuration.
    Get {
        /// e.g. `rancher.docker.storage_driver`
        key: String,
    },
    /// Set a dotted key in cloud-config.yml; the value is parsed as YAML (`true`, `[a,b]`).
    Set {
        /// e.g. `rancher.network.dns.search`
        key: String,
        /// e.g. `'[a,b]'`
        value: String,
    },
    /// Deep-merge YAML into cloud-config.yml.
    Merge(InputArg),
    /// Print the configuration as YAML.
    Export {
        /// Write to FILE (mode 0600) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Include SSH host keys, TLS keys and registry credentials.
        #[arg(short, long)]
        private: bool,
        /// Include the built-in defaults and the OEM layer.
        #[arg(short, long)]
        full: bool,
    },
    /// Check a cloud-config file; exits 1 if it has errors.
    Validate(InputArg),
    /// Print the images of the bootstrap and system services, sorted.
    Images {
        /// Read this file instead of the merged configuration.
        #[arg(short, long, value_name = "FILE")]
        input: Option<PathBuf>,
    },
    /// Render a template from standard input with the environment as variables.
    Generate,
}

#[derive(Debug, Args)]
pub(crate) struct InputArg {
    /// Read FILE instead of standard input (`-` is standard input).
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    input: PathBuf,
}

pub(crate) fn run(command: ConfigCommand, root: &Path, out: &mut Output) -> Result<(), CliError> {
    let paths = ConfigPaths::new(root);
    match command {
        ConfigCommand::Get { key } => get(&paths, &key, out),
        ConfigCommand::Set { key, value } => set(&paths, &key, &value, out),
        ConfigCommand::Merge(input) => merge(&paths, &input.input, out),
        ConfigCommand::Export {
            output,
            private,
            full,
        } => export(&paths, output.as_deref(), private, full, out),
        ConfigCommand::Validate(input) => validate(&input.input, out),
        ConfigCommand::Images { input } => images(&paths, input.as_deref(), out),
        ConfigCommand::Generate => generate(out),
    }
}

/// Loads all layers, printing what was skipped or warned about to stderr.
fn load_reporting(paths: &ConfigPaths, scope: Scope, out: &mut Output) -> Loaded {
    let loaded = load(paths, scope);
    for d in &loaded.diagnostics {
        let note = if d.is_error() { " (layer skipped)" } else { "" };
        out.err(&format!("{d}{note}"));
    }
    loaded
}

fn typed(loaded: &Loaded, out: &mut Output) -> Result<CloudConfig, CliError> {
    loaded.typed().map_err(|d| report(out, &d))
}

fn report(out: &mut Output, d: &Diagnostic) -> CliError {
    out.err(&d.to_string());
    CliError::Reported
}

fn get(paths: &ConfigPaths, key: &str, out: &mut Output) -> Result<(), CliError> {
    let config = typed(&load_reporting(paths, Scope::Full, out), out)?;
    let full = config.to_tree();
    match tree::get_path(&full, key) {
        None | Some(Value::Null) => out.line(""),
        Some(Value::String(s)) => out.line(s),
        Some(v @ (Value::Bool(_) | Value::Number(_))) => out.line(&v.to_string()),
        Some(v) => out.raw(&yaml::to_yaml(v)),
    }
    Ok(())
}

/// Reads cloud-config.yml for modification; a file we cannot parse is never overwritten.
fn read_user_file(path: &Path) -> Result<Value, CliError> {
    let text = read_source(path).map_err(|d| CliError::Message(d.to_string()))?;
    match text {
        None => Ok(Value::Object(Map::new())),
        Some(text) => check_source(&text, &path.display().to_string())
            .map(|(tree, _)| tree)
            .map_err(|d| CliError::Message(format!("{d}; fix or remove the file first"))),
    }
}

/// Checks `tree` as the new content of `path` and writes it atomically, 0600.
fn write_user_file(path: &Path, tree: &Value, out: &mut Output) -> Result<(), CliError> {
    let text = yaml::to_yaml(tree);
    let (_, warnings) =
        check_source(&text, &path.display().to_string()).map_err(|d| report(out, &d))?;
    for w in warnings {
        out.err(&w.to_string());
    }
    write_file(path, &text)
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    ros_sys::write_atomic(path, text.as_bytes(), CONFIG_FILE_MODE)
        .map_err(|e| CliError::Message(error_chain(&e)))
}

fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(CONFIG_DIR_MODE)
        .create(dir)
        .map_err(|e| CliError::Message(format!("{}: cannot create directory: {e}", dir.display())))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn set(paths: &ConfigPaths, key: &str, value: &str, out: &mut Output) -> Result<(), CliError> {
    if tree::split_key(key).iter().any(|s| s.is_empty()) {
        return Err(CliError::Message(format!(
            "`{key}` is not a dotted key like rancher.debug"
        )));
    }
    let file = paths.cloud_config_file();
    let mut current = read_user_file(&file)?;
    tree::set_path(&mut current, key, yaml::parse_scalar(value));
    write_user_file(&file, &current, out)
}

fn read_input(input: &Path) -> Result<(String, String), CliError> {
    if input == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Message(format!("standard input: cannot read: {e}")))?;
        return Ok((text, "<stdin>".into()));
    }
    match read_source(input) {
        Ok(Some(text)) => Ok((text, input.display().to_string())),
        Ok(None) => Err(CliError::Message(format!(
            "{}: no such file",
            input.display()
        ))),
        Err(d) => Err(CliError::Message(d.to_string())),
    }
}

fn merge(paths: &ConfigPaths, input: &Path, out: &mut Output) -> Result<(), CliError> {
    let (text, source) = read_input(input)?;
    let (incoming, warnings) = check_source(&text, &source).map_err(|d| report(out, &d))?;
    for w in warnings {
        out.err(&w.to_string());
    }
    let file = paths.cloud_config_file();
    let mut current = read_user_file(&file)?;
    tree::merge(&mut current, incoming);
    write_user_file(&file, &current, out)
}

fn export(
    paths: &ConfigPaths,
    output: Option<&Path>,
    private: bool,
    full: bool,
    out: &mut Output,
) -> Result<(), CliError> {
    let scope = if full { Scope::Full } else { Scope::User };
    let loaded = load_reporting(paths, scope, out);
    let text = yaml::to_yaml(&export_tree(loaded.tree, ExportOptions { private }));
    match output {
        Some(path) => write_file(path, &text),
        None => {
            out.raw(&text);
            Ok(())
        }
    }
}

fn validate(input: &Path, out: &mut Output) -> Result<(), CliError> {
    let (text, source) = read_input(input)?;
    let (_, warnings) = check_source(&text, &source).map_err(|d| report(out, &d))?;
    for w in warnings {
        out.err(&w.to_string());
    }
    Ok(())
}

fn images(paths: &ConfigPaths, input: Option<&Path>, out: &mut Output) -> Result<(), CliError> {
    let config: CloudConfig = match input {
        Some(path) => {
            let (text, source) = read_input(path)?;
            yaml::parse_typed(&text, &source).map_err(|d| report(out, &d))?
        }
        None => typed(&load_reporting(paths, Scope::Full, out), out)?,
    };
    out.line(&config.images().join(" "));
    Ok(())
}

fn generate(out: &mut Output) -> Result<(), CliError> {
    let (text, _) = read_input(Path::new("-"))?;
    let vars: HashMap<String, String> = std::env::vars().collect();
    let rendered = template::render(&text, &vars).map_err(|e| CliError::Message(e.to_string()))?;
    out.raw(&rendered);
    Ok(())
}
