//! Bytes → merged, typed cloud-config. The input is split at NUL bytes into a user-data layer,
//! a kernel command line and saved metadata, so one run exercises the YAML parser under its
//! budgets, the cmdline tokenizer, the merge and the typed conversion together. Nothing may
//! panic, and a merged tree whose layers each typed must type as a whole.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ros_config::{Loaded, OS_CONFIG, OS_CONFIG_SOURCE};

/// The built-in defaults, parsed once: they are the same first layer in every run.
static DEFAULTS: LazyLock<Loaded> = LazyLock::new(|| {
    let mut defaults = Loaded::empty();
    defaults.add_yaml(OS_CONFIG, OS_CONFIG_SOURCE);
    assert!(defaults.diagnostics.is_empty(), "built-in defaults must load");
    defaults
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let user_data = parts.next().unwrap_or_default();
    let cmdline = parts.next().unwrap_or_default();
    let metadata = parts.next();

    let mut loaded = DEFAULTS.clone();
    loaded.add_yaml(user_data, "user-data");
    loaded.add_cmdline(cmdline);
    loaded.apply_debug();
    if let Some(metadata) = metadata {
        loaded.add_metadata(metadata, "metadata");
    }
    if let Err(d) = loaded.typed() {
        panic!("layers that typed one by one merged into an untyped config: {d}");
    }
});
