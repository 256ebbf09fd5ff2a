//! `ros -v`: `version <v> from os image <rancher.upgrade.image>:<v>`, as RancherOS printed.

use std::path::Path;

use ros_config::{ConfigPaths, Scope, load};

use crate::{CliError, Output};

/// The version of this build.
pub(crate) const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

pub(crate) fn run(root: &Path, out: &mut Output) -> Result<(), CliError> {
    let loaded = load(&ConfigPaths::new(root), Scope::Full);
    let image = loaded
        .typed()
        .map(|c| c.rancher.upgrade.image)
        .unwrap_or_default();
    out.line(&format!(
        "version {VERSION} from os image {image}:{VERSION}"
    ));
    Ok(())
}
