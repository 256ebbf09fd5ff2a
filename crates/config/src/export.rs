//! What `ros config export` leaves out.

use serde_json::Value;

use crate::tree::{get_path, remove_path};

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

/// Removes what the export must not show, and the maps that held only that.
pub fn export_tree(mut tree: Value, options: ExportOptions) -> Value {
    let private: &[&str] = if options.private { &[] } else { PRIVATE };
    for key in ALWAYS_REMOVED.iter().chain(private) {
        if remove_path(&mut tree, key) {
            prune_emptied_parents(&mut tree, key);
        }
    }
    tree
}

/// Drops the maps on the way to `key` that the removal left empty, innermost first.
fn prune_emptied_parents(tree: &mut Value, key: &str) {
    let mut parent = key;
    while let Some((up, _)) = parent.rsplit_once('.') {
        if !get_path(tree, up)
            .and_then(Value::as_object)
            .is_some_and(|m| m.is_empty())
        {
            return;
        }
        remove_path(tree, up);
        parent = up;
    }
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
            export_tree(
                json!({"rancher": {"ssh": {"keys": {}}, "docker": {"ca_key": "k"}}}),
                ExportOptions::default()
            ),
            json!({}),
            "maps emptied by the removal go too"
        );
        assert_eq!(
            export_tree(tree, ExportOptions { private: true }),
            json!({"hostname": "h", "rancher": {"ssh": {"keys": {"rsa": "K"}}, "docker": {"ca_key": "k", "tls": true}}})
        );
    }
}
