//! Layered loading (RancherOS `LoadConfig`), later layers winning:
//!
//! 1. built-in defaults (`os-config.yml`, embedded in the binary);
//! 2. OEM `/usr/share/ros/oem/oem-config.yml`;
//! 3. `/var/lib/rancher/conf/cloud-config.d/*`, regular non-dot files, lexical order;
//! 4. `/var/lib/rancher/conf/cloud-config.yml`;
//! 5. `/proc/cmdline` (`rancher.*`, `cc.*`);
//! 6. the parameters in `EXTRA_CMDLINE`;
//! 7. `rancher.debug` forcing every debug flag;
//! 8. metadata: hostname only if unset, SSH keys appended sorted by name, `resize_device`.
//!
//! A layer that cannot be read, parsed or typed is skipped with a diagnostic and the rest still
//! loads: a typo in one file must not stop a machine from booting.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::cmdline::{self, EXTRA_CMDLINE_KEY};
use crate::diagnostic::Diagnostic;
use crate::metadata::Metadata;
use crate::model::CloudConfig;
use crate::tree::{merge, set_path};
use crate::validate::check_source;
use crate::yaml;

/// The built-in defaults, RancherOS's `os-config.yml`.
pub const OS_CONFIG: &str = include_str!("../os-config.yml");
/// Name the built-in layer carries in diagnostics.
pub const OS_CONFIG_SOURCE: &str = "os-config.yml (built in)";

/// Where the configuration files live, below a root prefix (`/` on a real system, a temporary
/// directory in tests).
#[derive(Debug, Clone)]
pub struct ConfigPaths {
    root: PathBuf,
}

impl ConfigPaths {
    /// Paths below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root prefix.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn at(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    /// OEM layer.
    pub fn oem_config(&self) -> PathBuf {
        self.at("/usr/share/ros/oem/oem-config.yml")
    }

    /// Directory of drop-in layers.
    pub fn cloud_config_dir(&self) -> PathBuf {
        self.at("/var/lib/rancher/conf/cloud-config.d")
    }

    /// The file `ros config set` and `merge` write.
    pub fn cloud_config_file(&self) -> PathBuf {
        self.at("/var/lib/rancher/conf/cloud-config.yml")
    }

    /// Datasource metadata saved at boot.
    pub fn metadata_file(&self) -> PathBuf {
        self.at("/var/lib/rancher/conf/metadata")
    }

    /// Kernel command line.
    pub fn cmdline_file(&self) -> PathBuf {
        self.at("/proc/cmdline")
    }
}

/// Which layers to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// All layers.
    Full,
    /// Without the built-in defaults and the OEM file: what the user and the boot wrote
    /// (`ros config export` without `--full`).
    User,
}

/// A merged tree and what was found wrong on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged configuration.
    pub tree: Value,
    /// Skipped layers (errors) and warnings, in load order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Converts the merged tree to the typed model. Every layer was typed on its own before
    /// merging, so this fails only if the merge itself produced something invalid.
    pub fn typed(&self) -> Result<CloudConfig, Diagnostic> {
        yaml::parse_typed(&yaml::to_yaml(&self.tree), "merged config")
    }
}

/// Loads and merges the layers of `scope`.
pub fn load(paths: &ConfigPaths, scope: Scope) -> Loaded {
    let mut loaded = Loaded {
        tree: Value::Object(Map::new()),
        diagnostics: Vec::new(),
    };
    if scope == Scope::Full {
        add_text_layer(&mut loaded, OS_CONFIG, OS_CONFIG_SOURCE);
        add_file_layer(&mut loaded, &paths.oem_config());
    }
    for file in drop_in_files(&paths.cloud_config_dir(), &mut loaded.diagnostics) {
        add_file_layer(&mut loaded, &file);
    }
    add_file_layer(&mut loaded, &paths.cloud_config_file());
    add_cmdline_layers(&mut loaded, &paths.cmdline_file());
    apply_debug(&mut loaded.tree);
    apply_metadata(&mut loaded, &paths.metadata_file());
    loaded
}

