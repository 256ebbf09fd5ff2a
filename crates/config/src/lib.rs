//! `ros-config`: RancherOS's layered cloud-config.
//!
//! The configuration is kept as a generic tree (`serde_json::Value`, insertion-ordered) while
//! layers are merged (maps merge, lists and scalars replace), and converted to the typed
//! [`CloudConfig`] for use. Every source is checked on its own first, so a problem is reported
//! as `file:line:col: key: what is wrong`, and a broken layer is skipped instead of breaking
//! the boot. This crate does no logging setup and never prints; callers decide how to show
//! [`Diagnostic`]s.

pub mod cmdline;

/// The file the `network` service writes once it has applied `rancher.network`; services
/// ordered after `network` wait for it (bounded), not only for its container to start.
pub const NETWORK_READY_FILE: &str = "/run/ros/network-ready";
mod diagnostic;
mod export;
mod layers;
mod metadata;
pub mod model;
pub mod template;
pub mod tree;
mod validate;
pub mod yaml;

pub use diagnostic::{Diagnostic, Severity};
pub use export::{ExportOptions, export_tree};
pub use layers::{ConfigPaths, Loaded, OS_CONFIG, OS_CONFIG_SOURCE, Scope, load, read_source};
pub use metadata::Metadata;
pub use model::CloudConfig;
pub use validate::check_source;
