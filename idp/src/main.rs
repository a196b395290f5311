//! `idp`: reads the configuration, starts logging and serves until stopped.

use std::process::ExitCode;
use std::sync::Arc;

use idp::clock::SystemClock;
use idp::config::Config;
use idp::startup::{init_telemetry, Application};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("idp: {e}");
            return ExitCode::from(2);
        }
    };
    init_telemetry(&config);
    let app = match Application::build(config, Arc::new(SystemClock)).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("idp: {e}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e}");
            ExitCode::FAILURE
        }
    }
}
