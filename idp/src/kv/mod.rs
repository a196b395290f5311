//! Short-lived shared state: pending sign-ins, failure counters and the browsers known per
//! username (`auth::known_device`). In memory for a single node (the default); Redis when several
//! nodes share the work.

pub mod keys;
mod memory;
mod redis;

use std::sync::Arc;

use async_trait::async_trait;

pub use self::redis::RedisKv;
pub use memory::MemoryKv;

#[derive(Debug, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

pub type KvResult<T> = Result<T, KvError>;

#[async_trait]
pub trait Kv: Send + Sync {
    /// Stores `value` under `key` for `ttl_secs` seconds, replacing any earlier value.
    async fn put(&self, key: &str, value: &str, ttl_secs: i64) -> KvResult<()>;
    /// Stores `value` under `key` only while the key exists (not taken, deleted or expired);
    /// false when it did not. Keeps what a concurrent `take` ended from coming back.
    async fn replace(&self, key: &str, value: &str, ttl_secs: i64) -> KvResult<bool>;
    async fn get(&self, key: &str) -> KvResult<Option<String>>;
    /// Reads and deletes in one step: of concurrent callers, one gets the value.
    async fn take(&self, key: &str) -> KvResult<Option<String>>;
    /// Adds one to a counter and returns the new value; the counter expires `window_secs`
    /// after its first increment.
    async fn incr(&self, key: &str, window_secs: i64) -> KvResult<u64>;
    async fn delete(&self, key: &str) -> KvResult<()>;
}

/// Whether the counter under `key` (see [`Kv::incr`]) has reached `max`.
pub async fn reached(kv: &dyn Kv, key: &str, max: u64) -> KvResult<bool> {
    Ok(kv.get(key).await?.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) >= max)
}

/// Chooses the backend from `kv.url`: `memory` or `redis://host:port`.
pub async fn connect(config: &crate::config::KvConfig, clock: Arc<dyn crate::clock::Clock>) -> KvResult<Arc<dyn Kv>> {
    let url = config.url.expose();
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(Arc::new(RedisKv::connect(url).await?.with_prefix(&config.prefix)))
    } else {
        Ok(Arc::new(MemoryKv::new(clock)))
    }
}
