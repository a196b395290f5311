//! Password hashing with Argon2id (RFC 9106), never on the async threads: a hash takes
//! milliseconds of CPU and must not stall the workers that answer everyone else. Unknown users
//! are checked against a dummy hash, so the answer takes as long whether or not the account exists.
//!
//! The hashing runs on its own threads, one per core, each keeping its 19 MiB of working memory
//! between hashes: memory stays at cores × 19 MiB however many people sign in (allocating per
//! call let the C allocator keep every burst's peak, over a GiB after a few hundred sign-ins).
//! Those threads run at the lowest scheduling priority (nice +19): when sign-ins saturate the cores,
//! discovery, tokens and single sign-on still get the CPU at once, and the hashes take what is left.
//! The computation is `argon2-rust` (runtime-selected AVX-512/AVX2/SSE/NEON, bit-exact with the
//! reference implementation, the code behind node's `@node-rs/argon2`); PHC strings are read and
//! written with the `password-hash` types of the `argon2` crate, whose own code still verifies
//! hashes of other Argon2 variants. Both produce the same hashes, so nothing stored changes.
//!
//! How many sign-ins may wait for a hash is bounded per server ([`Admission`]): beyond that a new
//! attempt is refused at once (503 with `Retry-After`), before it counts against anyone's limit.
//!
//! Passwords are normalised with Unicode NFKC before they are hashed or checked (NIST SP 800-63B
//! §5.1.1.2), so `é` typed as one code point or as `e` + U+0301 is the same password, whatever
//! the keyboard or phone produced. Hashes made before that, from the password as typed, keep
//! working: when the normalised form does not match and differs from the typed one, the typed
//! one is tried too.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{Output, PasswordHash, PasswordVerifier, SaltString};
use argon2::{Argon2, Params, Version, ARGON2ID_IDENT};
use argon2_rust::params::{Memory, TagLen};
use argon2_rust::Hasher;
use rand::rngs::OsRng;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use unicode_normalization::{is_nfkc, UnicodeNormalization};

use crate::crypto::constant_time_eq;
use crate::domain::Secret;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

/// How much lower than the server's other threads the hashing threads are scheduled (nice).
const HASHING_NICENESS: i32 = 19;

type Job = Box<dyn FnOnce(&mut Hasher) + Send>;

/// The hashing threads' queue. Started on first use; the threads live as long as the process.
fn hashing_threads() -> &'static Mutex<mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..cores() {
            let receiver = Arc::clone(&receiver);
            let started = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || {
                // Best effort: without it hashes still run, only with the same priority as the rest.
                let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS);
                let mut hasher = reference_hasher();
                loop {
                    let job = match receiver.lock() {
                        Ok(queue) => queue.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(&mut hasher),
                        Err(mpsc::RecvError) => return,
                    }
                }
            });
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Mutex::new(sender)
    })
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// A hasher for Poortwachter's own parameters (OWASP's m = 19 MiB, t = 2, p = 1).
fn reference_hasher() -> Hasher {
    argon2_rust::Argon2::new(
        argon2_rust::Algorithm::Argon2id,
        argon2_rust::Version::V0x13,
        argon2_rust::Params::default(),
    )
    .hasher()
}

/// Runs `work` on a hashing thread; `None` when no hashing thread could take it. `held` (a
/// sign-in's place in the queue) is let go when the hash is done, just before the answer, so a
/// request that goes away leaves its place taken until its queued job is gone; a job whose
/// requester went away before it started is skipped (nobody waits for its answer; the attempt has already counted
/// against the username, as every admitted attempt does, but not against the address).
async fn on_hashing_thread<R: Send + 'static>(
    held: Option<Admitted>,
    work: impl FnOnce(&mut Hasher) -> R + Send + 'static,
) -> Option<R> {
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move |hasher| {
        let answer = (!reply.is_closed()).then(|| work(hasher));
        // The place is free before the requester hears the answer: its next attempt finds it so.
        drop(held);
        if let Some(answer) = answer {
            let _ = reply.send(answer);
        }
    });
    hashing_threads().lock().unwrap_or_else(|p| p.into_inner()).send(job).ok()?;
    answer.await.ok()
}

/// Bounds how many password checks of sign-ins may be under way (hashing or waiting to) in one
/// server. An attempt that finds no room is refused at once rather than queued without end.
#[derive(Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    capacity: usize,
    /// Whether the last attempt was refused: the log says when refusing starts and ends, not
    /// once per refused attempt (thousands a minute in a storm).
    refusing: Arc<AtomicBool>,
}

