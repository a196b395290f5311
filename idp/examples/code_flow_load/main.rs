//! Load driver for the full authorization-code flow against a running IdP (used by
//! `scripts/load/run.sh`, `scripts/load/compare.sh` and `scripts/load/storm.sh`; results in
//! `docs/benchmarks.md`).
//!
//! A code is single use, so a replaying load tool such as wrk cannot drive this flow. Instead
//! `--users` simulated browsers (each with its own cookie jar) and one relying party (a shared
//! connection pool, authenticating with `client_secret_basic`) run concurrently. The endpoints
//! come from the server's discovery document, and the sign-in form is read from its HTML (the
//! form with a `password` field: its action and hidden fields), so the same driver runs against
//! Poortwachter (`--target poortwachter`, the default: `/authorize` → `/login` → code) and
//! node-oidc-provider (`--target node`: `/auth` → `/interaction/:uid` → form POST → `/auth/:uid`
//! → code). Phases:
//!
//! 1. sign-in, once per browser, 8 at a time: authorize → sign-in form → POST with the password
//!    (Argon2id) → code; browser `i` signs in as account `i × accounts / users + 1`;
//! 2. SSO flows: for `--duration` seconds, every browser loops: authorize with its SSO session
//!    (no password) → 303 with a code → the RP redeems it at the token endpoint
//!    (authorization_code, PKCE S256); reported: completed flows/s and p50/p99 of the authorize
//!    step, the token step and the whole;
//! 3. exchange only: every browser first collects codes for `--mint-secs` (at most 200 each),
//!    then all of them are redeemed as fast as possible; reported: code exchanges/s and p50/p99;
//! 4. password flows: for `--password-secs` seconds, `--password-browsers` workers loop, each
//!    time as a fresh browser (new cookie jar, new connections) and a randomly chosen account:
//!    authorize → sign-in form → password → code → token; reported: flows/s and p50/p99 of the
//!    sign-in part (authorize to code) and of the whole.
//!
//! Beyond its capacity Poortwachter refuses a sign-in at once with 503 and `Retry-After`. That is
//! an answer, not an error: phase 4 counts such attempts apart (how many, how fast the 503 came,
//! whether `Retry-After` was there), and the worker waits the `Retry-After` before its next
//! attempt, a fresh browser again; phase 1 waits it out and tries again, as a person would.
//! SIGTERM ends the running phase early and reports it as usual (a storm kept up in the background
//! until the measurements beside it are done); a second SIGTERM exits at once.
//!
//! Phases 2 and 4 start with one unmeasured flow per browser or worker, all at once (see
//! `warm_up_until`).
//!
//! `--duration 0` skips phases 1 and 2 (unless phase 3 needs the browsers), `--mint-secs 0` skips
//! phase 3; `--password-secs` is 0 (skipped) unless given.
//!
//! With `--server-pid PID` every measured phase (2, 4) also reports where the machine's CPU went
//! meanwhile, in cores (CPU seconds / wall seconds): the server, the database processes (those
//! whose command line contains a `--db-match` string: PostgreSQL's backends for one database,
//! Redis), this driver (the load generator) and everything else, read from `/proc`; apart, the
//! server's password-hashing threads (named `argon2-*`, part of the server's figure) and the
//! processes given with `--peer-pid` (another load generator, such as a storm, not part of
//! "everything else").
//!
//! `--flood USERNAME` runs no phases but bad input instead (see [`flood`]): wrong passwords for
//! one account at a fixed rate from many client addresses (`X-Forwarded-For`), others signing in
//! meanwhile, and a check that exactly `--flood-limit` passwords were checked.
//!
//! ```text
//! cargo run --release -p idp --example code_flow_load -- --base http://127.0.0.1:18181 \
//!     --client-id ID --client-secret SECRET --redirect-uri http://127.0.0.1:9/cb \
//!     --users 64 --user-prefix u --password 'bench-password' --duration 10
//! ```
//!
//! The last line is machine-readable: `RESULT key=value ...` (`NaN` for a phase not run).
//!
//! Two helpers for making many accounts quickly (see `scripts/load/lib.sh`, `bulk_accounts`):
//! `--hash-password` prints the Argon2id PHC hash of `--password` made by Poortwachter's own
//! `auth::password::hash`; `--make-accounts N` prints CSV rows (`id,subject,username,
//! username_normalised,username_skeleton`) for `<prefix>1` … `<prefix>N`, with the username forms
//! computed by Poortwachter's own `domain::Username`.

