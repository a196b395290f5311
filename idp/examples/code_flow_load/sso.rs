//! Phases 1 and 2: every browser signs in once with its password, then loops SSO flows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accounts::username;
use crate::browser::{self, SignInFailure, MAX_BUSY_RETRIES};
use crate::cpu::CpuSplit;
use crate::stats::{p50_p99, report_errors, Samples};
use crate::{flow_loop, measured_phase, Shared};

/// Sign-ins in flight at once in phase 1.
const SIGNIN_CONCURRENCY: usize = 8;

/// First visit: the sign-in form, with the password; returns the browser with its SSO cookie and
/// how many times the server answered 503 (each waited out and tried again, as a person would).
async fn sign_in(shared: &Shared, index: usize) -> Result<(reqwest::Client, Duration, u32), String> {
    let a = &shared.args;
    let browser = browser::browser();
    let started = Instant::now();
    // Browsers spread over the accounts (browser i is account i + 1 when there are as many).
    let n = index * a.accounts / a.users + 1;
    let mut busy = 0;
    let code = loop {
        match browser::sign_in_for_code(shared, &browser, &username(a, n)).await {
            Ok(code) => break code,
            Err(SignInFailure::Failed(e)) => return Err(e),
            Err(SignInFailure::Busy(b)) if busy < MAX_BUSY_RETRIES && !shared.stop.is_cancelled() => {
                busy += 1;
                let delay = browser::retry_delay(b.retry_after);
                browser::pause(shared, delay, Instant::now() + Duration::from_secs(60)).await;
            }
            Err(SignInFailure::Busy(_)) => return Err(format!("the server was busy {} times in a row", busy + 1)),
        }
    };
    let elapsed = started.elapsed();
    browser::redeem(shared, &code).await?;
    Ok((browser, elapsed, busy))
}

/// Phase 1's outcome: the signed-in browsers, the sign-in time's p50 and p99 (ms), and how many
/// times a sign-in was refused as busy and tried again.
pub struct SignIns {
    pub browsers: Vec<reqwest::Client>,
    pub times: (f64, f64),
    pub busy: u64,
}

/// Phase 1: sign in every browser once (Argon2id on the server: tens of ms each, by design). At
/// most `SIGNIN_CONCURRENCY` at a time, as a morning's sign-ins arrive spread out. Skipped unless
/// phase 2 or 3 runs.
pub async fn sign_in_all(shared: &Arc<Shared>) -> SignIns {
    let a = &shared.args;
    let users = a.users;
    let mut signins = SignIns { browsers: Vec::with_capacity(users), times: (f64::NAN, f64::NAN), busy: 0 };
    if a.duration.is_zero() && a.mint_secs.is_zero() {
        return signins;
    }
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(SIGNIN_CONCURRENCY));
    let handles: Vec<_> = (0..users)
        .map(|i| {
            let shared = shared.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore");
                sign_in(&shared, i).await
            })
        })
        .collect();
    let mut signin_times = Vec::with_capacity(users);
    for handle in handles {
        match handle.await.expect("task") {
            Ok((browser, elapsed, busy)) => {
                signins.browsers.push(browser);
                signin_times.push(elapsed);
                signins.busy += u64::from(busy);
            }
            Err(e) => {
                eprintln!("sign-in failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let signin_wall = started.elapsed();
    signins.times = p50_p99(&mut signin_times);
    let (signin_p50, signin_p99) = signins.times;
    let signin_busy = signins.busy;
    println!(
        "sign-in (authorize + form + password, {SIGNIN_CONCURRENCY} at a time): {:.0} sign-ins/s, p50 {signin_p50:.1} ms, p99 {signin_p99:.1} ms{}",
        users as f64 / signin_wall.as_secs_f64(),
        if signin_busy > 0 {
            format!(" ({signin_busy} times refused as busy (503) and tried again after Retry-After)")
        } else {
            String::new()
        }
    );
    signins
}

/// Phase 2 for one browser: SSO authorize → code → token, until `deadline` or `limit` flows.
async fn flows(shared: Arc<Shared>, browser: reqwest::Client, deadline: Instant, limit: usize) -> Samples {
    let (shared, browser) = (&*shared, &browser);
    flow_loop(shared, deadline, limit, move || async move { Ok(browser::sso_code(shared, browser).await?) }).await
}

/// Phase 2's figures: flows/s, (p50, p99) in ms of each step, errors and the CPU split.
pub struct SsoReport {
    pub per_s: f64,
    pub authorize: (f64, f64),
    pub token: (f64, f64),
    pub flow: (f64, f64),
    pub errors: u64,
    pub cpu: CpuSplit,
}

/// Phase 2: full flows with the SSO session, for `--duration`.
pub async fn sso_phase(shared: &Arc<Shared>, browsers: &[reqwest::Client]) -> SsoReport {
    let a = &shared.args;
    let mut flow = Samples::default();
    let (mut flows_per_s, mut sso_wall, mut sso_cpu) = (f64::NAN, f64::NAN, CpuSplit::NONE);
    if !a.duration.is_zero() {
        let run = |i: usize, deadline, limit| flows(shared.clone(), browsers[i].clone(), deadline, limit);
        (flow, sso_wall, sso_cpu) = measured_phase(shared, browsers.len(), a.duration, || {}, run).await;
        report_errors("flows", &flow);
        flows_per_s = flow.flow.len() as f64 / sso_wall;
    }
    let flows_done = flow.flow.len();
    let (authorize_p50, authorize_p99) = p50_p99(&mut flow.authorize);
    let (token_p50, token_p99) = p50_p99(&mut flow.token);
    let (flow_p50, flow_p99) = p50_p99(&mut flow.flow);
    if !a.duration.is_zero() {
        println!(
            "full flows: {flows_done} in {sso_wall:.1} s = {flows_per_s:.0} flows/s ({} errors)\n  \
             authorize (SSO, code issued): p50 {authorize_p50:.2} ms, p99 {authorize_p99:.2} ms\n  \
             token (code exchange):        p50 {token_p50:.2} ms, p99 {token_p99:.2} ms\n  \
             whole flow:                   p50 {flow_p50:.2} ms, p99 {flow_p99:.2} ms",
            flow.errors
        );
        if a.server_pid.is_some() {
            println!("  {}", sso_cpu.line());
        }
    }
    SsoReport {
        per_s: flows_per_s,
        authorize: (authorize_p50, authorize_p99),
        token: (token_p50, token_p99),
        flow: (flow_p50, flow_p99),
        errors: flow.errors,
        cpu: sso_cpu,
    }
}
