//! Domain newtypes. Input is parsed into these once, at the edge ("parse, don't validate"),
//! so the layers below never see an unchecked username, redirect URI or scope.

mod names;
mod principal;
pub mod representation;
mod secret;
mod uri;

pub use names::{BirthDate, Email, Username, UsernameError};
pub use principal::{Party, Principal};
pub use secret::Secret;
pub use uri::RedirectUri;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A care organisation (zorgaanbieder).
    OrganisationId
);
id_type!(
    /// An account: a person who signs in. One per person, across organisations.
    AccountId
);
id_type!(
    /// The OIDC subject of an account: opaque, random, stable, never reused (OIDC Core §8).
    Subject
);
id_type!(
    /// An OAuth client (a portal or a machine client), RFC 6749 §2.2.
    ClientId
);
id_type!(
    /// One authorization grant: the family of tokens that a code exchange or
    /// client-credentials request started. Revoking it revokes every token in it.
    GrantId
);
id_type!(
    /// A single-sign-on session (the `sid` claim).
    SessionId
);
id_type!(
    /// A care client (cliënt) at one organisation: the person whose dossier a portal shows.
    CareClientId
);
id_type!(
    /// One representation: an account that may act for a care client.
    RepresentationId
);

/// A set of OAuth scopes (RFC 6749 §3.3), kept in request order without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space-separated scope string; `None` when a token has characters RFC 6749 §3.3 forbids.
    pub fn parse(value: &str) -> Option<Self> {
        let mut scopes: Vec<String> = Vec::new();
        for token in value.split(' ').filter(|s| !s.is_empty()) {
            let valid = token.len() <= 128
                && token.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return None;
            }
            if !scopes.iter().any(|s| s == token) {
                scopes.push(token.to_string());
            }
        }
        Some(Self(scopes))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes that `keep` keeps, in the same order.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> Scopes {
        Scopes(self.0.iter().filter(|s| keep(s)).cloned().collect())
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}
