//! The only place that reads the time. Everything else receives a [`Clock`] (through `AppState`)
//! or a `now` argument, so expiry is exact in tests: they use [`ManualClock`] and advance it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;

/// Seconds since the Unix epoch, as stored in the database.
pub type UnixTime = i64;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    fn unix(&self) -> UnixTime {
        self.now().unix_timestamp()
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned reading of the wall clock
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; for tests and benchmarks.
#[derive(Debug, Clone)]
pub struct ManualClock {
    unix: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn at(unix: UnixTime) -> Self {
        Self { unix: Arc::new(AtomicI64::new(unix)) }
    }

    pub fn advance(&self, seconds: i64) {
        self.unix.fetch_add(seconds, Ordering::SeqCst);
    }

    pub fn set(&self, unix: UnixTime) {
        self.unix.store(unix, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.unix.load(Ordering::SeqCst)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}
