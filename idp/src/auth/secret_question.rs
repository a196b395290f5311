//! The secret question some organisations ask after activation (journey B). The answer is kept
//! only as an Argon2id hash of its normalised form, so "Amsterdam", " amsterdam " and
//! "ＡＭＳＴＥＲＤＡＭ" are the same answer.

use crate::auth::password;
use crate::domain::{Secret, Username};

/// Case, Unicode compatibility forms and whitespace do not matter in an answer.
pub fn normalise_answer(answer: &str) -> String {
    Username::normalise(answer)
}

pub async fn hash_answer(answer: &str) -> Result<Secret<String>, password::HashError> {
    password::hash(Secret::new(normalise_answer(answer))).await
}

pub async fn answer_matches(answer: &str, stored: Secret<String>) -> bool {
    password::verify(Secret::new(normalise_answer(answer)), Some(stored)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_compare_normalised() {
        let stored = hash_answer("Amsterdam").await.unwrap();
        assert!(!stored.expose().contains("msterdam"));
        assert!(answer_matches("  amsterdam ", stored.clone()).await);
        assert!(answer_matches("ＡＭＳＴＥＲＤＡＭ", stored.clone()).await);
        assert!(!answer_matches("Rotterdam", stored).await);
    }
}
