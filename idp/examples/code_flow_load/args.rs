//! The command line.

use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Poortwachter,
    Node,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Poortwachter => "poortwachter",
            Target::Node => "node",
        }
    }

    /// Where the authorization endpoint sends a browser without a session.
    pub fn signin_path(self) -> &'static str {
        match self {
            Target::Poortwachter => "/login",
            Target::Node => "/interaction/",
        }
    }
}

pub struct Args {
    pub target: Target,
    pub base: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub scope: String,
    pub users: usize,
    pub accounts: usize,
    pub user_prefix: String,
    pub password: String,
    pub duration: Duration,
    pub mint_secs: Duration,
    pub password_secs: Duration,
    pub password_browsers: usize,
    pub server_pid: Option<u32>,
    pub db_match: Vec<String>,
    pub peer_pids: Vec<u32>,
    pub clk_tck: f64,
    pub hash_password: bool,
    pub make_accounts: Option<usize>,
    pub flood: Flood,
}

/// `--flood USERNAME`: wrong passwords for one account from many client addresses (see [`flood`]).
pub struct Flood {
    pub username: Option<String>,
    pub secs: Duration,
    pub rate: f64,
    pub forms: usize,
    pub addresses: u32,
    pub limit: u64,
    pub bystanders: usize,
}

pub fn parse_args() -> Args {
    let mut args = Args {
        target: Target::Poortwachter,
        base: "http://127.0.0.1:18181".into(),
        client_id: String::new(),
        client_secret: String::new(),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        scope: "openid profile".into(),
        users: 64,
        accounts: 0,
        user_prefix: "u".into(),
        password: String::new(),
        duration: Duration::from_secs(10),
        mint_secs: Duration::from_secs(3),
        password_secs: Duration::ZERO,
        password_browsers: 8,
        server_pid: None,
        db_match: Vec::new(),
        peer_pids: Vec::new(),
        clk_tck: 100.0,
        hash_password: false,
        make_accounts: None,
        flood: Flood {
            username: None,
            secs: Duration::from_secs(10),
            rate: 200.0,
            forms: 16,
            addresses: 1000,
            limit: 5,
            bystanders: 8,
        },
    };
    let secs = |v: String, flag: &str| {
        Duration::from_secs_f64(v.parse().unwrap_or_else(|_| usage(&format!("{flag}: seconds"))))
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--target" => {
                args.target = match value().as_str() {
                    "poortwachter" => Target::Poortwachter,
                    "node" => Target::Node,
                    _ => usage("--target: poortwachter or node"),
                }
            }
            "--base" => args.base = value().trim_end_matches('/').to_string(),
            "--client-id" => args.client_id = value(),
            "--client-secret" => args.client_secret = value(),
            "--redirect-uri" => args.redirect_uri = value(),
            "--scope" => args.scope = value(),
            "--users" => args.users = value().parse().unwrap_or_else(|_| usage("--users: a number")),
            "--accounts" => args.accounts = value().parse().unwrap_or_else(|_| usage("--accounts: a number")),
            "--user-prefix" => args.user_prefix = value(),
            "--password" => args.password = value(),
            "--duration" => args.duration = secs(value(), "--duration"),
            "--mint-secs" => args.mint_secs = secs(value(), "--mint-secs"),
            "--password-secs" => args.password_secs = secs(value(), "--password-secs"),
            "--password-browsers" => {
                args.password_browsers = value().parse().unwrap_or_else(|_| usage("--password-browsers: a number"))
            }
            "--server-pid" => args.server_pid = Some(value().parse().unwrap_or_else(|_| usage("--server-pid: a pid"))),
            "--db-match" => args.db_match.push(value()),
            "--peer-pid" => args.peer_pids.push(value().parse().unwrap_or_else(|_| usage("--peer-pid: a pid"))),
            "--clk-tck" => args.clk_tck = value().parse().unwrap_or_else(|_| usage("--clk-tck: a number")),
            "--hash-password" => args.hash_password = true,
            "--make-accounts" => {
                args.make_accounts = Some(value().parse().unwrap_or_else(|_| usage("--make-accounts: a number")))
            }
            "--flood" => args.flood.username = Some(value()),
            "--flood-secs" => args.flood.secs = secs(value(), "--flood-secs"),
            "--flood-rate" => {
                args.flood.rate = value().parse().unwrap_or_else(|_| usage("--flood-rate: attempts per second"))
            }
            "--flood-forms" => args.flood.forms = value().parse().unwrap_or_else(|_| usage("--flood-forms: a number")),
            "--flood-addresses" => {
                args.flood.addresses = value().parse().unwrap_or_else(|_| usage("--flood-addresses: a number"))
            }
            "--flood-limit" => args.flood.limit = value().parse().unwrap_or_else(|_| usage("--flood-limit: a number")),
            "--bystanders" => {
                args.flood.bystanders = value().parse().unwrap_or_else(|_| usage("--bystanders: a number"))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.accounts == 0 {
        args.accounts = args.users;
    }
    if args.hash_password {
        if args.password.is_empty() {
            usage("--hash-password needs --password");
        }
        return args;
    }
    if args.make_accounts.is_some() {
        return args;
    }
    if args.client_id.is_empty()
        || args.client_secret.is_empty()
        || args.password.is_empty()
        || args.users == 0
        || args.password_browsers == 0
    {
        usage("--client-id, --client-secret, --password, --users (≥ 1) and --password-browsers (≥ 1) are required");
    }
    let f = &args.flood;
    if f.username.is_some()
        && (f.secs.is_zero()
            || f.rate.is_nan()
            || f.rate <= 0.0
            || f.forms == 0
            || f.addresses == 0
            || f.addresses > 1 << 24
            || args.target != Target::Poortwachter)
    {
        usage("--flood needs --flood-secs > 0, --flood-rate > 0, --flood-forms ≥ 1, 1 ≤ --flood-addresses ≤ 2^24 and --target poortwachter");
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("code_flow_load: {problem}");
    }
    eprintln!(
        "usage: code_flow_load [--target poortwachter|node] --base URL --client-id ID --client-secret SECRET \
         --redirect-uri URI --users N [--accounts N] --user-prefix u --password PW [--scope 'openid profile'] \
         [--duration SECS] [--mint-secs SECS] [--password-secs SECS] [--password-browsers N] \
         [--server-pid PID [--db-match TEXT]... [--peer-pid PID]... [--clk-tck HZ]]\n\
         \x20      code_flow_load --flood USERNAME [--flood-secs 10] [--flood-rate 200] [--flood-forms 16] \
         [--flood-addresses 1000] [--flood-limit 5] [--bystanders 8] --base … --client-id … (as above)\n\
         \x20      code_flow_load --hash-password --password PW\n\
         \x20      code_flow_load --make-accounts N [--user-prefix u]\n\
         accounts are <prefix>1 .. <prefix>N (N = --accounts, default --users), all with the same password"
    );
    std::process::exit(2)
}
