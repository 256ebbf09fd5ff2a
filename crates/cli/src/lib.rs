//! `ros-cli`: the `ros` command a user types, one module per noun under `cmd/`.
//!
//! Output goes through [`Output`] (never the print macros), so a closed pipe ends a command
//! quietly instead of panicking, and tests can capture what a command printed.

mod cmd;
mod output;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::Output;

/// Exit status of a failed command.
const FAILURE: u8 = 1;
/// Exit status of a usage error (clap uses 2 as well).
const USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "ros",
    about = "Control and configure RancherOS",
    disable_version_flag = true
)]
struct Cli {
    /// Treat DIR as the root of the system (for tests and image builds); no root needed.
    #[arg(
        long,
        global = true,
        env = "ROS_ROOT",
        value_name = "DIR",
        default_value = "/"
    )]
    root: PathBuf,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read and change the cloud-config.
    #[command(alias = "c", subcommand)]
    Config(cmd::config::ConfigCommand),
    /// The running OS.
    #[command(subcommand)]
    Os(cmd::os::OsCommand),
}

/// Why a command failed; printed as `ros: <error>`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Anything the command reports itself.
    #[error("{0}")]
    Message(String),
    /// Problems already printed one per line; only the exit status remains.
    #[error("invalid configuration")]
    Reported,
}

/// Entry point of the `ros` applet. `args[0]` is the program name.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let mut out = Output::stdio();
    let code = run(args, &mut out);
    out.flush();
    ExitCode::from(code)
}

/// Runs `ros` with `args`, writing to `out`; returns the exit status.
pub fn run(args: Vec<OsString>, out: &mut Output) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { USAGE } else { 0 };
            out.err(e.render().ansi().to_string().trim_end());
            return code;
        }
    };
    if cli.root == std::path::Path::new("/") && !ros_sys::is_root() {
        out.err("ros: need to be root (or pass --root DIR)");
        return FAILURE;
    }
    let result = match cli.command {
        _ if cli.version => cmd::version::run(&cli.root, out),
        Some(Command::Config(command)) => cmd::config::run(command, &cli.root, out),
        Some(Command::Os(command)) => cmd::os::run(command, &cli.root, out),
        None => {
            out.err("ros: a command is required; see `ros --help`");
            return USAGE;
        }
    };
    match result {
        Ok(()) => 0,
        Err(CliError::Reported) => FAILURE,
        Err(e) => {
            out.err(&format!("ros: {e}"));
            FAILURE
        }
    }
}
