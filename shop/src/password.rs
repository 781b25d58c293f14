//! Password hashing with argon2id (m = 19,456 KiB, t = 2, p = 1, OWASP's recommendation). Each hash
//! or verification runs on the blocking pool behind a semaphore with one permit per core, so a
//! login flood queues here instead of starving the async executor. Unknown usernames are verified
//! against a dummy hash, so they take as long as a wrong password.

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy: String,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

impl Passwords {
    /// Makes the dummy hash (one hash's worth of work at start-up).
    pub async fn new() -> anyhow::Result<Self> {
        let permits = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let dummy = tokio::task::spawn_blocking(|| hash_blocking("not a password of anyone's"))
            .await
            .context("dummy hash task")??;
        Ok(Self {
            permits: Arc::new(Semaphore::new(permits)),
            dummy,
        })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("semaphore closed")?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .context("hash task")?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user), the dummy is verified and
    /// the answer is false.
    pub async fn verify(&self, hash: Option<String>, password: String) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await.context("semaphore closed")?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.clone());
        let ok = tokio::task::spawn_blocking(move || verify_blocking(&hash, &password))
            .await
            .context("verify task")?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_chosen_cost_and_verify() {
        let h = hash_blocking("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking(&h, "correct horse"));
        assert!(!verify_blocking(&h, "wrong horse"));
        assert!(!verify_blocking("not a hash", "x"));
    }
}
