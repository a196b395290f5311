//! Micro-benchmarks of the work the token endpoint does per request, outside HTTP:
//! signing access and ID tokens (ES256, and RS256 for ID tokens), verifying an access token
//! (introspection, userinfo), the SHA-256 token digest (client secrets, codes, refresh tokens)
//! and PKCE S256 verification; and checking a password (Argon2id, m = 19 MiB, t = 2, p = 1) as a
//! sign-in does, beside the same hash computed by the `argon2` crate.
//!
//! Run: `cargo bench -p idp --bench tokens` (about a minute). Results and how they relate to the
//! HTTP load figures: `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use idp::clock::UnixTime;
use idp::crypto;
use idp::oidc::keys::{generate, KeyRing};
use idp::oidc::pkce;
use idp::oidc::tokens::{
    at_hash, new_jti, sign_access_token, sign_id_token, verify_access_token, AccessTokenClaims, IdTokenClaims,
};
use idp::store::SigningAlg;

/// A fixed moment: benchmarks, like everything else, do not read the wall clock.
const NOW: UnixTime = 1_800_000_000;
const ISSUER: &str = "https://idp.zorg.example";
const CLIENT: &str = "c_4kq2Zr0bQm9xW1yT";

fn key_ring() -> KeyRing {
    let rows = [
        generate(SigningAlg::ES256, NOW - 60, NOW - 60).expect("ES256 key"),
        generate(SigningAlg::RS256, NOW - 60, NOW - 60).expect("RS256 key"),
    ];
    KeyRing::load(&rows).expect("keys load")
}

/// An access token as the authorization-code grant mints it (person, session, grant jti).
fn user_access_claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "3f6d0c0e-9a51-4c57-b1b8-7f0c8c1e2a44".into(),
        aud: CLIENT.into(),
        exp: NOW + 600,
        iat: NOW,
        jti: new_jti(Some(&idp::domain::GrantId(crypto::random_token(16)))),
        client_id: CLIENT.into(),
        scope: "openid profile email".into(),
        auth_time: Some(NOW - 30),
        acr: Some("urn:poortwachter:acr:password".into()),
        amr: vec!["pwd".into()],
        sid: Some(crypto::random_token(16)),
        act: None,
        representation: None,
    }
}

/// An access token as the client-credentials grant mints it.
fn machine_access_claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.into(),
        sub: CLIENT.into(),
        aud: CLIENT.into(),
        exp: NOW + 600,
        iat: NOW,
        jti: new_jti(None),
        client_id: CLIENT.into(),
        scope: "profile".into(),
        auth_time: None,
        acr: None,
        amr: Vec::new(),
        sid: None,
        act: None,
        representation: None,
    }
}

fn id_claims(access_token: &str) -> IdTokenClaims {
    IdTokenClaims {
        iss: ISSUER.into(),
        sub: "3f6d0c0e-9a51-4c57-b1b8-7f0c8c1e2a44".into(),
        aud: CLIENT.into(),
        exp: NOW + 600,
        iat: NOW,
        auth_time: NOW - 30,
        nonce: Some(crypto::random_token(16)),
        acr: "urn:poortwachter:acr:password".into(),
        amr: vec!["pwd".into()],
        sid: Some(crypto::random_token(16)),
        azp: CLIENT.into(),
        at_hash: Some(at_hash(access_token)),
        acting_for: None,
    }
}

fn signing(c: &mut Criterion) {
    let keys = key_ring();
    let user = user_access_claims();
    let machine = machine_access_claims();
    let access_token = sign_access_token(&keys, &user, NOW).expect("sign");
    let id = id_claims(&access_token);

    let mut group = c.benchmark_group("sign");
    group.bench_function("access_token_es256", |b| {
        b.iter(|| sign_access_token(&keys, black_box(&user), NOW).expect("sign"))
    });
    group.bench_function("id_token_es256", |b| {
        b.iter(|| sign_id_token(&keys, SigningAlg::ES256, black_box(&id), NOW).expect("sign"))
    });
    group.bench_function("id_token_rs256", |b| {
        b.iter(|| sign_id_token(&keys, SigningAlg::RS256, black_box(&id), NOW).expect("sign"))
    });
    // What `client_credentials` does per request besides HTTP and client authentication:
    // a fresh jti (OS random), the claims, one ES256 signature.
    group.bench_function("mint_client_credentials_es256", |b| {
        b.iter(|| {
            let mut claims = machine.clone();
            claims.jti = new_jti(None);
            sign_access_token(&keys, black_box(&claims), NOW).expect("sign")
        })
    });
    // What the authorization-code grant mints: access token, at_hash, ES256 ID token.
    group.bench_function("mint_code_exchange_es256", |b| {
        b.iter(|| {
            let at = sign_access_token(&keys, black_box(&user), NOW).expect("sign");
            let mut claims = id.clone();
            claims.at_hash = Some(at_hash(&at));
            let it = sign_id_token(&keys, SigningAlg::ES256, &claims, NOW).expect("sign");
            (at, it)
        })
    });
    group.finish();
}

fn verifying(c: &mut Criterion) {
    let keys = key_ring();
    let token = sign_access_token(&keys, &user_access_claims(), NOW).expect("sign");
    let mut group = c.benchmark_group("verify");
    group.bench_function("access_token_es256", |b| {
        b.iter(|| verify_access_token(&keys, ISSUER, black_box(&token), NOW).expect("valid"))
    });
    let forged = format!("{}A", &token[..token.len() - 1]);
    group.bench_function("access_token_es256_bad_signature", |b| {
        b.iter(|| verify_access_token(&keys, ISSUER, black_box(&forged), NOW).is_err())
    });
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let secret = crypto::random_token(32);
    let verifier = crypto::random_token(48);
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let mut group = c.benchmark_group("hash");
    group.bench_function("token_digest_sha256", |b| b.iter(|| crypto::token_digest(black_box(&secret))));
    group.bench_function("pkce_verify_s256", |b| {
        b.iter(|| pkce::verify_s256(black_box(&verifier), black_box(&challenge)))
    });
    group.bench_function("random_token_32", |b| b.iter(|| crypto::random_token(black_box(32))));
    group.finish();
}

fn passwords(c: &mut Criterion) {
    use idp::auth::password;
    use idp::domain::Secret;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let typed = || Secret::new("Correct horse 1".to_string());
    let stored = runtime.block_on(password::hash(typed())).expect("hash");
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    // The whole check a sign-in waits for: queue, hashing thread, argon2-rust, constant-time compare.
    group.bench_function("verify_argon2id_19MiB_t2_p1", |b| {
        b.iter(|| assert!(runtime.block_on(password::verify(typed(), Some(stored.clone())))))
    });
    // The same parameters computed by the argon2 crate (used before), on this thread.
    group.bench_function("argon2_crate_same_parameters", |b| {
        let argon2 = argon2::Argon2::default();
        let mut out = [0u8; 32];
        b.iter(|| argon2.hash_password_into(black_box(b"Correct horse 1"), b"0123456789abcdef", &mut out))
    });
    group.finish();
}

fn quick() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(50)
}

criterion_group! {
    name = benches;
    config = quick();
    targets = signing, verifying, hashing, passwords
}
criterion_main!(benches);
