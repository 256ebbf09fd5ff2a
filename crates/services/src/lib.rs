//! `ros-services`: RancherOS's `rancher.services`, the compose dialect with `io.rancher.os.*`
//! labels, brought up as containers through the Docker Engine API — the System engine for
//! `scope: system`, the user's Docker otherwise — as RancherOS's libcompose did. `ros-sysinit`
//! (the boot) and `ros service` use it.

pub mod convert;
pub mod engines;
pub mod graph;
pub mod interpolate;
pub mod model;
pub mod project;
pub mod sysinit;

pub use engines::{ApiEngines, Engines, Existing};
pub use model::Service;
pub use project::{Outcome, Project};

/// What went wrong with a service or the set of them.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A definition does not type-check.
    #[error("service {service}: {message}")]
    Invalid {
        /// The service.
        service: String,
        /// What is wrong, with the key.
        message: String,
    },
    /// Services wait for each other.
    #[error("rancher.services: dependency cycle {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}