/// A sign-in's place in the hashing queue, held until its password has been checked
/// ([`verify_admitted`]).
pub struct Admitted(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// Room for `waiting` checks (at least one).
    pub fn new(waiting: u32) -> Self {
        let capacity = waiting.max(1) as usize;
        Self { slots: Arc::new(Semaphore::new(capacity)), capacity, refusing: Arc::default() }
    }

    /// A place in the queue, or `None` when it is full.
    pub fn try_admit(&self) -> Option<Admitted> {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => {
                // Said once the queue is at most half full again, not at every place freed.
                if self.refusing.load(Ordering::Relaxed)
                    && self.slots.available_permits() >= self.capacity / 2
                    && self.refusing.swap(false, Ordering::Relaxed)
                {
                    tracing::info!("password checks have room again: sign-ins are admitted");
                }
                Some(Admitted(permit))
            }
            Err(_) => {
                if !self.refusing.swap(true, Ordering::Relaxed) {
                    tracing::warn!("every password check is taken: new sign-ins get 503 until there is room");
                }
                None
            }
        }
    }

    /// The default room: 32 checks per core: at 7.6 ms a hash (docs/benchmarks.md) the last in the
    /// queue waits about a quarter of a second when hashing has the cores, longer when other work
    /// takes them (0.35–0.57 s measured under a storm).
    pub fn default_room() -> u32 {
        u32::try_from(cores() * 32).unwrap_or(u32::MAX)
    }
}

/// Argon2id with Poortwachter's parameters, into a PHC string.
fn hash_with(hasher: &mut Hasher, password: &[u8]) -> Result<String, HashError> {
    let params = Params::default();
    hasher.set_argon2(*reference_hasher().argon2());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(|_| HashError)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hasher.hash_into(password, salt_bytes, &mut out).map_err(|_| HashError)?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|_| HashError)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|_| HashError)?),
    };
    Ok(phc.to_string())
}

fn verify_with(hasher: &mut Hasher, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    if parsed.algorithm != ARGON2ID_IDENT {
        // Hashes from elsewhere (other Argon2 variants) take the argon2 crate's own path.
        return Argon2::default().verify_password(password, &parsed).is_ok();
    }
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&parsed), parsed.salt, parsed.hash) else {
        return false;
    };
    let version = match parsed.version {
        Some(0x10) => argon2_rust::Version::V0x10,
        Some(0x13) | None => argon2_rust::Version::V0x13,
        Some(_) => return false,
    };
    let Ok(fast) = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(params.m_cost())))
        .passes(params.t_cost())
        .lanes(params.p_cost())
        .threads(1)
        .tag_len(TagLen::bytes(expected.len() as u64))
        .build()
    else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    hasher.set_argon2(argon2_rust::Argon2::new(argon2_rust::Algorithm::Argon2id, version, fast));
    hasher.hash_into(password, salt_bytes, &mut out).is_ok() && constant_time_eq(&out, expected.as_bytes())
}

/// What an unknown user's password is checked against: a fixed Argon2id hash with Poortwachter's
/// parameters, of a random string nobody knows (made once with another implementation, the
/// Python `argon2-cffi` binding of the reference code). Fixed rather than made at start, so that
/// no failure can leave it empty and answer unknown users without the work.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$oPSkQZH3kll/tcadNVyz1g$+A55DE/wt+u5ZZ3wQHODIsqkTmy573EOS+e4ENKPrGg";

/// The form of a password that is hashed: NFKC (see the module doc).
fn normalise(password: &str) -> Cow<'_, str> {
    if is_nfkc(password) {
        Cow::Borrowed(password)
    } else {
        Cow::Owned(password.nfkc().collect())
    }
}

/// Hashes a password, normalised, into a PHC string.
pub async fn hash(password: Secret<String>) -> Result<Secret<String>, HashError> {
    on_hashing_thread(None, move |hasher| hash_with(hasher, normalise(password.expose()).as_bytes()).map(Secret::new))
        .await
        .ok_or(HashError)?
}

/// Verifies a password against a stored hash, or against the dummy hash when there is none
/// (unknown user, account not activated), in which case the answer is always false. The
/// normalised form is tried first, then the typed form if it differs (a hash from before
/// normalisation). Whether a second try happens depends on the typed text only, never on the
/// account, so the timing still says nothing about whether the account exists.
pub async fn verify(password: Secret<String>, stored: Option<Secret<String>>) -> bool {
    check(None, password, stored).await
}

/// [`verify`] for a sign-in that holds a place in the queue; the place is let go when the hash
/// is done (or skipped because the request went away).
pub async fn verify_admitted(admitted: Admitted, password: Secret<String>, stored: Option<Secret<String>>) -> bool {
    check(Some(admitted), password, stored).await
}

