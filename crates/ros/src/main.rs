//! Dispatch only; see the library half of this crate.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    init_logging();
    let args: Vec<_> = std::env::args_os().collect();
    if ros::is_listing(&args) {
        let mut out = std::io::stdout().lock();
        for applet in ros::APPLETS {
            drop(writeln!(out, "{}\t{}", applet.name, applet.about));
        }
        return ExitCode::SUCCESS;
    }
    match ros::resolve(args) {
        Ok((applet, args)) => (applet.main)(args),
        Err(message) => {
            drop(writeln!(std::io::stderr(), "{message}"));
            ExitCode::from(ros::UNKNOWN_APPLET)
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG`; silent by default because the applets report
/// what users need to see themselves.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
