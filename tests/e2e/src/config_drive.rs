//! A config drive: an ISO 9660 filesystem labelled `config-2` holding
//! `openstack/latest/user_data`, the OpenStack layout RancherOS's default datasource
//! (`configdrive:/media/config-2`) reads. Attached to a guest as a read-only virtio disk, it
//! hands the guest a cloud-config the way a cloud would.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The filesystem label the guest looks for.
pub const LABEL: &str = "config-2";

/// Writes a config drive at `out` carrying `user_data` (a cloud-config file or a script).
pub fn write(user_data: &Path, out: &Path) -> Result<()> {
    let data = std::fs::read(user_data)
        .with_context(|| format!("reading the cloud-config {}", user_data.display()))?;
    let stage = tempfile::Builder::new().prefix("config-drive-").tempdir()?;
    let dir = stage.path().join("openstack/latest");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("user_data"), data)?;
    let _ = std::fs::remove_file(out);
    let output = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", LABEL, "-R", "-J", "-o"])
        .arg(out)
        .arg(stage.path())
        .output()
        .context("running xorriso (Debian's xorriso package)")?;
    if !output.status.success() {
        bail!(
            "xorriso could not write {}: {}",
            out.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
