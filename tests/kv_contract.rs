//! The short-lived state store: the same contract for the in-memory and the Redis backend.
//! Redis must run on 127.0.0.1:6379 (CI starts it); these tests fail, never skip, without it.

use std::sync::Arc;

use idp::clock::{Clock, ManualClock, SystemClock};
use idp::kv::{Kv, MemoryKv, RedisKv};

use crate::helpers::{Backend, TestApp, PASSWORD};

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

async fn redis() -> Arc<dyn Kv> {
    let prefix = format!("pw-test:{}:", idp::crypto::random_token(9));
    let kv = RedisKv::connect(REDIS_URL).await.unwrap_or_else(|e| panic!("Redis must run for these tests: {e}"));
    Arc::new(kv.with_prefix(&prefix))
}

fn memory() -> Arc<dyn Kv> {
    Arc::new(MemoryKv::new(Arc::new(ManualClock::at(SystemClock.unix()))))
}

async fn values_round_trip(kv: Arc<dyn Kv>) {
    assert_eq!(kv.get("a").await.unwrap(), None);
    kv.put("a", "1", 60).await.unwrap();
    kv.put("a", "2", 60).await.unwrap();
    assert_eq!(kv.get("a").await.unwrap().as_deref(), Some("2"), "put replaces");
    kv.delete("a").await.unwrap();
    assert_eq!(kv.get("a").await.unwrap(), None);
}

async fn take_is_single_use_under_concurrency(kv: Arc<dyn Kv>) {
    kv.put("once", "v", 60).await.unwrap();
    let takers = (0..16).map(|_| {
        let kv = kv.clone();
        tokio::spawn(async move { kv.take("once").await.unwrap() })
    });
    let results = futures::future::join_all(takers).await;
    let winners = results.into_iter().filter(|r| r.as_ref().unwrap().is_some()).count();
    assert_eq!(winners, 1);
}

async fn counters_count_exactly(kv: Arc<dyn Kv>) {
    let incrs = (0..25).map(|_| {
        let kv = kv.clone();
        tokio::spawn(async move { kv.incr("c", 60).await.unwrap() })
    });
    let mut seen: Vec<u64> = futures::future::join_all(incrs).await.into_iter().map(|r| r.unwrap()).collect();
    seen.sort();
    assert_eq!(seen, (1..=25).collect::<Vec<_>>(), "every increment gets its own number");
}

async fn replace_only_what_exists(kv: Arc<dyn Kv>) {
    assert!(!kv.replace("r", "1", 60).await.unwrap(), "nothing to replace");
    assert_eq!(kv.get("r").await.unwrap(), None, "and nothing made");
    kv.put("r", "1", 60).await.unwrap();
    assert!(kv.replace("r", "2", 60).await.unwrap());
    assert_eq!(kv.get("r").await.unwrap().as_deref(), Some("2"));
    assert_eq!(kv.take("r").await.unwrap().as_deref(), Some("2"));
    assert!(!kv.replace("r", "3", 60).await.unwrap(), "what was taken does not come back");
    assert_eq!(kv.get("r").await.unwrap(), None);
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn memory() {
                super::$name(super::memory()).await;
            }
            #[tokio::test]
            async fn redis() {
                super::$name(super::redis().await).await;
            }
        }
    };
}

both!(values_round_trip);
both!(take_is_single_use_under_concurrency);
both!(counters_count_exactly);
both!(replace_only_what_exists);

#[tokio::test]
async fn sign_in_works_with_redis_as_shared_state() {
    let prefix = format!("pw-test:{}:", idp::crypto::random_token(9));
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.kv.url = idp::domain::Secret::new(REDIS_URL.into());
        c.kv.prefix = prefix;
        c.factors.encryption_key = Some(idp::domain::Secret::new(idp::crypto::random_token(32)));
    })
    .await;
    let rp = app.alpha_rp().await;
    app.user("kees").await;
    let start = rp.start(&[]);
    let callback = app.browser().sign_in(&start.url, "kees", PASSWORD).await;
    rp.finish(&callback, &start).await;
}
