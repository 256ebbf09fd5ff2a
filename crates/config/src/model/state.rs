//! `rancher.state`: where persistent state lives.

use serde::{Deserialize, Serialize};

/// `rancher.state`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// State device: `LABEL=…`, `UUID=…` or a path.
    pub dev: String,
    /// Filesystem type, or `auto`.
    pub fstype: String,
    /// Sub-directory of the state filesystem used as root.
    pub directory: String,
    /// Wait up to 30 s for the device.
    pub wait: bool,
    /// Fail the boot if the state cannot be mounted.
    pub required: bool,
    /// Zeroed disks that may be formatted as `RANCHER_STATE`.
    pub autoformat: Vec<String>,
    /// Assemble md RAID before looking for the device.
    pub mdadm_scan: bool,
    /// Activate LVM volumes before looking for the device.
    pub lvm_scan: bool,
    /// Open LUKS devices before looking for the device.
    pub cryptsetup: bool,
    /// Feed the entropy pool early.
    pub rngd: bool,
    /// Shell script run before the state is mounted.
    pub script: String,
    /// OEM partition.
    pub oem_dev: String,
    /// OEM filesystem type.
    pub oem_fstype: String,
    /// Boot partition.
    pub boot_dev: String,
    /// Boot filesystem type.
    pub boot_fstype: String,
}
