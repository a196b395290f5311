//! What governs a sign-in: the policies of the portal's organisation and of the account's own
//! organisation (the stricter wins), the `acr_values`, and every requested scope's level.

use super::interaction::Demands;
use crate::app::AppState;
use crate::auth::levels::Requirement;
use crate::config::Config;
use crate::domain::{AccountId, ClientId};
use crate::store::{OrganisationPolicy, StoreError};

/// What the organisations involved allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// A mailed token counts as a second factor.
    pub mailed_token: bool,
    /// Days a browser may be trusted; 0 when not at all. The stricter organisation wins.
    pub trusted_device_days: i64,
}

/// What a sign-in demands and what it allows, from one read of the policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Governing {
    pub requirement: Requirement,
    pub allowed: Allowed,
    /// The account's own organisation asks a secret question (false until the account is known).
    pub secret_question: bool,
}

/// The rules for a sign-in for `portal` (none for own pages) by `account` (once known).
pub async fn governing(
    state: &AppState,
    demands: &Demands<'_>,
    portal: Option<&ClientId>,
    account: Option<&AccountId>,
) -> Result<Governing, StoreError> {
    let mut policies: Vec<_> = portal_policy(state, portal).await?.into_iter().collect();
    let own = match account {
        Some(account) => state.store.policy_for_account(account).await?,
        None => None,
    };
    let secret_question = own.as_ref().is_some_and(|p| p.secret_question);
    policies.extend(own);
    Ok(Governing { secret_question, ..governing_for(&state.config, demands, &policies) })
}

/// [`governing`] for policies already loaded.
pub fn governing_for(config: &Config, demands: &Demands<'_>, policies: &[OrganisationPolicy]) -> Governing {
    let mut requirement = Requirement {
        level: demands.level,
        // A mailed token is a second factor only where every organisation involved accepts it.
        ignore_mail: !mailed_token_accepted(policies),
        ..Requirement::default()
    };
    for policy in policies {
        requirement = requirement.and(Requirement { level: Some(policy.min_level), ..Requirement::default() });
    }
    for scope in demands.scope.into_iter().flat_map(|s| s.iter()) {
        if let Some(demand) = config.scope_levels.get(scope) {
            let demand = Requirement { level: Some(demand.level), max_age: demand.max_age_secs, ignore_mail: false };
            requirement = requirement.and(demand);
        }
    }
    let allowed = Allowed {
        mailed_token: mailed_token_accepted(policies),
        trusted_device_days: policies.iter().map(|p| p.trusted_device_days).min().unwrap_or(7),
    };
    Governing { requirement, allowed, secret_question: false }
}

/// The policies that govern a sign-in: the portal's organisation's and the account's own.
pub async fn policies(
    state: &AppState,
    portal: Option<&ClientId>,
    account: Option<&AccountId>,
) -> Result<Vec<OrganisationPolicy>, StoreError> {
    let mut policies: Vec<_> = portal_policy(state, portal).await?.into_iter().collect();
    if let Some(account) = account {
        policies.extend(state.store.policy_for_account(account).await?);
    }
    Ok(policies)
}

/// The policy of the organisation the portal belongs to.
async fn portal_policy(state: &AppState, portal: Option<&ClientId>) -> Result<Option<OrganisationPolicy>, StoreError> {
    let Some(client) = portal else { return Ok(None) };
    match state.client(client.as_str()).await? {
        Some(client) => Ok(state.policy(&client.organisation_id).await?.map(|p| OrganisationPolicy::clone(&p))),
        None => Ok(None),
    }
}

/// True when the organisations involved accept a mailed token as a second factor: at least one
/// is involved, and none refuses (the stricter one wins).
pub fn mailed_token_accepted(policies: &[OrganisationPolicy]) -> bool {
    !policies.is_empty() && policies.iter().all(|p| p.mailed_token)
}

#[cfg(test)]
mod tests {
    use super::mailed_token_accepted;
    use crate::domain::OrganisationId;
    use crate::store::OrganisationPolicy;

    #[test]
    fn the_stricter_organisation_decides_about_mailed_tokens() {
        let policy = |accepts| OrganisationPolicy {
            mailed_token: accepts,
            ..OrganisationPolicy::default_for(OrganisationId("o".into()))
        };
        assert!(!mailed_token_accepted(&[]), "no organisation, no mailed tokens");
        assert!(mailed_token_accepted(&[policy(true)]));
        assert!(!mailed_token_accepted(&[policy(true), policy(false)]));
    }
}
