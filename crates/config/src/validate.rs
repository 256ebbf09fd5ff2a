//! Checking one configuration source: YAML syntax, types, unknown keys, a few value rules.

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{CloudConfig, TOP_LEVEL_KEYS};
use crate::yaml;

/// Parses and checks `text`. On success returns its tree and any warnings; the first error
/// makes the whole source unusable.
pub fn check_source(text: &str, source: &str) -> Result<(Value, Vec<Diagnostic>), Diagnostic> {
    let tree = yaml::parse_tree(text, source)?;
    if !tree.is_object() {
        return Err(Diagnostic::error(
            source,
            "the document must be a map of keys",
        ));
    }
    let typed: CloudConfig = yaml::parse_typed(text, source)?;
    check_values(&typed, source)?;
    Ok((tree.clone(), unknown_top_level_keys(&tree, text, source)))
}

/// Rules serde cannot express.
fn check_values(config: &CloudConfig, source: &str) -> Result<(), Diagnostic> {
    for (i, file) in config.write_files.iter().enumerate() {
        let key = |field: &str| Some(format!("write_files[{i}].{field}"));
        if file.path.is_empty() {
            return Err(Diagnostic {
                key: key("path"),
                ..Diagnostic::error(source, "is required")
            });
        }
        let perms = &file.permissions;
        if !perms.is_empty() && u32::from_str_radix(perms, 8).map_or(true, |m| m > 0o7777) {
            return Err(Diagnostic {
                key: key("permissions"),
                ..Diagnostic::error(
                    source,
                    format!("`{perms}` is not an octal mode like \"0644\""),
                )
            });
        }
    }
    Ok(())
}

fn unknown_top_level_keys(tree: &Value, text: &str, source: &str) -> Vec<Diagnostic> {
    let Some(map) = tree.as_object() else {
        return Vec::new();
    };
    map.keys()
        .filter(|k| !TOP_LEVEL_KEYS.contains(&k.as_str()))
        .map(|key| {
            let suggestion = TOP_LEVEL_KEYS
                .iter()
                .map(|c| (strsim::normalized_damerau_levenshtein(key, c), c))
                .filter(|(score, _)| *score >= 0.6)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, c)| format!(", did you mean `{c}`?"))
                .unwrap_or_default();
            Diagnostic {
                severity: Severity::Warning,
                source: source.to_string(),
                position: line_of_top_level_key(text, key).map(|line| (line, 1)),
                key: None,
                message: format!("unknown top-level key `{key}` is ignored{suggestion}"),
            }
        })
        .collect()
}

fn line_of_top_level_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let unquoted = line
                .strip_prefix(['"', '\''])
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(['"', '\'']));
            let rest = unquoted.or_else(|| line.strip_prefix(key));
            rest.is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        check_source(text, "/f.yml").unwrap_err().to_string()
    }

    #[test]
    fn unknown_rancher_key_is_an_error_with_suggestion() {
        insta::assert_snapshot!(
            err("rancher:\n  docker:\n    storage_drive: overlay2\n"),
            @"/f.yml:3:5: rancher.docker.storage_drive: unknown key `storage_drive`, did you mean `storage_driver`?"
        );
    }

    #[test]
    fn wrong_type_names_the_key_and_position() {
        insta::assert_snapshot!(
            err("rancher:\n  network:\n    dns:\n      nameservers: 8.8.8.8\n"),
            @"/f.yml:4:20: rancher.network.dns.nameservers: expected sequence start"
        );
    }

    #[test]
    fn bad_boolean_names_the_key() {
        insta::assert_snapshot!(
            err("rancher:\n  debug: maybe\n"),
            @"/f.yml:2:10: rancher.debug: invalid boolean"
        );
    }

    #[test]
    fn syntax_error_is_reported_with_position() {
        insta::assert_snapshot!(err("hostname: a\nrancher: [\n"), @"/f.yml:2:10: unclosed bracket '['");
    }

    #[test]
    fn document_that_is_not_a_map_is_rejected() {
        insta::assert_snapshot!(err("- a\n- b\n"), @"/f.yml: the document must be a map of keys");
    }

    #[test]
    fn mount_entries_need_four_fields() {
        insta::assert_snapshot!(err("mounts:\n  - [/dev/vdb, /mnt, ext4]\n"),
            @"/f.yml:2:5: mounts[0]: invalid length 3, expected an array of length 4"
        );
    }

    #[test]
    fn write_files_permissions_must_be_octal() {
        insta::assert_snapshot!(
            err("write_files:\n  - path: /x\n    permissions: \"0799\"\n"),
            @"/f.yml: write_files[0].permissions: `0799` is not an octal mode like \"0644\""
        );
    }

    #[test]
    fn unknown_top_level_keys_only_warn() {
        let (_, warnings) =
            check_source("hostname: h\nusers:\n  - name: x\nhostnme: y\n", "/f.yml").unwrap();
        let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "/f.yml:2:1: warning: unknown top-level key `users` is ignored",
                "/f.yml:4:1: warning: unknown top-level key `hostnme` is ignored, did you mean `hostname`?",
            ]
        );
    }

    #[test]
    fn yaml_11_booleans_and_numbers_as_strings_are_accepted() {
        let text = "hostname: 1234\nrancher:\n  debug: yes\n  ssh:\n    daemon: off\n  environment:\n    VERSION: 1.10\n";
        let (_, warnings) = check_source(text, "f").unwrap();
        assert!(warnings.is_empty());
        let c: CloudConfig = yaml::parse_typed(text, "f").unwrap();
        assert_eq!(c.hostname, "1234");
        assert!(c.rancher.debug);
        assert!(!c.rancher.ssh.daemon);
        assert_eq!(c.rancher.environment["VERSION"], "1.10");
    }
}
