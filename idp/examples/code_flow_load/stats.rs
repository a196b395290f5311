//! Latency samples, failures, percentiles.

use std::time::Duration;

use crate::browser::Busy;

/// Latency samples and failures of one phase.
#[derive(Default)]
pub struct Samples {
    pub authorize: Vec<Duration>,
    pub token: Vec<Duration>,
    pub flow: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Sign-ins the server refused because its password checks were all taken (503): not errors.
    pub busy: u64,
    /// How long each of those 503 answers took (the sign-in POST alone).
    pub busy_times: Vec<Duration>,
    /// 503 answers without a usable `Retry-After` (delay-seconds).
    pub busy_without_retry_after: u64,
}

impl Samples {
    pub fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    pub fn refused(&mut self, busy: &Busy) {
        self.busy += 1;
        self.busy_times.push(busy.answered_in);
        if busy.retry_after.is_none() {
            self.busy_without_retry_after += 1;
        }
    }

    /// Only the failures of `other` (an unmeasured warm-up).
    pub fn merge_errors(&mut self, other: Samples) {
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn merge(&mut self, other: Samples) {
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
pub fn quantile_ms(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1].as_secs_f64() * 1000.0
}

pub fn report_errors(phase: &str, samples: &Samples) {
    if let Some(e) = &samples.first_error {
        eprintln!("{phase}: {} errors; first: {e}", samples.errors);
    }
}

/// The p50 and p99 (nearest-rank) in milliseconds.
pub fn p50_p99(samples: &mut [Duration]) -> (f64, f64) {
    (quantile_ms(samples, 0.50), quantile_ms(samples, 0.99))
}
