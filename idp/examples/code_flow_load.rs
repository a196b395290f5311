//! Load driver for the full authorization-code flow against a running IdP (used by
//! `scripts/load/run.sh`; results in `docs/benchmarks.md`).
//!
//! A code is single use, so a replaying load tool such as wrk cannot drive this flow. Instead
//! `--users` simulated browsers (each with its own cookie jar) and one relying party (a shared
//! connection pool, authenticating with `client_secret_basic`) run concurrently:
//!
//! 1. sign-in, once per browser, 8 at a time: `/authorize` → `/login` form → POST `/login`
//!    (Argon2id) → code;
//! 2. for `--duration` seconds, every browser loops: `/authorize` with its SSO session (no
//!    password) → 303 with a code → the RP redeems it at `/token` (authorization_code, PKCE S256);
//!    reported: completed flows/s and p50/p99 of the authorize step, the token step and the whole;
//! 3. exchange only: every browser first collects codes for `--mint-secs` (at most 200 each),
//!    then all of them are redeemed as fast as possible; reported: code exchanges/s and p50/p99.
//!
//! ```text
//! cargo run --release -p idp --example code_flow_load -- --base http://127.0.0.1:18181 \
//!     --client-id ID --client-secret SECRET --redirect-uri http://127.0.0.1:9/cb \
//!     --users 64 --user-prefix u --password 'bench-password' --duration 10
//! ```
//!
//! The last line is machine-readable: `RESULT key=value ...`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use idp::crypto;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use url::Url;

struct Args {
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    scope: String,
    users: usize,
    user_prefix: String,
    password: String,
    duration: Duration,
    mint_secs: Duration,
}

