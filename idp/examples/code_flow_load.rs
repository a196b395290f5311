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

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use idp::crypto;
use idp::domain::{Secret, Username};
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use tokio_util::sync::CancellationToken;
use url::Url;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Poortwachter,
    Node,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Poortwachter => "poortwachter",
            Target::Node => "node",
        }
    }

    /// Where the authorization endpoint sends a browser without a session.
    fn signin_path(self) -> &'static str {
        match self {
            Target::Poortwachter => "/login",
            Target::Node => "/interaction/",
        }
    }
}

struct Args {
    target: Target,
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    scope: String,
    users: usize,
    accounts: usize,
    user_prefix: String,
    password: String,
    duration: Duration,
    mint_secs: Duration,
    password_secs: Duration,
    password_browsers: usize,
    server_pid: Option<u32>,
    db_match: Vec<String>,
    peer_pids: Vec<u32>,
    clk_tck: f64,
    hash_password: bool,
    make_accounts: Option<usize>,
    flood: Flood,
}

/// `--flood USERNAME`: wrong passwords for one account from many client addresses (see [`flood`]).
struct Flood {
    username: Option<String>,
    secs: Duration,
    rate: f64,
    forms: usize,
    addresses: u32,
    limit: u64,
    bystanders: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        target: Target::Poortwachter,
        base: "http://127.0.0.1:18181".into(),
        client_id: String::new(),
        client_secret: String::new(),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        scope: "openid profile".into(),
        users: 64,
        accounts: 0,
        user_prefix: "u".into(),
        password: String::new(),
        duration: Duration::from_secs(10),
        mint_secs: Duration::from_secs(3),
        password_secs: Duration::ZERO,
        password_browsers: 8,
        server_pid: None,
        db_match: Vec::new(),
        peer_pids: Vec::new(),
        clk_tck: 100.0,
        hash_password: false,
        make_accounts: None,
        flood: Flood {
            username: None,
            secs: Duration::from_secs(10),
            rate: 200.0,
            forms: 16,
            addresses: 1000,
            limit: 5,
            bystanders: 8,
        },
    };
    let secs = |v: String, flag: &str| {
        Duration::from_secs_f64(v.parse().unwrap_or_else(|_| usage(&format!("{flag}: seconds"))))
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--target" => {
                args.target = match value().as_str() {
                    "poortwachter" => Target::Poortwachter,
                    "node" => Target::Node,
                    _ => usage("--target: poortwachter or node"),
                }
            }
            "--base" => args.base = value().trim_end_matches('/').to_string(),
            "--client-id" => args.client_id = value(),
            "--client-secret" => args.client_secret = value(),
            "--redirect-uri" => args.redirect_uri = value(),
            "--scope" => args.scope = value(),
            "--users" => args.users = value().parse().unwrap_or_else(|_| usage("--users: a number")),
            "--accounts" => args.accounts = value().parse().unwrap_or_else(|_| usage("--accounts: a number")),
            "--user-prefix" => args.user_prefix = value(),
            "--password" => args.password = value(),
            "--duration" => args.duration = secs(value(), "--duration"),
            "--mint-secs" => args.mint_secs = secs(value(), "--mint-secs"),
            "--password-secs" => args.password_secs = secs(value(), "--password-secs"),
            "--password-browsers" => {
                args.password_browsers = value().parse().unwrap_or_else(|_| usage("--password-browsers: a number"))
            }
            "--server-pid" => args.server_pid = Some(value().parse().unwrap_or_else(|_| usage("--server-pid: a pid"))),
            "--db-match" => args.db_match.push(value()),
            "--peer-pid" => args.peer_pids.push(value().parse().unwrap_or_else(|_| usage("--peer-pid: a pid"))),
            "--clk-tck" => args.clk_tck = value().parse().unwrap_or_else(|_| usage("--clk-tck: a number")),
            "--hash-password" => args.hash_password = true,
            "--make-accounts" => {
                args.make_accounts = Some(value().parse().unwrap_or_else(|_| usage("--make-accounts: a number")))
            }
            "--flood" => args.flood.username = Some(value()),
            "--flood-secs" => args.flood.secs = secs(value(), "--flood-secs"),
            "--flood-rate" => {
                args.flood.rate = value().parse().unwrap_or_else(|_| usage("--flood-rate: attempts per second"))
            }
            "--flood-forms" => args.flood.forms = value().parse().unwrap_or_else(|_| usage("--flood-forms: a number")),
            "--flood-addresses" => {
                args.flood.addresses = value().parse().unwrap_or_else(|_| usage("--flood-addresses: a number"))
            }
            "--flood-limit" => args.flood.limit = value().parse().unwrap_or_else(|_| usage("--flood-limit: a number")),
            "--bystanders" => {
                args.flood.bystanders = value().parse().unwrap_or_else(|_| usage("--bystanders: a number"))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.accounts == 0 {
        args.accounts = args.users;
    }
    if args.hash_password {
        if args.password.is_empty() {
            usage("--hash-password needs --password");
        }
        return args;
    }
    if args.make_accounts.is_some() {
        return args;
    }
    if args.client_id.is_empty()
        || args.client_secret.is_empty()
        || args.password.is_empty()
        || args.users == 0
        || args.password_browsers == 0
    {
        usage("--client-id, --client-secret, --password, --users (≥ 1) and --password-browsers (≥ 1) are required");
    }
    let f = &args.flood;
    if f.username.is_some()
        && (f.secs.is_zero()
            || f.rate.is_nan()
            || f.rate <= 0.0
            || f.forms == 0
            || f.addresses == 0
            || f.addresses > 1 << 24
            || args.target != Target::Poortwachter)
    {
        usage("--flood needs --flood-secs > 0, --flood-rate > 0, --flood-forms ≥ 1, 1 ≤ --flood-addresses ≤ 2^24 and --target poortwachter");
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("code_flow_load: {problem}");
    }
    eprintln!(
        "usage: code_flow_load [--target poortwachter|node] --base URL --client-id ID --client-secret SECRET \
         --redirect-uri URI --users N [--accounts N] --user-prefix u --password PW [--scope 'openid profile'] \
         [--duration SECS] [--mint-secs SECS] [--password-secs SECS] [--password-browsers N] \
         [--server-pid PID [--db-match TEXT]... [--peer-pid PID]... [--clk-tck HZ]]\n\
         \x20      code_flow_load --flood USERNAME [--flood-secs 10] [--flood-rate 200] [--flood-forms 16] \
         [--flood-addresses 1000] [--flood-limit 5] [--bystanders 8] --base … --client-id … (as above)\n\
         \x20      code_flow_load --hash-password --password PW\n\
         \x20      code_flow_load --make-accounts N [--user-prefix u]\n\
         accounts are <prefix>1 .. <prefix>N (N = --accounts, default --users), all with the same password"
    );
    std::process::exit(2)
}

