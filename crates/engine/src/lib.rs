//! `system-dockerd`: the System engine.

mod error;
mod images;
mod query;
pub mod testing;
