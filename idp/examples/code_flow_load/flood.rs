//! `--flood USERNAME`: bad input during a storm (see [`flood`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::accounts::{username, RandomAccounts};
use crate::browser::{self, Posted, MAX_BUSY_RETRIES};
use crate::stats::p50_p99;
use crate::Shared;

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
    let browser = browser::browser();
    let t0 = Instant::now();
    let form = browser::open_signin_form(shared, &browser).await?;
    let mut refused = 0;
    let posted = loop {
        let posted = browser::post_signin(&browser, &form, username, &shared.args.password, Some(address)).await?;
        if posted.status != StatusCode::SERVICE_UNAVAILABLE {
            break posted;
        }
        *busy += 1;
        refused += 1;
        if refused > MAX_BUSY_RETRIES || shared.stop.is_cancelled() {
            return Err(format!("the sign-in of {username} was refused as busy {refused} times in a row"));
        }
        browser::pause(shared, browser::retry_delay(posted.retry_after), Instant::now() + Duration::from_secs(60))
            .await;
    };
    let code = browser::code_after_signin(shared, &browser, form, &posted, username).await?;
    let took = t0.elapsed();
    browser::redeem(shared, &code).await?;
    Ok(took)
}

/// Bystander `index`: sign-ins as random accounts (never the flooded one) from an address of its
/// own in 172.16.0.0/12, one after another until `deadline` (at least one).
async fn bystander(shared: Arc<Shared>, index: usize, deadline: Instant) -> BystanderTally {
    let a = &shared.args;
    let flooded = a.flood.username.as_deref().unwrap_or_default();
    let address = format!("172.{}.{}.{}", 16 + ((index >> 16) & 15), (index >> 8) & 255, index & 255);
    let mut tally = BystanderTally::default();
    let mut accounts = RandomAccounts::new(0xD1B5_4A32_D192_ED03u64 ^ ((index as u64 + 1) << 23));
    loop {
        let name = username(a, accounts.pick(a.accounts));
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
pub async fn flood(shared: Arc<Shared>) {
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
        let browser = browser::browser();
        match browser::open_signin_form(&shared, &browser).await {
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
            let answer = browser::post_signin(browser, form, &target, &format!("wrong-{n}"), Some(&address)).await;
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
            browser::post_signin(browser, form, &target, &format!("wrong-{n}"), Some(&flood_address(n, f.addresses)))
                .await;
        n += 1;
        more.count(&answer);
        if let Ok(p) = &answer {
            if p.status == StatusCode::SERVICE_UNAVAILABLE {
                browser::pause(&shared, browser::retry_delay(p.retry_after), give_up).await;
            }
        }
    }
    let checked_total = flooded.checked + more.checked;
    let exact = more.paused > 0 && checked_total == f.limit && more.unexpected == 0;

    let (refused_p50, refused_p99) = p50_p99(&mut flooded.refused_times);
    let (checked_p50, checked_p99) = p50_p99(&mut flooded.checked_times);
    let mut all = flooded.refused_times.clone();
    all.extend(&flooded.checked_times);
    let (all_p50, all_p99) = p50_p99(&mut all);
    let (people_p50, people_p99) = p50_p99(&mut people.times);
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