/// Latency samples and failures of one phase.
#[derive(Default)]
struct Samples {
    authorize: Vec<Duration>,
    token: Vec<Duration>,
    flow: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
    /// Sign-ins the server refused because its password checks were all taken (503): not errors.
    busy: u64,
    /// How long each of those 503 answers took (the sign-in POST alone).
    busy_times: Vec<Duration>,
    /// 503 answers without a usable `Retry-After` (delay-seconds).
    busy_without_retry_after: u64,
}

impl Samples {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn refused(&mut self, busy: &Busy) {
        self.busy += 1;
        self.busy_times.push(busy.answered_in);
        if busy.retry_after.is_none() {
            self.busy_without_retry_after += 1;
        }
    }

    /// Only the failures of `other` (an unmeasured warm-up).
    fn merge_errors(&mut self, other: Samples) {
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn merge(&mut self, other: Samples) {
        self.authorize.extend(other.authorize);
        self.token.extend(other.token);
        self.flow.extend(other.flow);
        self.busy += other.busy;
        self.busy_times.extend(other.busy_times);
        self.busy_without_retry_after += other.busy_without_retry_after;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The `p`-quantile (0..1) in milliseconds, nearest-rank.
fn quantile_ms(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1].as_secs_f64() * 1000.0
}

/// CPU time read from `/proc`, in clock ticks, to split a phase's CPU between the server, the
/// database processes, this driver and everything else.
#[derive(Clone, Copy)]
struct CpuSample {
    at: Instant,
    busy: u64,
    server: u64,
    /// The server's threads named `argon2-*`: Poortwachter's password hashing.
    server_hash: u64,
    db: u64,
    me: u64,
    /// `--peer-pid` processes: another load generator running meanwhile (a sign-in storm).
    peers: u64,
}

/// utime + stime of a process (all its threads), from `/proc/<pid>/stat`.
fn proc_ticks(stat_path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state), so utime (field 14) and stime (15) are rest[11] and rest[12].
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// utime + stime of the threads of `pid` whose name starts with `prefix`.
fn thread_ticks(pid: u32, prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    dir.flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix)))
        .filter_map(|t| proc_ticks(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// Busy ticks of the whole machine: user + nice + system + irq + softirq + steal.
fn busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    Some(cpu.first()? + cpu.get(1)? + cpu.get(2)? + cpu.get(5)? + cpu.get(6)? + cpu.get(7)?)
}

/// CPU ticks of the processes whose command line contains one of `patterns`, except `skip` and
/// load drivers (a command line with `--db-match`).
fn matching_ticks(patterns: &[String], skip: &[u32]) -> u64 {
    if patterns.is_empty() {
        return 0;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut total = 0;
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if skip.contains(&pid) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // Another load driver given the same patterns (a storm beside this run) is no database.
        if cmdline.contains("--db-match") {
            continue;
        }
        if patterns.iter().any(|p| cmdline.contains(p.as_str())) {
            total += proc_ticks(&format!("/proc/{pid}/stat")).unwrap_or(0);
        }
    }
    total
}

fn cpu_sample(args: &Args) -> Option<CpuSample> {
    let server_pid = args.server_pid?;
    Some(CpuSample {
        at: Instant::now(),
        busy: busy_ticks()?,
        server: proc_ticks(&format!("/proc/{server_pid}/stat"))?,
        server_hash: thread_ticks(server_pid, "argon2-"),
        db: matching_ticks(&args.db_match, &[&[server_pid, std::process::id()], args.peer_pids.as_slice()].concat()),
        me: proc_ticks("/proc/self/stat")?,
        peers: args.peer_pids.iter().filter_map(|p| proc_ticks(&format!("/proc/{p}/stat"))).sum(),
    })
}

/// Cores used between two samples: (server, database, load generator, other), and the server's
/// and the database's CPU milliseconds per completed flow. Apart: the server's password-hashing
/// threads (part of `server`) and the `--peer-pid` processes (not part of `other`).
struct CpuSplit {
    server: f64,
    server_hash: f64,
    db: f64,
    generator: f64,
    peers: f64,
    other: f64,
    server_ms_per_flow: f64,
    db_ms_per_flow: f64,
}

impl CpuSplit {
    const NONE: CpuSplit = CpuSplit {
        server: f64::NAN,
        server_hash: f64::NAN,
        db: f64::NAN,
        generator: f64::NAN,
        peers: f64::NAN,
        other: f64::NAN,
        server_ms_per_flow: f64::NAN,
        db_ms_per_flow: f64::NAN,
    };

    fn between(args: &Args, a: Option<CpuSample>, b: Option<CpuSample>, flows: usize) -> CpuSplit {
        let (Some(a), Some(b)) = (a, b) else { return CpuSplit::NONE };
        let wall = (b.at - a.at).as_secs_f64();
        let cores = |ticks: u64| ticks as f64 / args.clk_tck / wall;
        let server = cores(b.server.saturating_sub(a.server));
        // A database process that started or ended within the phase counts only partly.
        let db = cores(b.db.saturating_sub(a.db));
        let generator = cores(b.me.saturating_sub(a.me));
        let server_hash = cores(b.server_hash.saturating_sub(a.server_hash));
        // A peer that ended within the phase counts only partly.
        let peers = cores(b.peers.saturating_sub(a.peers));
        let other = (cores(b.busy.saturating_sub(a.busy)) - server - db - generator - peers).max(0.0);
        let per_flow = |ticks: u64| {
            if flows == 0 {
                f64::NAN
            } else {
                ticks as f64 / args.clk_tck * 1000.0 / flows as f64
            }
        };
        let server_ms_per_flow = per_flow(b.server.saturating_sub(a.server));
        let db_ms_per_flow = per_flow(b.db.saturating_sub(a.db));
        CpuSplit { server, server_hash, db, generator, peers, other, server_ms_per_flow, db_ms_per_flow }
    }

    fn line(&self) -> String {
        format!(
            "CPU cores server (of which hashing) / database / load generator / other load generator / other: \
             {:.2} ({:.2}) / {:.2} / {:.2} / {:.2} / {:.2}; CPU per flow: server {:.2} ms, database {:.2} ms",
            self.server,
            self.server_hash,
            self.db,
            self.generator,
            self.peers,
            self.other,
            self.server_ms_per_flow,
            self.db_ms_per_flow
        )
    }

    fn keys(&self, prefix: &str) -> String {
        format!(
            "{prefix}_cpu_server={:.2} {prefix}_cpu_db={:.2} {prefix}_cpu_gen={:.2} {prefix}_cpu_other={:.2} \
             {prefix}_server_cpu_ms_per_flow={:.2} {prefix}_db_cpu_ms_per_flow={:.2} {prefix}_cpu_server_hash={:.2} \
             {prefix}_cpu_peers={:.2}",
            self.server,
            self.db,
            self.generator,
            self.other,
            self.server_ms_per_flow,
            self.db_ms_per_flow,
            self.server_hash,
            self.peers
        )
    }
}

struct Shared {
    args: Args,
    /// From the discovery document.
    authorization_endpoint: String,
    token_endpoint: String,
    /// The relying party's back channel: one pool, as a portal's server would have.
    rp: reqwest::Client,
    /// Cancelled by SIGTERM: the running phase ends early (its figures over the time it ran) and
    /// the driver reports as usual; a second SIGTERM exits at once.
    stop: CancellationToken,
}

/// One pending authorization: the code and the PKCE verifier that redeems it.
struct Code {
    code: String,
    verifier: String,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn location(response: &reqwest::Response) -> Result<String, String> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("expected a redirect, got {}", response.status()))
}

