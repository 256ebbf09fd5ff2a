//! Containers: records, OCI specs, the shim, life cycle, restart policies, logs.

pub mod create;
pub mod lifecycle;
pub mod logs;
pub mod policy;
pub mod record;
pub mod runtime;
pub mod setup;
pub mod spec;
