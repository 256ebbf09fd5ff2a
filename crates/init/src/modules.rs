//! Kernel modules listed by the image build in `lib/modules/<release>/ros.modules`, one per
//! line in load order (dependencies first): a path relative to that directory, then optional
//! parameters (`kernel/drivers/net/bonding/bonding.ko max_bonds=0`).

use std::path::Path;

use ros_sys::Kernel;

/// The list the image build writes beside the modules.
pub const MODULE_LIST: &str = "ros.modules";

const EEXIST: i32 = 17;

/// How module loading went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleReport {
    /// Modules in the list.
    pub listed: usize,
    /// Modules now loaded (including ones that already were).
    pub loaded: usize,
    /// `path: error` for each module that failed. Loading goes on after a failure: a module
    /// for hardware this machine lacks (`crc32c-intel` without SSE4.2) must not stop the boot.
    pub failures: Vec<String>,
}

/// Loads the modules listed in `module_dir/ros.modules`; no list means nothing to load.
pub fn load_modules<K: Kernel + ?Sized>(kernel: &K, module_dir: &Path) -> ModuleReport {
    let mut report = ModuleReport::default();
    let list = match std::fs::read_to_string(module_dir.join(MODULE_LIST)) {
        Ok(list) => list,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return report,
        Err(e) => {
            report
                .failures
                .push(format!("{}: {e}", module_dir.join(MODULE_LIST).display()));
            return report;
        }
    };
    for line in list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (path, params) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        report.listed += 1;
        match kernel.load_module(&module_dir.join(path), params.trim()) {
            Ok(()) => report.loaded += 1,
            Err(e) if e.raw_os_error() == Some(EEXIST) => report.loaded += 1,
            Err(e) => report.failures.push(format!("{path}: {e}")),
        }
    }
    report
}

/// The modules `rancher.modules` names (`"name param=value …"`), each after its dependencies
/// as depmod's `modules.dep` in `module_dir` lists them. Names match with `-` and `_` alike.
pub fn load_named<K: Kernel + ?Sized>(
    kernel: &K,
    module_dir: &Path,
    wanted: &[String],
) -> ModuleReport {
    let mut report = ModuleReport::default();
    if wanted.is_empty() {
        return report;
    }
    let deps = match std::fs::read_to_string(module_dir.join("modules.dep")) {
        Ok(text) => text,
        Err(e) => {
            report
                .failures
                .push(format!("{}: {e}", module_dir.join("modules.dep").display()));
            return report;
        }
    };
    for entry in wanted {
        let (name, params) = entry.trim().split_once(' ').unwrap_or((entry.trim(), ""));
        report.listed += 1;
        let Some((path, needs)) = find_dep(&deps, name) else {
            report
                .failures
                .push(format!("{name}: not in this image's modules"));
            continue;
        };
        // modules.dep lists the deepest dependency last: load from the end.
        let mut ok = true;
        for dep in needs.iter().rev() {
            if let Err(e) = kernel.load_module(&module_dir.join(dep), "")
                && e.raw_os_error() != Some(EEXIST)
            {
                report
                    .failures
                    .push(format!("{name}: dependency {dep}: {e}"));
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        match kernel.load_module(&module_dir.join(path), params.trim()) {
            Ok(()) => report.loaded += 1,
            Err(e) if e.raw_os_error() == Some(EEXIST) => report.loaded += 1,
            Err(e) => report.failures.push(format!("{name}: {e}")),
        }
    }
    report
}

/// The `modules.dep` line of module `name`: its path and its dependencies' paths.
fn find_dep<'a>(deps: &'a str, name: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let norm = |s: &str| s.replace('-', "_");
    let want = norm(name);
    deps.lines().find_map(|line| {
        let (path, rest) = line.split_once(':')?;
        let file = path.rsplit('/').next()?;
        let stem = file.split(".ko").next()?;
        (norm(stem) == want).then(|| (path, rest.split_whitespace().collect()))
    })
}