/// A `Location` (absolute or relative) resolved against the URL that answered with it.
fn resolve(from: &Url, location: &str) -> Result<Url, String> {
    from.join(location).map_err(|e| format!("bad location {location}: {e}"))
}

/// Starts an authorization request; returns the `Location` the IdP answers with (resolved),
/// the verifier and the state.
async fn authorize(shared: &Shared, browser: &reqwest::Client) -> Result<(String, String, String), String> {
    let a = &shared.args;
    let verifier = crypto::random_token(32);
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let state = crypto::random_token(12);
    let mut url = Url::parse(&shared.authorization_endpoint).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &a.client_id)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair("scope", &a.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &crypto::random_token(12))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let response = browser.get(url.clone()).send().await.map_err(|e| format!("authorize: {e}"))?;
    if response.status() != StatusCode::SEE_OTHER && response.status() != StatusCode::FOUND {
        return Err(format!("authorize answered {}", response.status()));
    }
    let to = location(&response)?;
    // The code's redirect stays as sent (compared with the redirect URI); the sign-in page resolved.
    let to = if to.starts_with(&a.redirect_uri) { to } else { resolve(&url, &to)?.to_string() };
    Ok((to, verifier, state))
}

/// Reads the code from the redirect back to the portal, checking `state`.
fn code_from(shared: &Shared, location: &str, state: &str, verifier: String) -> Result<Code, String> {
    if !location.starts_with(&shared.args.redirect_uri) {
        return Err(format!("not redirected to the portal: {location}"));
    }
    let url = Url::parse(location).map_err(|e| e.to_string())?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    if let Some(error) = param("error") {
        return Err(format!("authorization error: {error}"));
    }
    if param("state").as_deref() != Some(state) {
        return Err("state does not round-trip".into());
    }
    let code = param("code").ok_or("no code in the redirect")?;
    Ok(Code { code, verifier })
}

/// The RP redeems a code (RFC 6749 §4.1.3, `client_secret_basic`, PKCE).
async fn redeem(shared: &Shared, code: &Code) -> Result<(), String> {
    let a = &shared.args;
    let response = shared
        .rp
        .post(&shared.token_endpoint)
        .basic_auth(&a.client_id, Some(&a.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code.code),
            ("redirect_uri", &a.redirect_uri),
            ("code_verifier", &code.verifier),
        ])
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("token body: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("token answered {status}: {}", String::from_utf8_lossy(&body)));
    }
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("token json: {e}"))?;
    if json.get("access_token").is_none() || json.get("id_token").is_none() {
        return Err(format!("token response lacks tokens: {json}"));
    }
    Ok(())
}

/// The sign-in form of a page: the form with a `password` field, its action resolved against
/// the page, and its hidden fields (Poortwachter's `interaction` and `csrf`; none for node).
fn signin_form(page_url: &Url, page: &str) -> Result<(Url, Vec<(String, String)>), String> {
    let html = Html::parse_document(page);
    let forms = Selector::parse("form").expect("selector");
    let password = Selector::parse("input[name=\"password\"]").expect("selector");
    let hidden = Selector::parse("input[type=\"hidden\"][name]").expect("selector");
    let form = html
        .select(&forms)
        .find(|f| f.select(&password).next().is_some())
        .ok_or_else(|| format!("no sign-in form at {page_url}"))?;
    let action = match form.value().attr("action") {
        Some(a) if !a.is_empty() => resolve(page_url, a)?,
        _ => page_url.clone(),
    };
    let fields = form
        .select(&hidden)
        .filter_map(|i| Some((i.value().attr("name")?.to_string(), i.value().attr("value").unwrap_or("").to_string())))
        .collect();
    Ok((action, fields))
}

/// The username of account `n` (1-based).
fn username(args: &Args, n: usize) -> String {
    format!("{}{}", args.user_prefix, n)
}

/// A sign-in form ready to post: where to, its hidden fields, and the authorization request's
/// state and PKCE verifier.
struct SigninForm {
    action: Url,
    fields: Vec<(String, String)>,
    state: String,
    verifier: String,
}

