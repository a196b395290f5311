//! Set-ups that many journeys share: the usual portal, an organisation policy, an invitation,
//! and an account with an authenticator app. Each goes through the same code an operator or
//! the person would reach, so a test that uses one still tests the real path.

use idp::activation::invite::{self, InviteRequest, Invited};
use idp::activation::Mailing;
use idp::admin::{self, PolicyChange};
use idp::auth::{factors, totp};
use idp::store::ClientKind;
use idp::ui::Locale;

use super::rp::Rp;
use super::{Portal, TestApp};

impl TestApp {
    /// The portal most journeys sign in to: `alpha`, a confidential client of the test
    /// organisation (`https://alpha.portal.example/callback`).
    pub async fn alpha_portal(&self) -> Portal {
        self.portal("alpha", ClientKind::Confidential).await
    }

    /// A relying party for [`Self::alpha_portal`], its discovery done; the portal is `rp.portal`.
    pub async fn alpha_rp(&self) -> Rp {
        let portal = self.alpha_portal().await;
        self.rp(&portal).await
    }

    /// Changes the test organisation's policy, as `idp-admin policy set` does.
    pub async fn set_policy(&self, change: PolicyChange) {
        admin::set_policy(&self.admin(), &self.org, change, self.now()).await.expect("policy change");
    }

    /// An invitation to the test organisation for `email`, from Jan Jansen without birth date
    /// or client number; change fields with struct update syntax before [`Self::invite`].
    pub fn invitation(&self, email: &str) -> InviteRequest {
        InviteRequest {
            organisation: self.org.clone(),
            email: email.into(),
            given_name: "Jan".into(),
            family_name: "Jansen".into(),
            birth_date: None,
            client_number: None,
        }
    }

    /// Sends an invitation as an operator does (`idp-admin invite`); its mail waits in the outbox.
    pub async fn invite(&self, request: InviteRequest) -> Invited {
        let mailing =
            Mailing { templates: &self.state.mail_templates, config: &self.state.config, issuer: &self.issuer };
        invite::invite(&self.admin(), mailing, request, self.now()).await.expect("invitation")
    }

    /// Creates an account with [`super::PASSWORD`] and an enrolled authenticator app; returns
    /// the app's secret. See [`Self::enrol_app`] for the clock.
    pub async fn user_with_app(&self, username: &str) -> Vec<u8> {
        self.user(username).await;
        self.enrol_app(username).await
    }

    /// Enrols an authenticator app for an existing account through the use cases (start, then
    /// confirm with a code); returns its secret. The clock moves on one step afterwards, so the
    /// confirming code is spent and the test's next code is fresh.
    pub async fn enrol_app(&self, username: &str) -> Vec<u8> {
        let account = self.state.store.account_by_username(username).await.unwrap().expect("the account exists");
        let factor = factors::start_totp(&self.state, &account, self.now()).await.unwrap();
        let secret = self.state.factor_key.open(factor.secret.as_ref().unwrap().expose()).unwrap();
        let code = totp::code_at(&secret, self.now());
        let used = factors::confirm_totp(&self.state, &account, &factor.id, &code, Locale::Nl, self.now()).await;
        assert!(used.unwrap().is_some(), "enrolled");
        self.clock.advance(30);
        secret
    }
}
