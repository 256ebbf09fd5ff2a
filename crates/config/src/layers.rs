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

    /// A user-data script saved at boot (run by cloud-init-execute).
    pub fn cloud_config_script(&self) -> PathBuf {
        self.at("/var/lib/rancher/conf/cloud-config-script")
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
    /// Nothing loaded yet: an empty map.
    pub fn empty() -> Self {
        Self {
            tree: Value::Object(Map::new()),
            diagnostics: Vec::new(),
        }
    }

    /// Converts the merged tree to the typed model. Every layer was typed on its own before
    /// merging, so this fails only if the merge itself produced something invalid.
    pub fn typed(&self) -> Result<CloudConfig, Diagnostic> {
        yaml::parse_typed(&yaml::to_yaml(&self.tree), "merged config")
    }

    /// Merges one YAML layer named `source`, or skips it with a diagnostic.
    pub fn add_yaml(&mut self, text: &str, source: &str) {
        match check_source(text, source) {
            Ok((tree, warnings)) => {
                for w in &warnings {
                    tracing::warn!(%w, "configuration warning");
                }
                self.diagnostics.extend(warnings);
                merge(&mut self.tree, tree);
            }
            Err(d) => self.skip(d),
        }
    }

    /// Merges a kernel command line, then the `EXTRA_CMDLINE` the layers so far hold (the
    /// parameters after `--`, from this command line or saved at boot).
    pub fn add_cmdline(&mut self, text: &str) {
        let mut parsed = cmdline::parse(text);
        if let Some(extra) = parsed.extra.take() {
            set_path(&mut parsed.tree, EXTRA_CMDLINE_KEY, Value::String(extra));
        }
        self.add_tree(parsed.tree, "kernel cmdline");

        let extra = self
            .tree
            .get(EXTRA_CMDLINE_KEY)
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(extra) = extra {
            self.add_tree(cmdline::parse(&extra).tree, EXTRA_CMDLINE_KEY);
        }
    }

    /// `rancher.debug: true` forces every engine's debug flag and `rancher.log`.
    pub fn apply_debug(&mut self) {
        if self.tree.pointer("/rancher/debug").and_then(Value::as_bool) == Some(true) {
            for key in [
                "rancher.docker.debug",
                "rancher.system_docker.debug",
                "rancher.bootstrap_docker.debug",
                "rancher.log",
            ] {
                set_path(&mut self.tree, key, Value::Bool(true));
            }
        }
    }

    /// Applies saved datasource metadata (YAML), the last step of loading.
    pub fn add_metadata(&mut self, text: &str, source: &str) {
        match yaml::parse_typed::<Metadata>(text, source) {
            Ok(metadata) => metadata.apply(&mut self.tree),
            Err(d) => self.skip(d),
        }
    }

    /// Adds a layer that was not read from a file; it is typed through its YAML rendering.
    fn add_tree(&mut self, tree: Value, source: &str) {
        if tree.as_object().is_some_and(Map::is_empty) {
            return;
        }
        match yaml::parse_typed::<CloudConfig>(&yaml::to_yaml(&tree), source) {
            Ok(_) => merge(&mut self.tree, tree),
            Err(mut d) => {
                // Line numbers of a rendering the user never saw would only mislead.
                d.position = None;
                self.skip(d);
            }
        }
    }

    fn skip(&mut self, d: Diagnostic) {
        tracing::error!(%d, "configuration layer skipped");
        self.diagnostics.push(d);
    }
}

/// Loads and merges the layers of `scope` from the files below `paths`.
pub fn load(paths: &ConfigPaths, scope: Scope) -> Loaded {
    let mut loaded = Loaded::empty();
    if scope == Scope::Full {
        loaded.add_yaml(OS_CONFIG, OS_CONFIG_SOURCE);
        add_file(&mut loaded, &paths.oem_config(), Loaded::add_yaml);
    }
    for file in drop_in_files(&paths.cloud_config_dir(), &mut loaded.diagnostics) {
        add_file(&mut loaded, &file, Loaded::add_yaml);
    }
    add_file(&mut loaded, &paths.cloud_config_file(), Loaded::add_yaml);
    // Even without a cmdline file, the `EXTRA_CMDLINE` saved at boot still applies.
    let cmdline = read_source(&paths.cmdline_file()).unwrap_or_else(|d| {
        loaded.skip(d);
        None
    });
    loaded.add_cmdline(cmdline.as_deref().unwrap_or_default());
    loaded.apply_debug();
    add_file(&mut loaded, &paths.metadata_file(), Loaded::add_metadata);
    loaded
}

/// Reads `path` and hands its text to `add`; a missing file is no layer, an unreadable one a
/// skipped layer.
fn add_file(loaded: &mut Loaded, path: &Path, add: impl FnOnce(&mut Loaded, &str, &str)) {
    match read_source(path) {
        Ok(Some(text)) => add(loaded, &text, &path.display().to_string()),
        Ok(None) => {}
        Err(d) => loaded.skip(d),
    }
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