fn parse_args() -> Args {
    let mut args = Args {
        base: "http://127.0.0.1:18181".into(),
        client_id: String::new(),
        client_secret: String::new(),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        scope: "openid profile".into(),
        users: 64,
        user_prefix: "u".into(),
        password: String::new(),
        duration: Duration::from_secs(10),
        mint_secs: Duration::from_secs(3),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--base" => args.base = value().trim_end_matches('/').to_string(),
            "--client-id" => args.client_id = value(),
            "--client-secret" => args.client_secret = value(),
            "--redirect-uri" => args.redirect_uri = value(),
            "--scope" => args.scope = value(),
            "--users" => args.users = value().parse().unwrap_or_else(|_| usage("--users: a number")),
            "--user-prefix" => args.user_prefix = value(),
            "--password" => args.password = value(),
            "--duration" => {
                args.duration =
                    Duration::from_secs_f64(value().parse().unwrap_or_else(|_| usage("--duration: seconds")))
            }
            "--mint-secs" => {
                args.mint_secs =
                    Duration::from_secs_f64(value().parse().unwrap_or_else(|_| usage("--mint-secs: seconds")))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.client_id.is_empty() || args.client_secret.is_empty() || args.password.is_empty() || args.users == 0 {
        usage("--client-id, --client-secret, --password and --users (≥ 1) are required");
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("code_flow_load: {problem}");
    }
    eprintln!(
        "usage: code_flow_load --base URL --client-id ID --client-secret SECRET --redirect-uri URI \
         --users N --user-prefix u --password PW [--scope 'openid profile'] [--duration SECS] [--mint-secs SECS]\n\
         users are <prefix>1 .. <prefix>N, all with the same password"
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
}

impl Samples {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Samples) {
        self.authorize.extend(other.authorize);
        self.token.extend(other.token);
        self.flow.extend(other.flow);
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

struct Shared {
    args: Args,
    /// The relying party's back channel: one pool, as a portal's server would have.
    rp: reqwest::Client,
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

/// Starts an authorization request; returns the `Location` the IdP answers with and the verifier.
async fn authorize(shared: &Shared, browser: &reqwest::Client) -> Result<(String, String, String), String> {
    let a = &shared.args;
    let verifier = crypto::random_token(32);
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let state = crypto::random_token(12);
    let mut url = Url::parse(&format!("{}/authorize", a.base)).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &a.client_id)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair("scope", &a.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &crypto::random_token(12))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let response = browser.get(url).send().await.map_err(|e| format!("authorize: {e}"))?;
    if response.status() != StatusCode::SEE_OTHER && response.status() != StatusCode::FOUND {
        return Err(format!("authorize answered {}", response.status()));
    }
    Ok((location(&response)?, verifier, state))
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
        .post(format!("{}/token", a.base))
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

/// First visit: the sign-in form, with the password; returns the browser with its SSO cookie.
async fn sign_in(shared: &Shared, index: usize) -> Result<(reqwest::Client, Duration), String> {
    let a = &shared.args;
    let browser = browser();
    let started = Instant::now();
    let (to_login, verifier, state) = authorize(shared, &browser).await?;
    if !to_login.starts_with("/login") {
        return Err(format!("expected the sign-in page, got {to_login}"));
    }
    let page = browser
        .get(format!("{}{to_login}", a.base))
        .send()
        .await
        .map_err(|e| format!("login page: {e}"))?
        .text()
        .await
        .map_err(|e| format!("login page: {e}"))?;
    let (interaction, csrf) = {
        let html = Html::parse_document(&page);
        let field = |name: &str| {
            let selector = Selector::parse(&format!("input[name=\"{name}\"]")).expect("selector");
            html.select(&selector).next().and_then(|e| e.value().attr("value")).map(str::to_string)
        };
        (field("interaction").ok_or("no interaction field")?, field("csrf").ok_or("no csrf field")?)
    };
    let username = format!("{}{}", a.user_prefix, index + 1);
    let response = browser
        .post(format!("{}/login", a.base))
        .form(&[
            ("interaction", interaction.as_str()),
            ("csrf", csrf.as_str()),
            ("username", username.as_str()),
            ("password", a.password.as_str()),
        ])
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    if !response.status().is_redirection() {
        return Err(format!("sign-in of {username} answered {}", response.status()));
    }
    let code = code_from(shared, &location(&response)?, &state, verifier)?;
    let elapsed = started.elapsed();
    redeem(shared, &code).await?;
    Ok((browser, elapsed))
}

/// Phase 2 for one browser: SSO authorize → code → token, until `deadline`.
async fn flows(shared: Arc<Shared>, browser: reqwest::Client, deadline: Instant) -> Samples {
    let mut samples = Samples::default();
    while Instant::now() < deadline {
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

/// Sign-ins in flight at once in phase 1.
const SIGNIN_CONCURRENCY: usize = 8;

/// At most this many codes per browser in phase 3, so all are redeemed well within their lifetime.
const MAX_CODES_PER_BROWSER: usize = 200;

/// Phase 3a for one browser: collect codes for `mint` (or up to the cap) without redeeming them.
async fn mint(shared: Arc<Shared>, browser: reqwest::Client, mint: Duration) -> (Vec<Code>, Samples) {
    let mut samples = Samples::default();
    let mut codes = Vec::new();
    let until = Instant::now() + mint;
    while Instant::now() < until && codes.len() < MAX_CODES_PER_BROWSER {
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

#[tokio::main]
async fn main() {
    let args = parse_args();
    let users = args.users;
    let duration = args.duration;
    let mint_secs = args.mint_secs;
    let rp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(users)
        .build()
        .expect("http client");
    let shared = Arc::new(Shared { args, rp });
    println!("code flow load: {users} browsers against {}", shared.args.base);

    // 1. Sign in every browser once (Argon2id on the server: tens of ms each, by design). At most
    //    SIGNIN_CONCURRENCY at a time: the IdP counts sign-ins in flight against its per-address
    //    limit (signin.max_failures_per_ip, 50), and every browser here has the same address.
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
    let mut browsers = Vec::with_capacity(users);
    let mut signin_times = Vec::with_capacity(users);
    for handle in handles {
        match handle.await.expect("task") {
            Ok((browser, elapsed)) => {
                browsers.push(browser);
                signin_times.push(elapsed);
            }
            Err(e) => {
                eprintln!("sign-in failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let signin_wall = started.elapsed();
    let signin_p50 = quantile_ms(&mut signin_times, 0.50);
    let signin_p99 = quantile_ms(&mut signin_times, 0.99);
    println!(
        "sign-in (authorize + form + password, {SIGNIN_CONCURRENCY} at a time): {:.0} sign-ins/s, p50 {signin_p50:.1} ms, p99 {signin_p99:.1} ms",
        users as f64 / signin_wall.as_secs_f64()
    );

    // 2. Full flows with the SSO session, for `duration`.
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = browsers.iter().map(|b| tokio::spawn(flows(shared.clone(), b.clone(), deadline))).collect();
    let mut flow = Samples::default();
    for handle in handles {
        flow.merge(handle.await.expect("task"));
    }
    let wall = started.elapsed().as_secs_f64();
    report_errors("flows", &flow);
    let flows_per_s = flow.flow.len() as f64 / wall;
    let authorize_p50 = quantile_ms(&mut flow.authorize, 0.50);
    let authorize_p99 = quantile_ms(&mut flow.authorize, 0.99);
    let token_p50 = quantile_ms(&mut flow.token, 0.50);
    let token_p99 = quantile_ms(&mut flow.token, 0.99);
    let flow_p50 = quantile_ms(&mut flow.flow, 0.50);
    let flow_p99 = quantile_ms(&mut flow.flow, 0.99);
    println!(
        "full flows: {} in {wall:.1} s = {flows_per_s:.0} flows/s ({} errors)\n  \
         authorize (SSO, code issued): p50 {authorize_p50:.2} ms, p99 {authorize_p99:.2} ms\n  \
         token (code exchange):        p50 {token_p50:.2} ms, p99 {token_p99:.2} ms\n  \
         whole flow:                   p50 {flow_p50:.2} ms, p99 {flow_p99:.2} ms",
        flow.flow.len(),
        flow.errors
    );

    // 3. Exchange only: collect codes, then redeem them back to back.
    let handles: Vec<_> = browsers.iter().map(|b| tokio::spawn(mint(shared.clone(), b.clone(), mint_secs))).collect();
    let mut codes = Vec::new();
    let mut minting = Samples::default();
    for handle in handles {
        let (c, s) = handle.await.expect("task");
        codes.push(c);
        minting.merge(s);
    }
    report_errors("minting codes", &minting);
    let total: usize = codes.iter().map(Vec::len).sum();
    let started = Instant::now();
    let handles: Vec<_> = codes.into_iter().map(|c| tokio::spawn(exchange(shared.clone(), c))).collect();
    let mut exchanged = Samples::default();
    for handle in handles {
        exchanged.merge(handle.await.expect("task"));
    }
    let wall = started.elapsed().as_secs_f64();
    report_errors("exchange", &exchanged);
    let exchange_per_s = exchanged.token.len() as f64 / wall;
    let exchange_p50 = quantile_ms(&mut exchanged.token, 0.50);
    let exchange_p99 = quantile_ms(&mut exchanged.token, 0.99);
    println!(
        "code exchange only: {} of {total} codes in {wall:.2} s = {exchange_per_s:.0} req/s, \
         p50 {exchange_p50:.2} ms, p99 {exchange_p99:.2} ms ({} errors)",
        exchanged.token.len(),
        exchanged.errors
    );

    println!(
        "RESULT flows_per_s={flows_per_s:.0} authorize_p50_ms={authorize_p50:.2} authorize_p99_ms={authorize_p99:.2} \
         token_p50_ms={token_p50:.2} token_p99_ms={token_p99:.2} flow_p50_ms={flow_p50:.2} flow_p99_ms={flow_p99:.2} \
         flow_errors={} exchange_per_s={exchange_per_s:.0} exchange_p50_ms={exchange_p50:.2} \
         exchange_p99_ms={exchange_p99:.2} exchange_errors={} signin_p50_ms={signin_p50:.1} signin_p99_ms={signin_p99:.1}",
        flow.errors,
        exchanged.errors + minting.errors
    );
    if flow.errors + exchanged.errors + minting.errors > 0 {
        std::process::exit(1);
    }
}
