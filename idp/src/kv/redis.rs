//! Redis-backed key-value store, for several IdP nodes behind one load balancer.
//! Expiry is Redis's own (server time), which is why tests of expiry use the memory store.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::{Kv, KvError, KvResult};

pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisKv {
    pub async fn connect(url: &str) -> KvResult<Self> {
        let client = redis::Client::open(url).map_err(|e| KvError(e.to_string()))?;
        let conn = ConnectionManager::new(client).await.map_err(|e| KvError(e.to_string()))?;
        Ok(Self { conn, prefix: "pw:".into() })
    }

    /// Uses a key prefix, so several deployments (or tests) can share one Redis.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn err(e: redis::RedisError) -> KvError {
    KvError(e.to_string())
}

#[async_trait]
impl Kv for RedisKv {
    async fn put(&self, key: &str, value: &str, ttl_secs: i64) -> KvResult<()> {
        let mut c = self.conn.clone();
        c.set_ex::<_, _, ()>(self.key(key), value, ttl_secs.max(1) as u64).await.map_err(err)
    }

    async fn replace(&self, key: &str, value: &str, ttl_secs: i64) -> KvResult<bool> {
        let mut c = self.conn.clone();
        // SET … XX: only an existing key, atomically with a concurrent GETDEL.
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("EX")
            .arg(ttl_secs.max(1))
            .arg("XX")
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(set.is_some())
    }

    async fn get(&self, key: &str) -> KvResult<Option<String>> {
        let mut c = self.conn.clone();
        c.get(self.key(key)).await.map_err(err)
    }

    async fn take(&self, key: &str) -> KvResult<Option<String>> {
        let mut c = self.conn.clone();
        c.get_del(self.key(key)).await.map_err(err)
    }

    async fn incr(&self, key: &str, window_secs: i64) -> KvResult<u64> {
        let mut c = self.conn.clone();
        let key = self.key(key);
        // INCR and EXPIRE NX in one transaction: the window starts at the first failure.
        let (n,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1u64)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(window_secs.max(1))
            .arg("NX")
            .ignore()
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(n)
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(self.key(key)).await.map_err(err)
    }
}
