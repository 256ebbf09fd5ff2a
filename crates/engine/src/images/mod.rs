//! The image store: blobs by digest, layers unpacked into overlay snapshots, names.

mod reference;
mod unpack;

pub use reference::Reference;
pub use unpack::{Compression, UnpackError, Unpacked, decompress, unpack_layer};
