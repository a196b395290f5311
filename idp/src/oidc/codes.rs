//! Authorization codes (RFC 6749 §4.1.2) live in the key-value store, not in the database: a
//! single sign-on then writes nothing to the database at `/authorize`, and the exchange writes
//! only the grant it creates (docs/architecture.md "Authorization codes").
//!
//! Single use holds without the database remembering the code: the grant a code creates has an
//! id chosen when the code is issued, so a second redemption of the same code finds that grant
//! already there (the database's primary key decides between racing redemptions, on every node)
//! and revokes it. After a redemption the entry is replaced by a small marker naming the grant,
//! so a code that comes back later is recognised as reused, not merely unknown, for a code
//! lifetime after the redemption (at least as long as the code itself would have lived).

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::domain::{AccountId, ClientId, GrantId, Party, Scopes, SessionId};
use crate::kv::{keys, Kv, KvError};

/// What an authorization code stands for; the code itself is kept only as a digest (the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub client_id: ClientId,
    pub account_id: AccountId,
    /// Whom the account acts for; `None`: itself.
    pub acting_for: Option<Party>,
    pub session_id: SessionId,
    pub redirect_uri: String,
    pub scope: Scopes,
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    pub acr: String,
    pub amr: Vec<String>,
    /// The grant that redeeming the code creates; known up front, so that the database refuses a
    /// second grant for the same code and a second redemption can revoke the first one's.
    pub grant_id: GrantId,
    pub expires_at: UnixTime,
}

/// A code as the key-value store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Found {
    /// Issued and not yet redeemed (as far as this entry knows: see the module doc).
    Issued(Box<AuthorizationCode>),
    /// Redeemed by this client into this grant.
    Redeemed { client_id: ClientId, grant_id: GrantId },
}

/// Keeps a newly issued code until it expires.
pub async fn put(kv: &dyn Kv, digest: &str, code: &AuthorizationCode, now: UnixTime) -> Result<(), KvError> {
    let ttl = (code.expires_at - now).max(1);
    kv.put(&keys::authorization_code(digest), &encode(&Found::Issued(Box::new(code.clone()))), ttl).await
}

/// The code under `digest`, if it was issued and has not expired.
pub async fn find(kv: &dyn Kv, digest: &str) -> Result<Option<Found>, KvError> {
    let Some(value) = kv.get(&keys::authorization_code(digest)).await? else { return Ok(None) };
    serde_json::from_str(&value).map(Some).map_err(|e| KvError(format!("authorization code: {e}")))
}

/// After the grant is committed: replaces the code by a marker naming its grant, kept for another
/// code lifetime (`ttl_secs`). When this fails the full entry stays until it expires, and a
/// second redemption is still refused by the grant's id.
pub async fn mark_redeemed(kv: &dyn Kv, digest: &str, code: &AuthorizationCode, ttl_secs: i64) -> Result<(), KvError> {
    let marker = Found::Redeemed { client_id: code.client_id.clone(), grant_id: code.grant_id.clone() };
    kv.put(&keys::authorization_code(digest), &encode(&marker), ttl_secs.max(1)).await
}

fn encode(found: &Found) -> String {
    serde_json::to_string(found).expect("a code's fields are plain data")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::kv::MemoryKv;

    fn code(expires_at: UnixTime) -> AuthorizationCode {
        AuthorizationCode {
            client_id: ClientId("portal".into()),
            account_id: AccountId("a1".into()),
            acting_for: None,
            session_id: SessionId("s1".into()),
            redirect_uri: "https://portal.example/cb".into(),
            scope: Scopes::parse("openid profile").unwrap(),
            nonce: Some("n".into()),
            code_challenge: None,
            auth_time: 1_000,
            acr: "urn:poortwachter:loa:low".into(),
            amr: vec!["pwd".into()],
            grant_id: GrantId("g1".into()),
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_redeemed_code_is_remembered_for_a_code_lifetime() {
        let clock = Arc::new(ManualClock::at(1_000));
        let kv = MemoryKv::new(clock.clone() as Arc<dyn Clock>);
        put(&kv, "d1", &code(1_060), 1_000).await.unwrap();
        assert_eq!(find(&kv, "d1").await.unwrap(), Some(Found::Issued(Box::new(code(1_060)))));
        assert_eq!(find(&kv, "d2").await.unwrap(), None, "another digest");
        clock.set(1_030);
        mark_redeemed(&kv, "d1", &code(1_060), 60).await.unwrap();
        let marker = Found::Redeemed { client_id: ClientId("portal".into()), grant_id: GrantId("g1".into()) };
        assert_eq!(find(&kv, "d1").await.unwrap(), Some(marker));
        clock.set(1_089);
        assert!(find(&kv, "d1").await.unwrap().is_some(), "the marker outlives the code");
        clock.set(1_090);
        assert_eq!(find(&kv, "d1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unredeemed_code_is_gone_when_it_expires() {
        let clock = Arc::new(ManualClock::at(1_000));
        let kv = MemoryKv::new(clock.clone() as Arc<dyn Clock>);
        put(&kv, "d1", &code(1_060), 1_000).await.unwrap();
        clock.set(1_060);
        assert_eq!(find(&kv, "d1").await.unwrap(), None);
    }
}
