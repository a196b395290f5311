//! Who acts, and for whom: the account that signed in (the *actor*) and the party whose data a
//! portal reaches with the tokens (the *subject*). NEN 7513 asks the audit log for both; RFC 8693
//! §4.1 puts the actor in the `act` claim when the two differ (docs/tokens.md).
//!
//! Sessions, codes and grants store the subject (`acting_for`, empty when it is the actor). Whom
//! an account may act for is a representation (docs/representation.md); the subject is then a
//! care client: the person whose dossier it is, at one organisation.

use serde::{Deserialize, Serialize};

use super::{AccountId, CareClientId};

/// Whose data is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Party {
    /// A person with an account.
    Account(AccountId),
    /// A care client at one organisation: a representative acts for them, or they chose their
    /// own dossier. Their tokens carry the care client's own subject.
    CareClient(CareClientId),
}

impl Party {
    /// The stored form, `account:<id>`; the kind first so that later kinds cannot be mistaken.
    pub fn to_stored(&self) -> String {
        match self {
            Party::Account(id) => format!("account:{id}"),
            Party::CareClient(id) => format!("care_client:{id}"),
        }
    }

    pub fn parse_stored(value: &str) -> Option<Self> {
        match value.split_once(':')? {
            ("account", id) if !id.is_empty() => Some(Party::Account(AccountId(id.to_string()))),
            ("care_client", id) if !id.is_empty() => Some(Party::CareClient(CareClientId(id.to_string()))),
            _ => None,
        }
    }

    /// The id the audit log names the party by.
    pub fn audit_id(&self) -> &str {
        match self {
            Party::Account(id) => id.as_str(),
            Party::CareClient(id) => id.as_str(),
        }
    }
}

/// The actor and the subject of a session, code, grant or token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub actor: AccountId,
    pub subject: Party,
}

impl Principal {
    /// Someone acting for themself.
    pub fn for_self(account: &AccountId) -> Self {
        Self { actor: account.clone(), subject: Party::Account(account.clone()) }
    }

    /// From the stored columns: the account, and whom it acts for (`None`: itself).
    pub fn from_stored(actor: &AccountId, acting_for: Option<&Party>) -> Self {
        match acting_for {
            Some(party) => Self { actor: actor.clone(), subject: party.clone() },
            None => Self::for_self(actor),
        }
    }

    pub fn acts_for_self(&self) -> bool {
        matches!(&self.subject, Party::Account(id) if *id == self.actor)
    }

    /// What is stored in `acting_for`: nothing when the actor acts for themself.
    pub fn acting_for(&self) -> Option<&Party> {
        (!self.acts_for_self()).then_some(&self.subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId(id.into())
    }

    #[test]
    fn acting_for_oneself_stores_nothing() {
        let p = Principal::for_self(&account("a1"));
        assert!(p.acts_for_self());
        assert_eq!(p.acting_for(), None);
        assert_eq!(Principal::from_stored(&account("a1"), None), p);
        // Naming oneself explicitly is the same principal, and still stores nothing.
        let explicit = Principal::from_stored(&account("a1"), Some(&Party::Account(account("a1"))));
        assert_eq!(explicit, p);
        assert_eq!(explicit.acting_for(), None);
    }

    #[test]
    fn acting_for_another_names_them() {
        let other = Party::Account(account("b2"));
        let p = Principal::from_stored(&account("a1"), Some(&other));
        assert!(!p.acts_for_self());
        assert_eq!(p.acting_for(), Some(&other));
        assert_eq!(p.subject.audit_id(), "b2");
    }

    #[test]
    fn the_stored_form_round_trips_and_refuses_what_it_does_not_know() {
        let party = Party::Account(account("0f8e-4a"));
        assert_eq!(party.to_stored(), "account:0f8e-4a");
        assert_eq!(Party::parse_stored("account:0f8e-4a"), Some(party));
        let client = Party::CareClient(CareClientId("c-9".into()));
        assert_eq!(Party::parse_stored(&client.to_stored()), Some(client));
        for bad in ["", "account:", "0f8e", "client:12", ":x", "care_client:"] {
            assert_eq!(Party::parse_stored(bad), None, "{bad:?}");
        }
    }
}
