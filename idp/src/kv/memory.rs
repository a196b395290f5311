//! In-process key-value store with expiry by the injected clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Kv, KvResult};
use crate::clock::{Clock, UnixTime};

pub struct MemoryKv {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, (String, UnixTime)>>,
}

impl MemoryKv {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, entries: Mutex::new(HashMap::new()) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, UnixTime)>, UnixTime) -> T) -> T {
        let now = self.clock.unix();
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Expired entries are dropped lazily, a few at a time, so memory stays bounded.
        if entries.len() > 1024 {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        f(&mut entries, now)
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn put(&self, key: &str, value: &str, ttl_secs: i64) -> KvResult<()> {
        self.with(|e, now| e.insert(key.to_string(), (value.to_string(), now + ttl_secs)));
        Ok(())
    }

    async fn get(&self, key: &str) -> KvResult<Option<String>> {
        Ok(self.with(|e, now| e.get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.clone())))
    }

    async fn take(&self, key: &str) -> KvResult<Option<String>> {
        Ok(self.with(|e, now| e.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)))
    }

    async fn incr(&self, key: &str, window_secs: i64) -> KvResult<u64> {
        Ok(self.with(|e, now| {
            let entry = e.entry(key.to_string()).or_insert_with(|| ("0".into(), now + window_secs));
            if entry.1 <= now {
                *entry = ("0".into(), now + window_secs);
            }
            let n = entry.0.parse::<u64>().unwrap_or(0) + 1;
            entry.0 = n.to_string();
            n
        }))
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        self.with(|e, _| e.remove(key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn values_expire_by_the_clock() {
        let clock = ManualClock::at(1_000);
        let kv = MemoryKv::new(Arc::new(clock.clone()));
        kv.put("a", "1", 10).await.unwrap();
        assert_eq!(kv.get("a").await.unwrap().as_deref(), Some("1"));
        clock.advance(10);
        assert_eq!(kv.get("a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn counters_restart_after_their_window() {
        let clock = ManualClock::at(1_000);
        let kv = MemoryKv::new(Arc::new(clock.clone()));
        assert_eq!(kv.incr("c", 60).await.unwrap(), 1);
        assert_eq!(kv.incr("c", 60).await.unwrap(), 2);
        clock.advance(60);
        assert_eq!(kv.incr("c", 60).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn take_hands_out_a_value_once() {
        let kv = MemoryKv::new(Arc::new(ManualClock::at(0)));
        kv.put("x", "v", 10).await.unwrap();
        assert_eq!(kv.take("x").await.unwrap().as_deref(), Some("v"));
        assert_eq!(kv.take("x").await.unwrap(), None);
    }
}
