//! Accounts: their usernames, random picks among them, and the helpers for making many quickly
//! (`--hash-password`, `--make-accounts`).

use std::io::Write;

use idp::crypto;
use idp::domain::{Secret, Username};

use crate::args::Args;

/// The username of account `n` (1-based).
pub fn username(args: &Args, n: usize) -> String {
    format!("{}{}", args.user_prefix, n)
}

/// Random accounts (1-based) for one worker: xorshift64*, seeded per worker and process.
pub struct RandomAccounts(u64);

impl RandomAccounts {
    pub fn new(seed: u64) -> Self {
        RandomAccounts(seed ^ u64::from(std::process::id()))
    }

    /// The next account number, 1 ..= `accounts`.
    pub fn pick(&mut self, accounts: usize) -> usize {
        let seed = &mut self.0;
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) % accounts as u64) as usize + 1
    }
}

/// `--hash-password`: one Argon2id hash made by Poortwachter's own code, for bulk-made accounts.
pub async fn hash_password(args: &Args) {
    match idp::auth::password::hash(Secret::new(args.password.clone())).await {
        Ok(hash) => println!("{}", hash.expose()),
        Err(e) => {
            eprintln!("code_flow_load: {e}");
            std::process::exit(1);
        }
    }
}

/// `--make-accounts N`: CSV rows for accounts `<prefix>1` … `<prefix>N`, the username's forms
/// (shown, normalised, look-alike skeleton) computed as `idp-admin user create` computes them,
/// a random UUID id and a random subject, as `admin::create_user` makes them.
pub fn make_accounts(args: &Args, count: usize) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "id,subject,username,username_normalised,username_skeleton")?;
        for n in 1..=count {
            let name = username(args, n);
            let parsed = Username::parse(&name).unwrap_or_else(|e| {
                eprintln!("code_flow_load: username {name}: {e}");
                std::process::exit(2)
            });
            for field in [parsed.display(), parsed.normalised(), parsed.skeleton()] {
                if field.contains([',', '"', '\n']) {
                    eprintln!("code_flow_load: username {name} needs CSV quoting; choose a plain prefix");
                    std::process::exit(2);
                }
            }
            writeln!(
                out,
                "{},{},{},{},{}",
                uuid::Uuid::new_v4(),
                crypto::random_token(16),
                parsed.display(),
                parsed.normalised(),
                parsed.skeleton()
            )?;
        }
        out.flush()
    };
    if let Err(e) = write() {
        eprintln!("code_flow_load: writing accounts: {e}");
        std::process::exit(1);
    }
}
