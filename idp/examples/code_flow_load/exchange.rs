//! Phase 3: exchange only. Every browser collects codes, then all are redeemed back to back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::browser::{self, Code};
use crate::stats::{p50_p99, report_errors, Samples};
use crate::Shared;

/// At most this many codes per browser in phase 3, so all are redeemed well within their lifetime.
const MAX_CODES_PER_BROWSER: usize = 200;

/// Phase 3a for one browser: collect codes for `mint` (or up to the cap) without redeeming them.
async fn mint(shared: Arc<Shared>, browser: reqwest::Client, mint: Duration) -> (Vec<Code>, Samples) {
    let mut samples = Samples::default();
    let mut codes = Vec::new();
    let until = Instant::now() + mint;
    while Instant::now() < until && codes.len() < MAX_CODES_PER_BROWSER && !shared.stop.is_cancelled() {
        match browser::sso_code(&shared, &browser).await {
            Ok(code) => codes.push(code),
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
        match browser::redeem(&shared, &code).await {
            Ok(()) => samples.token.push(t0.elapsed()),
            Err(e) => samples.fail(e),
        }
    }
    samples
}

/// Phase 3's figures: code exchanges/s, their (p50, p99) in ms, and the errors (minting and
/// exchanging).
pub struct ExchangeReport {
    pub per_s: f64,
    pub token: (f64, f64),
    pub errors: u64,
}

/// Phase 3: collect codes for `--mint-secs`, then redeem them back to back (skipped when 0).
pub async fn exchange_phase(shared: &Arc<Shared>, browsers: &[reqwest::Client]) -> ExchangeReport {
    let mint_secs = shared.args.mint_secs;
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
        let (p50, p99) = p50_p99(&mut exchanged.token);
        println!(
            "code exchange only: {} of {total} codes in {wall:.2} s = {exchange_per_s:.0} req/s, \
             p50 {p50:.2} ms, p99 {p99:.2} ms ({} errors)",
            exchanged.token.len(),
            exchanged.errors
        );
    }
    ExchangeReport {
        per_s: exchange_per_s,
        token: p50_p99(&mut exchanged.token),
        errors: exchanged.errors + minting.errors,
    }
}