/// A browser without a session starts an authorization request and reads the sign-in form.
async fn open_signin_form(shared: &Shared, browser: &reqwest::Client) -> Result<SigninForm, String> {
    let a = &shared.args;
    let (to_signin, verifier, state) = authorize(shared, browser).await?;
    let page_url = Url::parse(&to_signin).map_err(|e| format!("sign-in page {to_signin}: {e}"))?;
    if !page_url.path().starts_with(a.target.signin_path()) {
        return Err(format!("expected the sign-in page ({}…), got {to_signin}", a.target.signin_path()));
    }
    let response = browser.get(page_url.clone()).send().await.map_err(|e| format!("sign-in page: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("sign-in page answered {}", response.status()));
    }
    let page = response.text().await.map_err(|e| format!("sign-in page: {e}"))?;
    let (action, fields) = signin_form(&page_url, &page)?;
    Ok(SigninForm { action, fields, state, verifier })
}

/// The server's answer to a posted sign-in form, read to the end, and how long it took.
struct Posted {
    status: StatusCode,
    location: Option<String>,
    retry_after: Option<Duration>,
    took: Duration,
}

/// Posts `form` with `username` and `password`; `forwarded_for` is sent as `X-Forwarded-For`
/// (a client address, for a server configured to trust it).
async fn post_signin(
    browser: &reqwest::Client,
    form: &SigninForm,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> Result<Posted, String> {
    let mut fields = form.fields.clone();
    fields.push(("username".into(), username.to_string()));
    fields.push(("password".into(), password.to_string()));
    let mut request = browser.post(form.action.clone()).form(&fields);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    let t0 = Instant::now();
    let response = request.send().await.map_err(|e| format!("sign-in: {e}"))?;
    let status = response.status();
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    };
    let location = header(LOCATION);
    // RFC 9110 §10.2.3: delay-seconds (an HTTP date is not what Poortwachter sends).
    let retry_after =
        header(reqwest::header::RETRY_AFTER).and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
    response.bytes().await.map_err(|e| format!("sign-in answer: {e}"))?;
    Ok(Posted { status, location, retry_after, took: t0.elapsed() })
}

/// After the sign-in POST redirected: follow the server's own redirects (node: back to
/// /auth/:uid) until it sends the browser back to the portal with the code.
async fn code_after_signin(
    shared: &Shared,
    browser: &reqwest::Client,
    form: SigninForm,
    posted: &Posted,
    username: &str,
) -> Result<Code, String> {
    let a = &shared.args;
    if !posted.status.is_redirection() {
        return Err(format!("sign-in of {username} answered {}", posted.status));
    }
    let mut from = form.action;
    let mut to = posted.location.clone().ok_or_else(|| format!("expected a redirect, got {}", posted.status))?;
    for _ in 0..5 {
        if to.starts_with(&a.redirect_uri) {
            break;
        }
        let next = resolve(&from, &to)?;
        let response = browser.get(next.clone()).send().await.map_err(|e| format!("after sign-in: {e}"))?;
        if !response.status().is_redirection() {
            return Err(format!("after the sign-in of {username}, {next} answered {}", response.status()));
        }
        to = location(&response)?;
        from = next;
    }
    code_from(shared, &to, &form.state, form.verifier)
}

/// A sign-in refused because every password check was taken (503): not an error but an answer,
/// to be tried again after `Retry-After`.
struct Busy {
    answered_in: Duration,
    retry_after: Option<Duration>,
}

enum SignInFailure {
    Busy(Busy),
    Failed(String),
}

impl From<String> for SignInFailure {
    fn from(error: String) -> Self {
        SignInFailure::Failed(error)
    }
}

/// A browser without a session signs in with the password: authorize → sign-in page → POST →
/// (node: resume at /auth/:uid) → the code.
async fn sign_in_for_code(shared: &Shared, browser: &reqwest::Client, username: &str) -> Result<Code, SignInFailure> {
    let form = open_signin_form(shared, browser).await?;
    let posted = post_signin(browser, &form, username, &shared.args.password, None).await?;
    if posted.status == StatusCode::SERVICE_UNAVAILABLE {
        return Err(SignInFailure::Busy(Busy { answered_in: posted.took, retry_after: posted.retry_after }));
    }
    Ok(code_after_signin(shared, browser, form, &posted, username).await?)
}

/// How long a refused sign-in waits before it tries again: the server's `Retry-After` (1 s when
/// it gave none), at most 10 s.
fn retry_delay(retry_after: Option<Duration>) -> Duration {
    retry_after.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(10))
}

/// Sleeps for `delay`, but not past `deadline` nor past a stop (SIGTERM).
async fn pause(shared: &Shared, delay: Duration, deadline: Instant) {
    let until = (Instant::now() + delay).min(deadline);
    tokio::select! {
        _ = tokio::time::sleep_until(until.into()) => {}
        _ = shared.stop.cancelled() => {}
    }
}

/// Phase 1 tries a refused sign-in again this many times (after `Retry-After` each time).
const MAX_BUSY_RETRIES: u32 = 120;

/// First visit: the sign-in form, with the password; returns the browser with its SSO cookie and
/// how many times the server answered 503 (each waited out and tried again, as a person would).
async fn sign_in(shared: &Shared, index: usize) -> Result<(reqwest::Client, Duration, u32), String> {
    let a = &shared.args;
    let browser = browser();
    let started = Instant::now();
    // Browsers spread over the accounts (browser i is account i + 1 when there are as many).
    let n = index * a.accounts / a.users + 1;
    let mut busy = 0;
    let code = loop {
        match sign_in_for_code(shared, &browser, &username(a, n)).await {
            Ok(code) => break code,
            Err(SignInFailure::Failed(e)) => return Err(e),
            Err(SignInFailure::Busy(b)) if busy < MAX_BUSY_RETRIES && !shared.stop.is_cancelled() => {
                busy += 1;
                pause(shared, retry_delay(b.retry_after), Instant::now() + Duration::from_secs(60)).await;
            }
            Err(SignInFailure::Busy(_)) => return Err(format!("the server was busy {} times in a row", busy + 1)),
        }
    };
    let elapsed = started.elapsed();
    redeem(shared, &code).await?;
    Ok((browser, elapsed, busy))
}

