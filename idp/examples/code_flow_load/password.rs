//! Phase 4: password flows, each a fresh browser signing in as a random account.

use std::sync::Arc;
use std::time::Instant;

use crate::accounts::{username, RandomAccounts};
use crate::browser;
use crate::cpu::CpuSplit;
use crate::stats::{p50_p99, report_errors, Samples};
use crate::{flow_loop, measured_phase, Shared};

/// Phase 4 for one worker: password flows, each a fresh browser and a random account, until
/// `deadline` or `limit` attempts. `authorize` holds the sign-in part (authorize to code), `token`
/// the exchange. A sign-in the server refuses as busy (503) is counted apart, not as an error, and
/// the worker waits its `Retry-After` before the next attempt (a fresh browser again).
async fn password_flows(shared: Arc<Shared>, worker: usize, deadline: Instant, limit: usize) -> Samples {
    let shared = &*shared;
    let a = &shared.args;
    // Which account signs in next.
    let mut accounts = RandomAccounts::new(0x9E37_79B9_7F4A_7C15u64 ^ ((worker as u64 + 1) << 17));
    flow_loop(shared, deadline, limit, || {
        let n = accounts.pick(a.accounts);
        let browser = browser::browser();
        async move { browser::sign_in_for_code(shared, &browser, &username(a, n)).await }
    })
    .await
}

/// Phase 4's figures: flows/s, (p50, p99) in ms, the attempts, errors and 503s, the wall seconds
/// and the CPU split.
pub struct PasswordReport {
    pub per_s: f64,
    pub signin: (f64, f64),
    pub flow: (f64, f64),
    pub busy_times: (f64, f64),
    pub attempts: u64,
    pub errors: u64,
    pub busy: u64,
    pub busy_without_retry_after: u64,
    pub wall: f64,
    pub cpu: CpuSplit,
}

/// Phase 4: password flows with `--password-browsers` fresh browsers at a time, for
/// `--password-secs` (skipped when 0).
pub async fn password_phase(shared: &Arc<Shared>) -> PasswordReport {
    let a = &shared.args;
    let secs = a.password_secs;
    let mut password = Samples::default();
    let (mut password_per_s, mut password_wall, mut password_cpu) = (f64::NAN, f64::NAN, CpuSplit::NONE);
    if !secs.is_zero() {
        let announce = || {
            println!(
                "password flows: measuring for {:.0} s (or until SIGTERM), {} fresh browsers at a time",
                secs.as_secs_f64(),
                a.password_browsers
            )
        };
        let run = |w, deadline, limit| password_flows(shared.clone(), w, deadline, limit);
        (password, password_wall, password_cpu) =
            measured_phase(shared, a.password_browsers, secs, announce, run).await;
        report_errors("password flows", &password);
        password_per_s = password.flow.len() as f64 / password_wall;
    }
    let (password_signin_p50, password_signin_p99) = p50_p99(&mut password.authorize);
    let (password_p50, password_p99) = p50_p99(&mut password.flow);
    let (password_busy_p50, password_busy_p99) = p50_p99(&mut password.busy_times);
    let password_attempts = password.flow.len() as u64 + password.errors + password.busy;
    if !secs.is_zero() {
        println!(
            "password flows ({} fresh browsers at a time, {} accounts): {} in {password_wall:.1} s = {password_per_s:.1} flows/s ({} errors)\n  \
             sign-in (authorize → form → password → code): p50 {password_signin_p50:.2} ms, p99 {password_signin_p99:.2} ms\n  \
             whole flow (with the token):                  p50 {password_p50:.2} ms, p99 {password_p99:.2} ms\n  \
             refused as busy (503, tried again after Retry-After): {} of {password_attempts} attempts, \
             answered in p50 {password_busy_p50:.2} ms, p99 {password_busy_p99:.2} ms; {} without Retry-After",
            a.password_browsers,
            a.accounts,
            password.flow.len(),
            password.errors,
            password.busy,
            password.busy_without_retry_after
        );
        if a.server_pid.is_some() {
            println!("  {}", password_cpu.line());
        }
    }
    PasswordReport {
        per_s: password_per_s,
        signin: (password_signin_p50, password_signin_p99),
        flow: (password_p50, password_p99),
        busy_times: (password_busy_p50, password_busy_p99),
        attempts: password_attempts,
        errors: password.errors,
        busy: password.busy,
        busy_without_retry_after: password.busy_without_retry_after,
        wall: password_wall,
        cpu: password_cpu,
    }
}