async fn check(held: Option<Admitted>, password: Secret<String>, stored: Option<Secret<String>>) -> bool {
    on_hashing_thread(held, move |hasher| {
        let typed = password.expose();
        let normalised = normalise(typed);
        let differs = normalised != typed.as_str();
        match &stored {
            Some(hash) => {
                verify_with(hasher, normalised.as_bytes(), hash.expose())
                    || (differs && verify_with(hasher, typed.as_bytes(), hash.expose()))
            }
            None => {
                verify_with(hasher, normalised.as_bytes(), DUMMY_HASH);
                if differs {
                    verify_with(hasher, typed.as_bytes(), DUMMY_HASH);
                }
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Starts the hashing threads and gives them their working memory ahead of the first sign-ins, so
/// that those are not slower: one check per thread, sent at once (a free thread takes the next).
pub async fn warm_up() {
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..cores() {
        checks.spawn(on_hashing_thread(None, |hasher| verify_with(hasher, b"warm-up", DUMMY_HASH)));
    }
    while checks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash(Secret::new("Correct horse 1".into())).await.unwrap();
        assert!(h.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", h.expose());
        assert!(verify(Secret::new("Correct horse 1".into()), Some(h.clone())).await);
        assert!(!verify(Secret::new("correct horse 1".into()), Some(h)).await);
        assert!(!verify(Secret::new("poortwachter-dummy-password".into()), None).await);
    }

    #[test]
    fn the_dummy_hash_has_our_parameters_so_it_costs_what_a_real_check_costs() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm, ARGON2ID_IDENT);
        let params = Params::try_from(&parsed).unwrap();
        let ours = Params::default();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (ours.m_cost(), ours.t_cost(), ours.p_cost()));
        assert_eq!(parsed.hash.unwrap().len(), Params::DEFAULT_OUTPUT_LEN);
    }

    #[tokio::test]
    async fn composed_and_decomposed_accents_are_the_same_password() {
        let composed = "Caf\u{e9} au lait 1";
        let decomposed = "Cafe\u{301} au lait 1";
        let h = hash(Secret::new(composed.into())).await.unwrap();
        assert!(verify(Secret::new(decomposed.into()), Some(h.clone())).await);
        assert!(verify(Secret::new(composed.into()), Some(h.clone())).await);
        // Set decomposed, typed composed later (another phone).
        let h = hash(Secret::new(decomposed.into())).await.unwrap();
        assert!(verify(Secret::new(composed.into()), Some(h)).await);
        // NFKC also folds compatibility forms: the ligature ﬁ and full-width letters.
        let h = hash(Secret::new("\u{FB01}ets ＡＢＣ 12".into())).await.unwrap();
        assert!(verify(Secret::new("fiets ABC 12".into()), Some(h.clone())).await);
        assert!(!verify(Secret::new("fiets abc 12".into()), Some(h)).await);
    }

    #[tokio::test]
    async fn hashes_of_the_typed_form_from_before_normalisation_keep_verifying() {
        let decomposed = "Cafe\u{301} au lait 1";
        let old = hash_with(&mut reference_hasher(), decomposed.as_bytes()).unwrap();
        assert!(verify(Secret::new(decomposed.into()), Some(Secret::new(old.clone()))).await);
        assert!(!verify(Secret::new("Cafe au lait 1".into()), Some(Secret::new(old))).await);
        assert_eq!(normalise("plain ascii"), Cow::Borrowed("plain ascii"));
    }

    #[tokio::test]
    async fn hashes_from_the_library_itself_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"Correct horse 1", &salt).unwrap().to_string();
        assert!(verify(Secret::new("Correct horse 1".into()), Some(Secret::new(theirs.clone()))).await);
        assert!(!verify(Secret::new("wrong".into()), Some(Secret::new(theirs))).await);
        // Other parameters (an older or stronger policy) verify too, through the same threads.
        let params = Params::new(8 * 1024, 3, 2, Some(24)).unwrap();
        let stronger = Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, params);
        let theirs = stronger.hash_password(b"Correct horse 1", &salt).unwrap().to_string();
        assert!(verify(Secret::new("Correct horse 1".into()), Some(Secret::new(theirs.clone()))).await);
        assert!(!verify(Secret::new("Correct horse 2".into()), Some(Secret::new(theirs))).await);
    }

    #[tokio::test]
    async fn our_hashes_verify_with_the_argon2_crate() {
        let ours = hash(Secret::new("Correct horse 1".into())).await.unwrap();
        let parsed = PasswordHash::new(ours.expose()).unwrap();
        assert!(Argon2::default().verify_password(b"Correct horse 1", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"Correct horse 2", &parsed).is_err());
    }
}