/// Phase 2 for one browser: SSO authorize → code → token, until `deadline` or `limit` flows.
async fn flows(shared: Arc<Shared>, browser: reqwest::Client, deadline: Instant, limit: usize) -> Samples {
    let mut samples = Samples::default();
    let mut tried = 0;
    while Instant::now() < deadline && tried < limit && !shared.stop.is_cancelled() {
        tried += 1;
        let t0 = Instant::now();
        let code = match authorize(&shared, &browser).await {
            Ok((location, verifier, state)) => code_from(&shared, &location, &state, verifier),
            Err(e) => Err(e),
        };
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                samples.fail(e);
                continue;
            }
        };
        let t1 = Instant::now();
        if let Err(e) = redeem(&shared, &code).await {
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

/// Phase 4 for one worker: password flows, each a fresh browser and a random account, until
/// `deadline` or `limit` attempts. `authorize` holds the sign-in part (authorize to code), `token`
/// the exchange. A sign-in the server refuses as busy (503) is counted apart, not as an error, and
/// the worker waits its `Retry-After` before the next attempt (a fresh browser again).
async fn password_flows(shared: Arc<Shared>, worker: usize, deadline: Instant, limit: usize) -> Samples {
    let a = &shared.args;
    let mut samples = Samples::default();
    // xorshift64*, seeded per worker: which account signs in next.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ ((worker as u64 + 1) << 17) ^ std::process::id() as u64;
    let mut tried = 0;
    while Instant::now() < deadline && tried < limit && !shared.stop.is_cancelled() {
        tried += 1;
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let n = (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) % a.accounts as u64) as usize + 1;
        let browser = browser();
        let t0 = Instant::now();
        let code = match sign_in_for_code(&shared, &browser, &username(a, n)).await {
            Ok(c) => c,
            Err(SignInFailure::Failed(e)) => {
                samples.fail(e);
                continue;
            }
            Err(SignInFailure::Busy(busy)) => {
                samples.refused(&busy);
                pause(&shared, retry_delay(busy.retry_after), deadline).await;
                continue;
            }
        };
        let t1 = Instant::now();
        if let Err(e) = redeem(&shared, &code).await {
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

/// Before a measured phase (2 or 4), one unmeasured flow per browser or worker, all at once, so
/// that the connections the phase uses are open (the RP's pool grows to one per browser) and the
/// server's code is warm. Without it, the burst of new connections at the start (which
/// node-oidc-provider accepts one event-loop turn at a time, up to 0.7 s late) dominates the p99.
fn warm_up_until() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// Sign-ins in flight at once in phase 1.
const SIGNIN_CONCURRENCY: usize = 8;

/// At most this many codes per browser in phase 3, so all are redeemed well within their lifetime.
const MAX_CODES_PER_BROWSER: usize = 200;

/// Phase 3a for one browser: collect codes for `mint` (or up to the cap) without redeeming them.
async fn mint(shared: Arc<Shared>, browser: reqwest::Client, mint: Duration) -> (Vec<Code>, Samples) {
    let mut samples = Samples::default();
    let mut codes = Vec::new();
    let until = Instant::now() + mint;
    while Instant::now() < until && codes.len() < MAX_CODES_PER_BROWSER && !shared.stop.is_cancelled() {
        match authorize(&shared, &browser).await {
            Ok((location, verifier, state)) => match code_from(&shared, &location, &state, verifier) {
                Ok(code) => codes.push(code),
                Err(e) => samples.fail(e),
            },
            Err(e) => samples.fail(e),
        }
    }
    (codes, samples)
}

/// Phase 3b for one worker: redeem its share of the codes, back to back.
async fn exchange(shared: Arc<Shared>, codes: Vec<Code>) -> Samples {
    let mut samples = Samples::default();
    for code in codes {
        let t0 = Instant::now();
        match redeem(&shared, &code).await {
            Ok(()) => samples.token.push(t0.elapsed()),
            Err(e) => samples.fail(e),
        }
    }
    samples
}

fn report_errors(phase: &str, samples: &Samples) {
    if let Some(e) = &samples.first_error {
        eprintln!("{phase}: {} errors; first: {e}", samples.errors);
    }
}

/// `--hash-password`: one Argon2id hash made by Poortwachter's own code, for bulk-made accounts.
async fn hash_password(args: &Args) {
    match idp::auth::password::hash(Secret::new(args.password.clone())).await {
        Ok(hash) => println!("{}", hash.expose()),
        Err(e) => {
            eprintln!("code_flow_load: {e}");
            std::process::exit(1);
        }
    }
}

/// `--make-accounts N`: CSV rows for accounts `<prefix>1` … `<prefix>N`, the username's forms
/// (shown, normalised, look-alike skeleton) computed as `idp-admin user create` computes them,
/// a random UUID id and a random subject, as `admin::create_user` makes them.
fn make_accounts(args: &Args, count: usize) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "id,subject,username,username_normalised,username_skeleton")?;
        for n in 1..=count {
            let name = username(args, n);
            let parsed = Username::parse(&name).unwrap_or_else(|e| {
                eprintln!("code_flow_load: username {name}: {e}");
                std::process::exit(2)
            });
            for field in [parsed.display(), parsed.normalised(), parsed.skeleton()] {
                if field.contains([',', '"', '\n']) {
                    eprintln!("code_flow_load: username {name} needs CSV quoting; choose a plain prefix");
                    std::process::exit(2);
                }
            }
            writeln!(
                out,
                "{},{},{},{},{}",
                uuid::Uuid::new_v4(),
                crypto::random_token(16),
                parsed.display(),
                parsed.normalised(),
                parsed.skeleton()
            )?;
        }
        out.flush()
    };
    if let Err(e) = write() {
        eprintln!("code_flow_load: writing accounts: {e}");
        std::process::exit(1);
    }
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

/// The answers to a run of wrong passwords for one account.
#[derive(Default)]
struct FloodTally {
    sent: u64,
    /// 401: the password was checked (and was wrong).
    checked: u64,
    /// 429: the username is paused.
    paused: u64,
    /// 503: every password check was taken; nothing counted.
    busy: u64,
    busy_without_retry_after: u64,
    /// Anything else (another status, a transport error): a failure of the run.
    unexpected: u64,
    first_unexpected: Option<String>,
    checked_times: Vec<Duration>,
    /// 429 and 503 answers.
    refused_times: Vec<Duration>,
}

impl FloodTally {
    fn count(&mut self, answer: &Result<Posted, String>) {
        self.sent += 1;
        let posted = match answer {
            Ok(p) => p,
            Err(e) => {
                self.unexpected += 1;
                self.first_unexpected.get_or_insert_with(|| e.clone());
                return;
            }
        };
        match posted.status {
            StatusCode::UNAUTHORIZED => {
                self.checked += 1;
                self.checked_times.push(posted.took);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                self.paused += 1;
                self.refused_times.push(posted.took);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                self.busy += 1;
                self.refused_times.push(posted.took);
                if posted.retry_after.is_none() {
                    self.busy_without_retry_after += 1;
                }
            }
            other => {
                self.unexpected += 1;
                self.first_unexpected.get_or_insert_with(|| format!("a wrong password answered {other}"));
            }
        }
    }
}

/// The client address of flood attempt `n`: 10.0.0.0/8, cycling through `addresses` of them.
fn flood_address(n: u64, addresses: u32) -> String {
    let k = (n % u64::from(addresses)) as u32;
    format!("10.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255)
}

/// Others signing in during the flood: sign-ins that succeeded, failed, and how often they were
/// refused as busy (503) and tried again.
#[derive(Default)]
struct BystanderTally {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    busy: u64,
    /// From the authorization request to the code, waits after a 503 included.
    times: Vec<Duration>,
}

/// One sign-in by someone else (a fresh browser, the right password, client address `address`):
/// after a 503 the same form is posted again after `Retry-After`, as a person would.
async fn bystander_sign_in(shared: &Shared, username: &str, address: &str, busy: &mut u64) -> Result<Duration, String> {
    let browser = browser();
    let t0 = Instant::now();
    let form = open_signin_form(shared, &browser).await?;
    let mut refused = 0;
    let posted = loop {
        let posted = post_signin(&browser, &form, username, &shared.args.password, Some(address)).await?;
        if posted.status != StatusCode::SERVICE_UNAVAILABLE {
            break posted;
        }
        *busy += 1;
        refused += 1;
        if refused > MAX_BUSY_RETRIES || shared.stop.is_cancelled() {
            return Err(format!("the sign-in of {username} was refused as busy {refused} times in a row"));
        }
        pause(shared, retry_delay(posted.retry_after), Instant::now() + Duration::from_secs(60)).await;
    };
    let code = code_after_signin(shared, &browser, form, &posted, username).await?;
    let took = t0.elapsed();
    redeem(shared, &code).await?;
    Ok(took)
}

/// Bystander `index`: sign-ins as random accounts (never the flooded one) from an address of its
/// own in 172.16.0.0/12, one after another until `deadline` (at least one).
async fn bystander(shared: Arc<Shared>, index: usize, deadline: Instant) -> BystanderTally {
    let a = &shared.args;
    let flooded = a.flood.username.as_deref().unwrap_or_default();
    let address = format!("172.{}.{}.{}", 16 + ((index >> 16) & 15), (index >> 8) & 255, index & 255);
    let mut tally = BystanderTally::default();
    let mut seed = 0xD1B5_4A32_D192_ED03u64 ^ ((index as u64 + 1) << 23) ^ u64::from(std::process::id());
    loop {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let n = (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) % a.accounts as u64) as usize + 1;
        let name = username(a, n);
        if name != flooded {
            match bystander_sign_in(&shared, &name, &address, &mut tally.busy).await {
                Ok(took) => {
                    tally.ok += 1;
                    tally.times.push(took);
                }
                Err(e) => {
                    tally.failed += 1;
                    tally.first_failure.get_or_insert(e);
                }
            }
        }
        if Instant::now() >= deadline || shared.stop.is_cancelled() {
            break;
        }
    }
    tally
}

/// `--flood USERNAME`: bad input during a storm. For `--flood-secs`, wrong passwords for one
/// account at `--flood-rate` attempts per second, open loop (sent on time whatever the answers,
/// 503s not waited out), each from the next of `--flood-addresses` client addresses (sent as
/// `X-Forwarded-For`, for a server told to trust it), posted over `--flood-forms` sign-in forms
/// (each its own browser). Meanwhile `--bystanders` others sign in as other accounts (right
/// password, own addresses, 503s waited out). Then, one attempt at a time (503s waited out), wrong
/// passwords go on until the username is paused (429): the passwords checked (401) in all must be
/// exactly `--flood-limit`, the server's `signin.max_failures_per_username`.
async fn flood(shared: Arc<Shared>) {
    let a = &shared.args;
    let f = &a.flood;
    let target = f.username.clone().unwrap_or_default();
    println!(
        "flood: {:.0} wrong passwords/s for {target} over {:.0} s, from {} client addresses, over {} sign-in forms; \
         {} others signing in meanwhile ({} accounts)",
        f.rate,
        f.secs.as_secs_f64(),
        f.addresses,
        f.forms,
        f.bystanders,
        a.accounts
    );
    let mut forms = Vec::with_capacity(f.forms);
    for _ in 0..f.forms {
        let browser = browser();
        match open_signin_form(&shared, &browser).await {
            Ok(form) => forms.push(Arc::new((browser, form))),
            Err(e) => {
                eprintln!("code_flow_load: flood: {e}");
                std::process::exit(1);
            }
        }
    }

    let tally = Arc::new(std::sync::Mutex::new(FloodTally::default()));
    let started = Instant::now();
    let deadline = started + f.secs;
    let bystanders: Vec<_> = (0..f.bystanders).map(|i| tokio::spawn(bystander(shared.clone(), i, deadline))).collect();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f.rate));
    let mut attempts = tokio::task::JoinSet::new();
    let mut n = 0u64;
    while Instant::now() < deadline && !shared.stop.is_cancelled() {
        ticker.tick().await;
        let entry = forms[(n % forms.len() as u64) as usize].clone();
        let address = flood_address(n, f.addresses);
        let (tally, target) = (tally.clone(), target.clone());
        attempts.spawn(async move {
            let (browser, form) = &*entry;
            let answer = post_signin(browser, form, &target, &format!("wrong-{n}"), Some(&address)).await;
            tally.lock().unwrap_or_else(|p| p.into_inner()).count(&answer);
        });
        n += 1;
        while attempts.try_join_next().is_some() {}
    }
    while attempts.join_next().await.is_some() {}
    let flood_wall = started.elapsed().as_secs_f64();
    let mut people = BystanderTally::default();
    for handle in bystanders {
        let t = handle.await.expect("task");
        people.ok += t.ok;
        people.failed += t.failed;
        people.busy += t.busy;
        people.times.extend(t.times);
        if people.first_failure.is_none() {
            people.first_failure = t.first_failure;
        }
    }
    let mut flooded = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));

    // Counted exactly? Wrong passwords go on, one at a time, until the username is paused.
    let (browser, form) = &*forms[0];
    let mut more = FloodTally::default();
    let give_up = Instant::now() + Duration::from_secs(120);
    while more.paused == 0
        && more.unexpected == 0
        && flooded.checked + more.checked <= f.limit
        && Instant::now() < give_up
        && !shared.stop.is_cancelled()
    {
        let answer =
            post_signin(browser, form, &target, &format!("wrong-{n}"), Some(&flood_address(n, f.addresses))).await;
        n += 1;
        more.count(&answer);
        if let Ok(p) = &answer {
            if p.status == StatusCode::SERVICE_UNAVAILABLE {
                pause(&shared, retry_delay(p.retry_after), give_up).await;
            }
        }
    }
    let checked_total = flooded.checked + more.checked;
    let exact = more.paused > 0 && checked_total == f.limit && more.unexpected == 0;

    let refused_p50 = quantile_ms(&mut flooded.refused_times, 0.50);
    let refused_p99 = quantile_ms(&mut flooded.refused_times, 0.99);
    let checked_p50 = quantile_ms(&mut flooded.checked_times, 0.50);
    let checked_p99 = quantile_ms(&mut flooded.checked_times, 0.99);
    let mut all = flooded.refused_times.clone();
    all.extend(&flooded.checked_times);
    let all_p50 = quantile_ms(&mut all, 0.50);
    let all_p99 = quantile_ms(&mut all, 0.99);
    let people_p50 = quantile_ms(&mut people.times, 0.50);
    let people_p99 = quantile_ms(&mut people.times, 0.99);
    println!(
        "flood: {} attempts in {flood_wall:.1} s: {} checked (401), {} paused (429), {} refused as busy (503), {} other\n  \
         refused (429 + 503) answered in p50 {refused_p50:.2} ms, p99 {refused_p99:.2} ms; \
         checked in p50 {checked_p50:.2} ms, p99 {checked_p99:.2} ms; {} 503s without Retry-After\n  \
         then one at a time until paused: {} attempts, {} checked, {} busy, {} paused\n  \
         checked in all: {checked_total} (limit {}): {}\n  \
         others signing in meanwhile: {} succeeded, {} failed, {} times refused as busy and tried again; \
         authorize to code p50 {people_p50:.1} ms, p99 {people_p99:.1} ms",
        flooded.sent,
        flooded.checked,
        flooded.paused,
        flooded.busy,
        flooded.unexpected,
        flooded.busy_without_retry_after + more.busy_without_retry_after,
        more.sent,
        more.checked,
        more.busy,
        more.paused,
        f.limit,
        if exact { "counted exactly" } else { "NOT counted exactly" },
        people.ok,
        people.failed,
        people.busy,
    );
    for (what, e) in [("flood", &flooded.first_unexpected), ("until paused", &more.first_unexpected)] {
        if let Some(e) = e {
            eprintln!("{what}: first unexpected answer: {e}");
        }
    }
    if let Some(e) = &people.first_failure {
        eprintln!("others signing in: {} failed; first: {e}", people.failed);
    }
    println!(
        "RESULT flood_username={target} flood_secs={flood_wall:.1} flood_rate={:.0} flood_addresses={} flood_forms={} \
         flood_sent={} flood_checked={} flood_paused={} flood_busy={} flood_unexpected={} \
         flood_busy_without_retry_after={} flood_refused_p50_ms={refused_p50:.2} flood_refused_p99_ms={refused_p99:.2} \
         flood_checked_p50_ms={checked_p50:.2} flood_checked_p99_ms={checked_p99:.2} flood_all_p50_ms={all_p50:.2} \
         flood_all_p99_ms={all_p99:.2} after_sent={} after_checked={} after_busy={} after_paused={} \
         after_unexpected={} checked_total={checked_total} flood_limit={} counted_exactly={} bystanders={} \
         bystander_ok={} bystander_failed={} bystander_busy={} bystander_p50_ms={people_p50:.1} \
         bystander_p99_ms={people_p99:.1}",
        f.rate,
        f.addresses,
        f.forms,
        flooded.sent,
        flooded.checked,
        flooded.paused,
        flooded.busy,
        flooded.unexpected,
        flooded.busy_without_retry_after + more.busy_without_retry_after,
        more.sent,
        more.checked,
        more.busy,
        more.paused,
        more.unexpected,
        f.limit,
        if exact { "yes" } else { "no" },
        f.bystanders,
        people.ok,
        people.failed,
        people.busy,
    );
    if !exact || flooded.unexpected > 0 || people.failed > 0 {
        std::process::exit(1);
    }
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
    let args = parse_args();
    if args.hash_password {
        return hash_password(&args).await;
    }
    if let Some(count) = args.make_accounts {
        return make_accounts(&args, count);
    }
    let users = args.users;
    let duration = args.duration;
    let mint_secs = args.mint_secs;
    let password_secs = args.password_secs;
    let (authorization_endpoint, token_endpoint) = discover(&args).await;
    let rp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(users.max(args.password_browsers))
        .build()
        .expect("http client");
    let stop = CancellationToken::new();
    stop_on_sigterm(stop.clone());
    let shared = Arc::new(Shared { args, authorization_endpoint, token_endpoint, rp, stop });
    if shared.args.flood.username.is_some() {
        return flood(shared).await;
    }
    let a = &shared.args;
    println!(
        "code flow load ({}): {users} browsers, {} accounts, against {} ({})",
        a.target.name(),
        a.accounts,
        a.base,
        shared.authorization_endpoint
    );

    // 1. Sign in every browser once (Argon2id on the server: tens of ms each, by design). At most
    //    SIGNIN_CONCURRENCY at a time, as a morning's sign-ins arrive spread out.
    let (mut signin_p50, mut signin_p99) = (f64::NAN, f64::NAN);
    let mut signin_busy = 0u64;
    let mut browsers = Vec::with_capacity(users);
    if !duration.is_zero() || !mint_secs.is_zero() {
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
                    browsers.push(browser);
                    signin_times.push(elapsed);
                    signin_busy += u64::from(busy);
                }
                Err(e) => {
                    eprintln!("sign-in failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        let signin_wall = started.elapsed();
        signin_p50 = quantile_ms(&mut signin_times, 0.50);
        signin_p99 = quantile_ms(&mut signin_times, 0.99);
        println!(
            "sign-in (authorize + form + password, {SIGNIN_CONCURRENCY} at a time): {:.0} sign-ins/s, p50 {signin_p50:.1} ms, p99 {signin_p99:.1} ms{}",
            users as f64 / signin_wall.as_secs_f64(),
            if signin_busy > 0 {
                format!(" ({signin_busy} times refused as busy (503) and tried again after Retry-After)")
            } else {
                String::new()
            }
        );
    }

    // 2. Full flows with the SSO session, for `duration`.
    let mut flow = Samples::default();
    let mut flows_per_s = f64::NAN;
    let mut sso_cpu = CpuSplit::NONE;
    let mut sso_wall = f64::NAN;
    if !duration.is_zero() {
        let handles: Vec<_> =
            browsers.iter().map(|b| tokio::spawn(flows(shared.clone(), b.clone(), warm_up_until(), 1))).collect();
        for handle in handles {
            flow.merge_errors(handle.await.expect("task"));
        }
        let cpu0 = cpu_sample(a);
        let started = Instant::now();
        let deadline = started + duration;
        let handles: Vec<_> =
            browsers.iter().map(|b| tokio::spawn(flows(shared.clone(), b.clone(), deadline, usize::MAX))).collect();
        for handle in handles {
            flow.merge(handle.await.expect("task"));
        }
        sso_wall = started.elapsed().as_secs_f64();
        sso_cpu = CpuSplit::between(a, cpu0, cpu_sample(a), flow.flow.len());
        report_errors("flows", &flow);
        flows_per_s = flow.flow.len() as f64 / sso_wall;
    }
    let authorize_p50 = quantile_ms(&mut flow.authorize, 0.50);
    let authorize_p99 = quantile_ms(&mut flow.authorize, 0.99);
    let token_p50 = quantile_ms(&mut flow.token, 0.50);
    let token_p99 = quantile_ms(&mut flow.token, 0.99);
    let flow_p50 = quantile_ms(&mut flow.flow, 0.50);
    let flow_p99 = quantile_ms(&mut flow.flow, 0.99);
    if !duration.is_zero() {
        println!(
            "full flows: {} in {sso_wall:.1} s = {flows_per_s:.0} flows/s ({} errors)\n  \
             authorize (SSO, code issued): p50 {authorize_p50:.2} ms, p99 {authorize_p99:.2} ms\n  \
             token (code exchange):        p50 {token_p50:.2} ms, p99 {token_p99:.2} ms\n  \
             whole flow:                   p50 {flow_p50:.2} ms, p99 {flow_p99:.2} ms",
            flow.flow.len(),
            flow.errors
        );
        if a.server_pid.is_some() {
            println!("  {}", sso_cpu.line());
        }
    }

    // 3. Exchange only: collect codes, then redeem them back to back.
    let mut minting = Samples::default();
    let mut exchanged = Samples::default();
    let mut exchange_per_s = f64::NAN;
    if !mint_secs.is_zero() {
        let handles: Vec<_> =
            browsers.iter().map(|b| tokio::spawn(mint(shared.clone(), b.clone(), mint_secs))).collect();
        let mut codes = Vec::new();
        for handle in handles {
            let (c, s) = handle.await.expect("task");
            codes.push(c);
            minting.merge(s);
        }
        report_errors("minting codes", &minting);
        let total: usize = codes.iter().map(Vec::len).sum();
        let started = Instant::now();
        let handles: Vec<_> = codes.into_iter().map(|c| tokio::spawn(exchange(shared.clone(), c))).collect();
        for handle in handles {
            exchanged.merge(handle.await.expect("task"));
        }
        let wall = started.elapsed().as_secs_f64();
        report_errors("exchange", &exchanged);
        exchange_per_s = exchanged.token.len() as f64 / wall;
        println!(
            "code exchange only: {} of {total} codes in {wall:.2} s = {exchange_per_s:.0} req/s, \
             p50 {:.2} ms, p99 {:.2} ms ({} errors)",
            exchanged.token.len(),
            quantile_ms(&mut exchanged.token, 0.50),
            quantile_ms(&mut exchanged.token, 0.99),
            exchanged.errors
        );
    }
    let exchange_p50 = quantile_ms(&mut exchanged.token, 0.50);
    let exchange_p99 = quantile_ms(&mut exchanged.token, 0.99);

    // 4. Password flows: fresh browsers, random accounts, for `password_secs`.
    let mut password = Samples::default();
    let mut password_per_s = f64::NAN;
    let mut password_cpu = CpuSplit::NONE;
    let mut password_wall = f64::NAN;
    if !password_secs.is_zero() {
        let handles: Vec<_> = (0..a.password_browsers)
            .map(|w| tokio::spawn(password_flows(shared.clone(), w, warm_up_until(), 1)))
            .collect();
        for handle in handles {
            password.merge_errors(handle.await.expect("task"));
        }
        println!(
            "password flows: measuring for {:.0} s (or until SIGTERM), {} fresh browsers at a time",
            password_secs.as_secs_f64(),
            a.password_browsers
        );
        let cpu0 = cpu_sample(a);
        let started = Instant::now();
        let deadline = started + password_secs;
        let handles: Vec<_> = (0..a.password_browsers)
            .map(|w| tokio::spawn(password_flows(shared.clone(), w, deadline, usize::MAX)))
            .collect();
        for handle in handles {
            password.merge(handle.await.expect("task"));
        }
        password_wall = started.elapsed().as_secs_f64();
        password_cpu = CpuSplit::between(a, cpu0, cpu_sample(a), password.flow.len());
        report_errors("password flows", &password);
        password_per_s = password.flow.len() as f64 / password_wall;
    }
    let password_signin_p50 = quantile_ms(&mut password.authorize, 0.50);
    let password_signin_p99 = quantile_ms(&mut password.authorize, 0.99);
    let password_p50 = quantile_ms(&mut password.flow, 0.50);
    let password_p99 = quantile_ms(&mut password.flow, 0.99);
    let password_busy_p50 = quantile_ms(&mut password.busy_times, 0.50);
    let password_busy_p99 = quantile_ms(&mut password.busy_times, 0.99);
    let password_attempts = password.flow.len() as u64 + password.errors + password.busy;
    if !password_secs.is_zero() {
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

    println!(
        "RESULT flows_per_s={flows_per_s:.0} authorize_p50_ms={authorize_p50:.2} authorize_p99_ms={authorize_p99:.2} \
         token_p50_ms={token_p50:.2} token_p99_ms={token_p99:.2} flow_p50_ms={flow_p50:.2} flow_p99_ms={flow_p99:.2} \
         flow_errors={} exchange_per_s={exchange_per_s:.0} exchange_p50_ms={exchange_p50:.2} \
         exchange_p99_ms={exchange_p99:.2} exchange_errors={} signin_p50_ms={signin_p50:.1} signin_p99_ms={signin_p99:.1} \
         target={} accounts={} password_flows_per_s={password_per_s:.1} password_flow_p50_ms={password_p50:.2} \
         password_flow_p99_ms={password_p99:.2} password_signin_p50_ms={password_signin_p50:.2} \
         password_signin_p99_ms={password_signin_p99:.2} password_errors={} {} {} signin_busy={signin_busy} \
         password_attempts={password_attempts} password_busy={} password_busy_p50_ms={password_busy_p50:.2} \
         password_busy_p99_ms={password_busy_p99:.2} password_busy_without_retry_after={} password_secs={password_wall:.1}",
        flow.errors,
        exchanged.errors + minting.errors,
        a.target.name(),
        a.accounts,
        password.errors,
        sso_cpu.keys("sso"),
        password_cpu.keys("password"),
        password.busy,
        password.busy_without_retry_after,
    );
    if flow.errors + exchanged.errors + minting.errors + password.errors > 0 {
        std::process::exit(1);
    }
}
