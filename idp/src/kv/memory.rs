//! In-process key-value store with expiry by the injected clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Kv, KvResult};
use crate::clock::{Clock, UnixTime};

pub struct MemoryKv {
    clock: Arc<dyn Clock>,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (String, UnixTime)>,
    /// Size after the last sweep; the next sweep comes when the map has doubled.
    swept_at: usize,
}

impl MemoryKv {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, entries: Mutex::new(Entries::default()) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, UnixTime)>, UnixTime) -> T) -> T {
        let now = self.clock.unix();
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Expired entries are swept when the map has doubled since the last sweep: memory stays
        // bounded and the cost per operation stays constant on average.
        if entries.map.len() > 1024 && entries.map.len() > 2 * entries.swept_at {
            entries.map.retain(|_, (_, expires)| *expires > now);
            entries.swept_at = entries.map.len();
        }
        f(&mut entries.map, now)
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn put(&self, key: &str, value: &str, ttl_secs: i64) -> KvResult<()> {
        self.with(|e, now| e.insert(key.to_string(), (value.to_string(), now + ttl_secs)));
        Ok(())
    }

    async fn replace(&self, key: &str, value: &str, ttl_secs: i64) -> KvResult<bool> {
        Ok(self.with(|e, now| match e.get_mut(key).filter(|(_, exp)| *exp > now) {
            Some(entry) => {
                *entry = (value.to_string(), now + ttl_secs);
                true
            }
            None => false,
        }))
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