/// Reads a configuration file; `Ok(None)` if it does not exist.
pub fn read_source(path: &Path) -> Result<Option<String>, Diagnostic> {
    let source = path.display().to_string();
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Diagnostic::error(source, format!("cannot read: {e}"))),
    };
    if bytes.len() > yaml::MAX_SOURCE_BYTES {
        return Err(Diagnostic::error(
            source,
            format!(
                "is {} bytes, more than the limit of {}",
                bytes.len(),
                yaml::MAX_SOURCE_BYTES
            ),
        ));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| Diagnostic::error(source, format!("is not UTF-8 text: {e}")))
}

fn add_file_layer(loaded: &mut Loaded, path: &Path) {
    match read_source(path) {
        Ok(Some(text)) => add_text_layer(loaded, &text, &path.display().to_string()),
        Ok(None) => {}
        Err(d) => skip(loaded, d),
    }
}

fn add_text_layer(loaded: &mut Loaded, text: &str, source: &str) {
    match check_source(text, source) {
        Ok((tree, warnings)) => {
            for w in &warnings {
                tracing::warn!(%w, "configuration warning");
            }
            loaded.diagnostics.extend(warnings);
            merge(&mut loaded.tree, tree);
        }
        Err(d) => skip(loaded, d),
    }
}

fn skip(loaded: &mut Loaded, d: Diagnostic) {
    tracing::error!(%d, "configuration layer skipped");
    loaded.diagnostics.push(d);
}

/// Regular, non-dot files of `dir` in lexical (byte) order of their names.
fn drop_in_files(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            diagnostics.push(Diagnostic::error(
                dir.display().to_string(),
                format!("cannot list: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
}

fn add_cmdline_layers(loaded: &mut Loaded, path: &Path) {
    let text = match read_source(path) {
        Ok(Some(t)) => t,
        Ok(None) => String::new(),
        Err(d) => {
            skip(loaded, d);
            String::new()
        }
    };
    let mut parsed = cmdline::parse(&text);
    if let Some(extra) = parsed.extra.take() {
        set_path(&mut parsed.tree, EXTRA_CMDLINE_KEY, Value::String(extra));
    }
    add_tree_layer(loaded, parsed.tree, "kernel cmdline");

    let extra = loaded
        .tree
        .get(EXTRA_CMDLINE_KEY)
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(extra) = extra {
        add_tree_layer(loaded, cmdline::parse(&extra).tree, EXTRA_CMDLINE_KEY);
    }
}

/// Adds a layer that was not read from a file; it is typed through its YAML rendering.
fn add_tree_layer(loaded: &mut Loaded, tree: Value, source: &str) {
    if tree.as_object().is_some_and(Map::is_empty) {
        return;
    }
    match yaml::parse_typed::<CloudConfig>(&yaml::to_yaml(&tree), source) {
        Ok(_) => merge(&mut loaded.tree, tree),
        Err(mut d) => {
            // Line numbers of a rendering the user never saw would only mislead.
            d.position = None;
            skip(loaded, d);
        }
    }
}

fn apply_debug(tree: &mut Value) {
    let debug = tree.pointer("/rancher/debug").and_then(Value::as_bool) == Some(true);
    if debug {
        for key in [
            "rancher.docker.debug",
            "rancher.system_docker.debug",
            "rancher.bootstrap_docker.debug",
            "rancher.log",
        ] {
            set_path(tree, key, Value::Bool(true));
        }
    }
}

fn apply_metadata(loaded: &mut Loaded, path: &Path) {
    let text = match read_source(path) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(d) => return skip(loaded, d),
    };
    let metadata: Metadata = match yaml::parse_typed(&text, &path.display().to_string()) {
        Ok(m) => m,
        Err(d) => return skip(loaded, d),
    };
    metadata.apply(&mut loaded.tree);
}