mod accounts;
mod args;
mod browser;
mod cpu;
mod exchange;
mod flood;
mod password;
mod sso;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use args::Args;
use browser::{Code, SignInFailure};
use cpu::CpuSplit;
use stats::Samples;

pub struct Shared {
    pub args: Args,
    /// From the discovery document.
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// The relying party's back channel: one pool, as a portal's server would have.
    pub rp: reqwest::Client,
    /// Cancelled by SIGTERM: the running phase ends early (its figures over the time it ran) and
    /// the driver reports as usual; a second SIGTERM exits at once.
    pub stop: CancellationToken,
}

/// Before a measured phase (2 or 4), one unmeasured flow per browser or worker, all at once, so
/// that the connections the phase uses are open (the RP's pool grows to one per browser) and the
/// server's code is warm. Without it, the burst of new connections at the start (which
/// node-oidc-provider accepts one event-loop turn at a time, up to 0.7 s late) dominates the p99.
fn warm_up_until() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// The loop of phases 2 and 4 for one browser or worker: until `deadline` or `limit` attempts,
/// `attempt()` gets a code (its synchronous part runs before the clock starts), the RP redeems
/// it, and the flow's times are recorded: `authorize` up to the code, `token` the exchange, `flow`
/// the whole. A failure counts as an error; a sign-in the server refuses as busy (503) is counted
/// apart and waited out (its `Retry-After`, not past `deadline`) before the next attempt.
pub async fn flow_loop<F, Fut>(shared: &Shared, deadline: Instant, limit: usize, mut attempt: F) -> Samples
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Code, SignInFailure>>,
{
    let mut samples = Samples::default();
    let mut tried = 0;
    while Instant::now() < deadline && tried < limit && !shared.stop.is_cancelled() {
        tried += 1;
        let code = attempt();
        let t0 = Instant::now();
        let code = match code.await {
            Ok(c) => c,
            Err(SignInFailure::Failed(e)) => {
                samples.fail(e);
                continue;
            }
            Err(SignInFailure::Busy(busy)) => {
                samples.refused(&busy);
                browser::pause(shared, browser::retry_delay(busy.retry_after), deadline).await;
                continue;
            }
        };
        let t1 = Instant::now();
        if let Err(e) = browser::redeem(shared, &code).await {
            samples.fail(e);
            continue;
        }
        let t2 = Instant::now();
        samples.authorize.push(t1 - t0);
        samples.token.push(t2 - t1);
        samples.flow.push(t2 - t0);
    }
    samples
}

/// A measured phase (2 or 4) over `tasks` browsers or workers: first the warm-up (see
/// `warm_up_until`; only its failures count), then `started()` (the phase's announcement), then
/// `run(task, deadline, limit)` for each task at once for `duration` (or until SIGTERM). Returns
/// the samples, the wall seconds and where the CPU went meanwhile.
pub async fn measured_phase<F, Fut>(
    shared: &Shared,
    tasks: usize,
    duration: Duration,
    started: impl FnOnce(),
    run: F,
) -> (Samples, f64, CpuSplit)
where
    F: Fn(usize, Instant, usize) -> Fut,
    Fut: Future<Output = Samples> + Send + 'static,
{
    let mut samples = Samples::default();
    let warm_up = (0..tasks).map(|i| tokio::spawn(run(i, warm_up_until(), 1))).collect::<Vec<_>>();
    for handle in warm_up {
        samples.merge_errors(handle.await.expect("task"));
    }
    started();
    let a = &shared.args;
    let cpu0 = cpu::cpu_sample(a);
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let handles = (0..tasks).map(|i| tokio::spawn(run(i, deadline, usize::MAX))).collect::<Vec<_>>();
    for handle in handles {
        samples.merge(handle.await.expect("task"));
    }
    let wall = t0.elapsed().as_secs_f64();
    let split = CpuSplit::between(a, cpu0, cpu::cpu_sample(a), samples.flow.len());
    (samples, wall, split)
}

