//! One module per `ros` noun.

pub(crate) mod config;
pub(crate) mod os;
pub(crate) mod version;
