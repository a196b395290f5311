//! A relying party built on the certified-style `openidconnect` crate: it discovers the IdP,
//! builds authorization URLs with PKCE, state and nonce, and validates what comes back.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreTokenIntrospectionResponse, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IntrospectionUrl, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RevocationUrl, Scope, TokenResponse,
};

use super::browser::query_param;
use super::{Portal, TestApp};

pub type RpClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointMaybeSet, EndpointMaybeSet>;

pub struct Rp {
    pub portal: Portal,
    pub issuer: String,
    metadata: CoreProviderMetadata,
    pub http: reqwest::Client,
}

/// What the RP keeps between sending the user away and the callback.
pub struct AuthStart {
    pub url: String,
    pub state: String,
    pub nonce: Nonce,
    pub verifier: String,
}

/// What a successful code exchange gave.
#[derive(Debug)]
pub struct Tokens {
    pub response: CoreTokenResponse,
    pub claims: CoreIdTokenClaims,
    pub id_token: String,
}

impl Tokens {
    pub fn access_token(&self) -> &AccessToken {
        self.response.access_token()
    }

    pub fn refresh_token(&self) -> String {
        self.response.refresh_token().expect("refresh token").secret().clone()
    }
}

impl Rp {
    pub async fn discover(app: &TestApp, portal: &Portal) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery document is valid for an OIDC RP");
        Rp { portal: portal.clone(), issuer: app.issuer.clone(), metadata, http }
    }

    pub fn client(&self) -> RpClient {
        CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(self.portal.client_id.clone()),
            self.portal.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(self.portal.redirect_uri.clone()).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{}/introspect", self.issuer)).unwrap())
        .set_revocation_url(RevocationUrl::new(format!("{}/revoke", self.issuer)).unwrap())
    }

    /// An authorization URL with PKCE S256, state and nonce, plus extra parameters.
    pub fn start(&self, extra: &[(&str, &str)]) -> AuthStart {
        self.start_scoped(&["profile", "email"], extra)
    }

    /// As [`Rp::start`], asking `openid` and `scopes`.
    pub fn start_scoped(&self, scopes: &[&str], extra: &[(&str, &str)]) -> AuthStart {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scopes(scopes.iter().map(|s| Scope::new(s.to_string())))
            .set_pkce_challenge(challenge);
        for (k, v) in extra {
            request = request.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = request.url();
        AuthStart { url: url.to_string(), state: state.secret().clone(), nonce, verifier: verifier.secret().clone() }
    }

    /// A whole sign-in: authorization request, the sign-in form with the test password, callback
    /// and code exchange.
    pub async fn sign_in(&self, browser: &super::Browser, username: &str) -> Tokens {
        let start = self.start(&[]);
        self.finish(&browser.sign_in(&start.url, username, super::PASSWORD).await, &start).await
    }

    /// Checks the callback (state, RFC 9207 iss) and exchanges the code; validates the ID token.
    pub async fn finish(&self, callback: &str, start: &AuthStart) -> Tokens {
        assert!(callback.starts_with(&self.portal.redirect_uri), "unexpected callback {callback}");
        assert_eq!(query_param(callback, "state").as_deref(), Some(start.state.as_str()), "state round-trips");
        assert_eq!(query_param(callback, "iss").as_deref(), Some(self.issuer.as_str()), "RFC 9207 iss");
        let code = query_param(callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
        self.exchange(&code, start).await.expect("code exchange succeeds")
    }

    pub async fn exchange(&self, code: &str, start: &AuthStart) -> Result<Tokens, String> {
        let client = self.client();
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .unwrap()
            .set_pkce_verifier(PkceCodeVerifier::new(start.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let id_token = response.id_token().expect("an ID token");
        let verifier = client.id_token_verifier().set_allowed_algs(vec![
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ]);
        let claims = id_token.claims(&verifier, &start.nonce).map_err(|e| format!("ID token invalid: {e:?}"))?.clone();
        // OIDC Core §3.1.3.6: at_hash binds the access token to the ID token.
        let expected_hash = openidconnect::AccessTokenHash::from_token(
            response.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash matches");
        Ok(Tokens { id_token: id_token.to_string(), response, claims })
    }

    pub async fn userinfo(&self, access_token: &AccessToken) -> Result<CoreUserInfoClaims, String> {
        self.client()
            .user_info(access_token.clone(), None)
            .map_err(|e| format!("{e:?}"))?
            .request_async(&self.http)
            .await
            .map_err(|e| format!("{e:?}"))
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<CoreTokenResponse, String> {
        self.client()
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_string()))
            .map_err(|e| format!("{e:?}"))?
            .request_async(&self.http)
            .await
            .map_err(|e| format!("{e:?}"))
    }

    pub async fn introspect(&self, token: &str) -> CoreTokenIntrospectionResponse {
        self.client()
            .introspect(&AccessToken::new(token.to_string()))
            .request_async(&self.http)
            .await
            .expect("introspection answers")
    }

    /// Posts a form to the token endpoint with this portal's credentials (client_secret_basic).
    pub async fn token_request(&self, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/token", self.issuer)).form(form);
        request = match &self.portal.secret {
            Some(secret) => request.basic_auth(&self.portal.client_id, Some(secret)),
            None => request,
        };
        request.send().await.unwrap()
    }
}