/// SIGTERM ends the running phase early (see `Shared::stop`); a second one exits at once.
fn stop_on_sigterm(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut terms) = signal(SignalKind::terminate()) else { return };
    tokio::spawn(async move {
        while terms.recv().await.is_some() {
            if stop.is_cancelled() {
                std::process::exit(143);
            }
            eprintln!("code_flow_load: SIGTERM: ending the running phase");
            stop.cancel();
        }
    });
}

/// The authorization and token endpoints from the discovery document.
async fn discover(args: &Args) -> (String, String) {
    let url = format!("{}/.well-known/openid-configuration", args.base);
    let found = async {
        let json: serde_json::Value =
            reqwest::get(&url).await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
        let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_string);
        match (field("authorization_endpoint"), field("token_endpoint")) {
            (Some(a), Some(t)) => Ok((a, t)),
            _ => Err(format!("no authorization_endpoint or token_endpoint in {json}")),
        }
    }
    .await;
    found.unwrap_or_else(|e: String| {
        eprintln!("code_flow_load: discovery at {url}: {e}");
        std::process::exit(1)
    })
}

#[tokio::main]
async fn main() {
    let args = args::parse_args();
    if args.hash_password {
        return accounts::hash_password(&args).await;
    }
    if let Some(count) = args.make_accounts {
        return accounts::make_accounts(&args, count);
    }
    let (authorization_endpoint, token_endpoint) = discover(&args).await;
    let rp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.users.max(args.password_browsers))
        .build()
        .expect("http client");
    let stop = CancellationToken::new();
    stop_on_sigterm(stop.clone());
    let shared = Arc::new(Shared { args, authorization_endpoint, token_endpoint, rp, stop });
    if shared.args.flood.username.is_some() {
        return flood::flood(shared).await;
    }
    let a = &shared.args;
    println!(
        "code flow load ({}): {} browsers, {} accounts, against {} ({})",
        a.target.name(),
        a.users,
        a.accounts,
        a.base,
        shared.authorization_endpoint
    );

    let signins = sso::sign_in_all(&shared).await;
    let sso = sso::sso_phase(&shared, &signins.browsers).await;
    let exchange = exchange::exchange_phase(&shared, &signins.browsers).await;
    let password = password::password_phase(&shared).await;

    println!(
        "RESULT flows_per_s={:.0} authorize_p50_ms={:.2} authorize_p99_ms={:.2} \
         token_p50_ms={:.2} token_p99_ms={:.2} flow_p50_ms={:.2} flow_p99_ms={:.2} \
         flow_errors={} exchange_per_s={:.0} exchange_p50_ms={:.2} \
         exchange_p99_ms={:.2} exchange_errors={} signin_p50_ms={:.1} signin_p99_ms={:.1} \
         target={} accounts={} password_flows_per_s={:.1} password_flow_p50_ms={:.2} \
         password_flow_p99_ms={:.2} password_signin_p50_ms={:.2} \
         password_signin_p99_ms={:.2} password_errors={} {} {} signin_busy={} \
         password_attempts={} password_busy={} password_busy_p50_ms={:.2} \
         password_busy_p99_ms={:.2} password_busy_without_retry_after={} password_secs={:.1}",
        sso.per_s,
        sso.authorize.0,
        sso.authorize.1,
        sso.token.0,
        sso.token.1,
        sso.flow.0,
        sso.flow.1,
        sso.errors,
        exchange.per_s,
        exchange.token.0,
        exchange.token.1,
        exchange.errors,
        signins.times.0,
        signins.times.1,
        a.target.name(),
        a.accounts,
        password.per_s,
        password.flow.0,
        password.flow.1,
        password.signin.0,
        password.signin.1,
        password.errors,
        sso.cpu.keys("sso"),
        password.cpu.keys("password"),
        signins.busy,
        password.attempts,
        password.busy,
        password.busy_times.0,
        password.busy_times.1,
        password.busy_without_retry_after,
        password.wall,
    );
    if sso.errors + exchange.errors + password.errors > 0 {
        std::process::exit(1);
    }
}
