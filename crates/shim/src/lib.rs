//! `ros-shim`: runs one container and stays with it until it exits.
//!
//! The engine is async and multi-threaded, and libcontainer clones the calling process, which is
//! only sound when that process is single-threaded. So the engine never calls libcontainer: it
//! starts this applet, a fresh single-threaded process, once per container. The shim creates and
//! starts the container from an OCI bundle, prints one [`Started`] line, then copies the
//! container's stdout and stderr into the json-file log, reaps every orphan (it is a
//! subreaper), and writes the [`ExitRecord`] when the container's first process ends. The engine
//! can die and come back meanwhile: nothing here depends on it.

mod jsonlog;
mod protocol;
mod supervise;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

pub use jsonlog::{LineSplitter, LogRecord, MAX_RECORD, Stream, timestamp};
pub use protocol::{ExitRecord, Monitor, ShimOptions, Started};
pub use supervise::ShimError;

/// Applet entry point: `ros-shim --id … --bundle … --root … --log … --exit-file …`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let options = match ShimOptions::from_args(args.into_iter().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            drop(writeln!(std::io::stderr(), "ros-shim: {message}"));
            return ExitCode::from(2);
        }
    };
    match supervise::run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(id = %options.id, "{err}");
            drop(writeln!(std::io::stderr(), "ros-shim: {err}"));
            ExitCode::FAILURE
        }
    }
}
