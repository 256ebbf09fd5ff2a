//! What `ros config export` leaves out.

use serde_json::Value;

use crate::tree::remove_path;

/// Keys never exported: secrets handed over on the kernel cmdline, and internal state.
const ALWAYS_REMOVED: &[&str] = &["rancher.password", "rancher.autologin", "EXTRA_CMDLINE"];

/// Keys exported only with `--private`: host keys, TLS material, registry credentials.
const PRIVATE: &[&str] = &[
    "rancher.ssh",
    "rancher.registry_auths",
    "rancher.docker.ca_key",
    "rancher.docker.ca_cert",
    "rancher.docker.server_key",
    "rancher.docker.server_cert",
    "rancher.system_docker.ca_key",
    "rancher.system_docker.ca_cert",
    "rancher.system_docker.server_key",
    "rancher.system_docker.server_cert",
];

/// Export switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// Keep the private keys listed above.
    pub private: bool,
}

/// Removes what the export must not show.
pub fn export_tree(mut tree: Value, options: ExportOptions) -> Value {
    for key in ALWAYS_REMOVED {
        remove_path(&mut tree, key);
    }
    if !options.private {
        for key in PRIVATE {
            remove_path(&mut tree, key);
        }
    }
    tree
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_removed_unless_private() {
        let tree = json!({
            "EXTRA_CMDLINE": "x",
            "hostname": "h",
            "rancher": {"password": "p", "autologin": "tty1", "ssh": {"keys": {"rsa": "K"}},
                        "docker": {"ca_key": "k", "tls": true}}
        });
        assert_eq!(
            export_tree(tree.clone(), ExportOptions::default()),
            json!({"hostname": "h", "rancher": {"docker": {"tls": true}}})
        );
        assert_eq!(
            export_tree(tree, ExportOptions { private: true }),
            json!({"hostname": "h", "rancher": {"ssh": {"keys": {"rsa": "K"}}, "docker": {"ca_key": "k", "tls": true}}})
        );
    }
}
