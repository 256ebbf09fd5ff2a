//! The image store: blobs by digest, layers unpacked into overlay snapshots, names; `load`
//! and `save` of docker-save and OCI archives.

mod load;
mod reference;
mod save;
mod store;
mod unpack;

pub use load::load;
pub use reference::Reference;
pub use save::save;
pub use store::{ImageConfigFile, ImageRecord, ImageStore, digest};

#[cfg(test)]
mod tests;
