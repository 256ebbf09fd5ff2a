//! The `ros` multicall binary: only the applet table and the dispatcher.
//!
//! The binary is installed once and linked under every applet name. `argv[0]`'s file name picks
//! the applet; `ros <applet> …` reaches the same applets from the `ros` name. Every applet lives
//! in a library crate, so nothing but dispatch is tested here.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitCode;

/// An applet's entry point; `args[0]` is the name it was called by.
pub type AppletMain = fn(Vec<OsString>) -> ExitCode;

/// One name the binary answers to.
#[derive(Debug, Clone, Copy)]
pub struct Applet {
    /// `argv[0]` file name (and the symlink the image build creates).
    pub name: &'static str,
    /// What the applet is, for `ros applets`.
    pub about: &'static str,
    /// Entry point.
    pub main: AppletMain,
}

/// Every applet. The image build creates one symlink per entry.
pub const APPLETS: &[Applet] = &[
    Applet {
        name: "ros",
        about: "control and configure RancherOS",
        main: ros_cli::main,
    },
    Applet {
        name: "init",
        about: "PID 1: boot the system",
        main: ros_init::main,
    },
    Applet {
        name: "system-dockerd",
        about: "the System engine: Docker Engine API for system services",
        main: ros_engine::main,
    },
    Applet {
        name: "ros-sysinit",
        about: "bring up the system services (started by init)",
        main: ros_services::sysinit::main,
    },
    Applet {
        name: "console-init",
        about: "set up the console container, then respawn its logins",
        main: ros_console::console_init::main,
    },
    Applet {
        name: "respawn",
        about: "run and restart the lines of a file (respawn -f FILE)",
        main: ros_console::respawn::main,
    },
    Applet {
        name: "autologin",
        about: "log a terminal in as rancher (run by getty)",
        main: ros_console::autologin::main,
    },
    Applet {
        name: "user-docker",
        about: "the docker service: run the user's dockerd",
        main: ros_console::user_docker::main,
    },
    Applet {
        name: "system-docker",
        about: "the Docker CLI on the System engine's socket",
        main: ros_console::system_docker,
    },
    Applet {
        name: "netconf",
        about: "the network service: apply rancher.network, keep DHCP leases",
        main: ros_netconf::main,
    },
    Applet {
        name: "ros-shim",
        about: "run one container for the System engine (started by the engine)",
        main: ros_shim::main,
    },
];

/// Exit status for a name the binary does not answer to (as a shell's "command not found").
pub const UNKNOWN_APPLET: u8 = 127;

/// Finds the applet called `name`.
pub fn applet(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.name == name)
}

/// Where `args` lead: the applet and the arguments it receives (its own name first).
pub fn resolve(mut args: Vec<OsString>) -> Result<(&'static Applet, Vec<OsString>), String> {
    let called = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .unwrap_or(a.as_os_str())
                .to_os_string()
        })
        .unwrap_or_default();
    let called = called.to_string_lossy();
    if called == "ros"
        && let Some(applet) = args.get(1).and_then(|a| a.to_str()).and_then(applet)
    {
        args.remove(0);
        return Ok((applet, args));
    }
    match applet(&called) {
        Some(applet) => Ok((applet, args)),
        None => Err(format!(
            "ros: `{called}` is not an applet of this binary; known: {}",
            APPLETS
                .iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Returns whether `name` is the `applets` listing request (`ros applets`).
pub fn is_listing(args: &[OsString]) -> bool {
    args.len() == 2
        && args.first().and_then(|a| Path::new(a).file_name()) == Some(OsStr::new("ros"))
        && args[1] == "applets"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn applet_names_are_unique_plain_file_names() {
        for (i, a) in APPLETS.iter().enumerate() {
            assert!(!a.name.is_empty() && !a.name.contains('/'), "{}", a.name);
            assert!(
                APPLETS[i + 1..].iter().all(|b| b.name != a.name),
                "duplicate {}",
                a.name
            );
        }
    }

    #[test]
    fn every_applet_is_reached_by_argv0_and_by_ros_prefix() {
        for a in APPLETS {
            let (found, args) = resolve(os(&[&format!("/usr/bin/{}", a.name), "x"])).unwrap();
            assert_eq!(found.name, a.name);
            assert_eq!(args, os(&[&format!("/usr/bin/{}", a.name), "x"]));
            let (found, args) = resolve(os(&["/usr/bin/ros", a.name, "x"])).unwrap();
            assert_eq!(found.name, a.name);
            assert_eq!(args, os(&[a.name, "x"]));
        }
    }

    #[test]
    fn ros_with_a_non_applet_argument_is_the_ros_cli() {
        let (found, args) = resolve(os(&["ros", "config", "get", "hostname"])).unwrap();
        assert_eq!(found.name, "ros");
        assert_eq!(args, os(&["ros", "config", "get", "hostname"]));
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let err = resolve(os(&["/bin/not-an-applet"])).unwrap_err();
        assert!(err.contains("`not-an-applet` is not an applet"), "{err}");
        assert!(err.contains("known: ros"), "{err}");
        assert!(resolve(Vec::new()).is_err());
    }

    #[test]
    fn listing_is_only_ros_applets() {
        assert!(is_listing(&os(&["/x/ros", "applets"])));
        assert!(!is_listing(&os(&["ros", "applets", "x"])));
        assert!(!is_listing(&os(&["init", "applets"])));
    }
}
