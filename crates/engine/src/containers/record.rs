//! What the engine remembers about a container, persisted as
//! `<data-root>/containers/<id>/container.json` so a restarted engine knows it again.

use std::path::Path;

use bollard_stubs::models::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

/// Life-cycle state, as Docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Waiting for the restart policy's back-off.
    Restarting,
    /// Its process ended.
    Exited,
    /// Being removed.
    Removing,
    /// Removal failed half-way.
    Dead,
}

impl Status {
    /// Docker's word for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Exited => "exited",
            Self::Removing => "removing",
            Self::Dead => "dead",
        }
    }
}

/// The mutable part of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Where in its life the container is.
    pub status: Status,
    /// Host pid of the container's first process while it runs, else 0.
    pub pid: i64,
    /// Host pid of its shim while it runs, else 0.
    pub shim_pid: i64,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// Why the last start failed, if it did.
    pub error: String,
    /// RFC 3339 time of the last start.
    pub started_at: String,
    /// RFC 3339 time of the last exit.
    pub finished_at: String,
    /// Restarts done by the restart policy.
    pub restart_count: i64,
    /// Stopped or killed through the API: the restart policy leaves it alone.
    pub manually_stopped: bool,
}

/// A container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// `sha256:` id of the image.
    pub image_id: String,
    /// The image as the client named it.
    pub image_name: String,
    /// The process: entrypoint and arguments joined.
    pub path: String,
    /// Arguments after `path`.
    pub args: Vec<String>,
    /// Config, with the image's defaults filled in.
    pub config: ContainerConfig,
    /// Host config as the client sent it.
    pub host_config: HostConfig,
    /// Current state.
    pub state: State,
}

impl ContainerRecord {
    /// The first 12 hex digits, as the CLI shows ids.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }

    /// Reads a record back.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the record atomically and durably.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        ros_sys::write_atomic(path, &bytes, 0o600).map_err(std::io::Error::other)
    }
}
