//! `idp-admin` as an operator runs it: a real process against a fresh SQLite database.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Admin {
    dir: tempfile::TempDir,
}

impl Admin {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_idp-admin"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("IDP_DATABASE__URL", format!("sqlite://{}", self.dir.path().join("idp.db").display()))
            .current_dir(self.dir.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// A command that mails (`invite`, `user reset-factors`), with a mail folder and the theme.
    fn mailing(&self, args: &[&str]) -> Output {
        let mail_dir = self.dir.path().join("mail");
        std::fs::create_dir_all(&mail_dir).unwrap();
        self.command(args)
            .env("IDP_MAIL__FILE_DIR", &mail_dir)
            .env("IDP_THEME__DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../themes/default"))
            .output()
            .unwrap()
    }

    /// The `admin.command` records, oldest first, read with `audit export` (whose own records,
    /// added by each reading, are left out), with `detail` parsed.
    fn command_records(&self) -> Vec<Value> {
        // The process runs on the real clock: a period around any day this test may run on.
        let export = self.run(&["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31"]);
        assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
        String::from_utf8(export.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["event_type"] == "admin.command")
            .map(|mut r| {
                r["detail"] = serde_json::from_str(r["detail"].as_str().unwrap()).unwrap();
                r
            })
            .filter(|r| r["detail"]["command"] != "audit export")
            .collect()
    }
}

/// Checks that exactly one `admin.command` record was added since `seen` records, and returns it.
fn the_one_new_record(admin: &Admin, seen: &mut usize, what: &str) -> Value {
    let records = admin.command_records();
    assert_eq!(records.len(), *seen + 1, "{what}: exactly one new admin.command record: {:#?}", &records[*seen..]);
    *seen = records.len();
    records.last().unwrap().clone()
}

#[test]
fn an_operator_registers_a_portal_and_a_user() {
    let admin = Admin::new();
    assert!(admin.run(&["migrate"]).status.success());
    let org = admin.json(&["--json", "org", "create", "--slug", "zorg-noord", "--name", "Zorggroep Noord"]);
    assert_eq!(org["slug"], "zorg-noord");

    let client = admin.json(&[
        "--json",
        "client",
        "create",
        "--org",
        "zorg-noord",
        "--name",
        "Cliëntportaal",
        "--redirect-uri",
        "https://portaal.zorg.example/callback",
        "--post-logout-uri",
        "https://portaal.zorg.example/",
    ]);
    let secret = client["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 random bits, base64url");
    let client_id = client["client_id"].as_str().unwrap();

    let list = admin.json(&["--json", "client", "list"]);
    assert_eq!(list[0]["client_id"], client_id);
    assert!(!list.to_string().contains(secret), "the secret is shown once only");

    let public = admin.json(&[
        "--json",
        "client",
        "create",
        "--org",
        "zorg-noord",
        "--name",
        "App",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:8000/cb",
    ]);
    assert!(public["client_secret"].is_null());

    let output = admin.run_with_stdin(
        &[
            "--json",
            "user",
            "create",
            "--username",
            "J.Jansen",
            "--email",
            "j@zorg.example",
            "--given-name",
            "Jan",
            "--family-name",
            "Jansen",
            "--birth-date",
            "31-03-1950",
            "--password-stdin",
        ],
        "Een-lang-wachtwoord\n",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let user: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(user["username"], "J.Jansen");
    let users = admin.json(&["--json", "user", "list"]);
    assert_eq!(users[0]["active"], true);
    assert!(!users.to_string().contains("Een-lang-wachtwoord"));

    // The same name in another case is the same user.
    let taken = admin.run_with_stdin(
        &["user", "create", "--username", "j.jansen", "--given-name", "J", "--family-name", "J", "--password-stdin"],
        "Een-lang-wachtwoord\n",
    );
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("username already exists"));

    // Human output is a table.
    let table = admin.run(&["user", "list"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("J.Jansen"));
}

#[test]
fn bad_input_is_refused_with_a_message_naming_the_flag() {
    let admin = Admin::new();
    admin.json(&["--json", "org", "create", "--slug", "zorg", "--name", "Zorg"]);
    for (args, flag) in [
        (
            vec!["client", "create", "--org", "zorg", "--name", "P", "--redirect-uri", "http://portal.example/cb"],
            "--redirect-uri",
        ),
        (
            vec!["client", "create", "--org", "zorg", "--name", "P", "--redirect-uri", "https://p.example/cb#x"],
            "--redirect-uri",
        ),
        (vec!["client", "create", "--org", "nope", "--name", "P", "--redirect-uri", "https://p.example/cb"], "--org"),
        (
            vec![
                "client",
                "create",
                "--org",
                "zorg",
                "--name",
                "P",
                "--redirect-uri",
                "https://p.example/cb",
                "--scopes",
                "openid agenda",
            ],
            "--scopes",
        ),
        (vec!["org", "create", "--slug", "zorg", "--name", "Again"], "already exists"),
        (
            vec![
                "user",
                "create",
                "--username",
                "x",
                "--given-name",
                "A",
                "--family-name",
                "B",
                "--birth-date",
                "1950/03/31",
                "--no-password",
            ],
            "--birth-date",
        ),
    ] {
        let output = admin.run(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let short = admin.run_with_stdin(
        &["user", "create", "--username", "y", "--given-name", "A", "--family-name", "B", "--password-stdin"],
        "kort\n",
    );
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
}

#[test]
fn look_alike_usernames_are_refused_with_what_to_change() {
    let admin = Admin::new();
    let create = |username: &str| {
        admin.run(&[
            "user",
            "create",
            "--username",
            username,
            "--given-name",
            "W",
            "--family-name",
            "B",
            "--no-password",
        ])
    };
    assert!(create("willem").status.success());
    for (username, message) in [
        ("w\u{131}llem", "--username: looks too much like an existing username; choose another"),
        ("W\u{456}llem", "--username: mixes letters of different scripts"),
        ("wil\u{200B}lem", "--username: contains an invisible character (U+200B)"),
        ("wil\u{AD}lem", "--username: contains an invisible character (U+00AD)"),
    ] {
        let output = create(username);
        assert!(!output.status.success(), "{}", username.escape_unicode());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{}: {stderr}", username.escape_unicode());
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let users = admin.json(&["--json", "user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 1, "nothing stored: {users}");
}

#[test]
fn keys_rotate_adds_keys_that_sign_later() {
    let admin = Admin::new();
    assert!(admin.json(&["--json", "keys", "list"]).as_array().unwrap().is_empty());
    let rotated = admin.json(&["--json", "keys", "rotate"]);
    assert_eq!(rotated.as_array().unwrap().len(), 2, "ES256 and RS256");
    admin.json(&["--json", "keys", "rotate"]);
    let keys = admin.json(&["--json", "keys", "list"]);
    assert_eq!(keys.as_array().unwrap().len(), 4);
    let first: Vec<&str> = rotated.as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    for key in keys.as_array().unwrap() {
        let retiring = key["published_until"].is_string();
        assert_eq!(retiring, first.contains(&key["kid"].as_str().unwrap()), "only the replaced keys retire: {key}");
    }
}

#[test]
fn a_bad_configuration_value_stops_with_one_line() {
    let admin = Admin::new();
    let output = admin.command(&["org", "list"]).env("IDP_DATABASE__MAX_CONNECTIONS", "many").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("database.max_connections") && stderr.contains("IDP_DATABASE__MAX_CONNECTIONS"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1);
}

#[test]
fn an_operator_sets_a_policy_and_invites_a_client() {
    let admin = Admin::new();
    admin.json(&["--json", "org", "create", "--slug", "ggz", "--name", "GGZ Noord"]);
    let policy = admin.json(&[
        "--json",
        "org",
        "policy",
        "--org",
        "ggz",
        "--min-length",
        "12",
        "--specials",
        "!%&@#$^*?_~",
        "--portal-url",
        "https://portaal.ggz.example/",
    ]);
    assert_eq!(policy["password_rules"]["min_length"], 12);
    assert_eq!(policy["password_rules"]["required_specials"], "!%&@#$^*?_~");
    let refused = admin.run(&["org", "policy", "--org", "ggz", "--max-length", "32"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("max_length"));

    let mail_dir = admin.dir.path().join("mail");
    std::fs::create_dir_all(&mail_dir).unwrap();
    let output = admin
        .command(&[
            "--json",
            "invite",
            "--org",
            "ggz",
            "--email",
            "p.devries@example.nl",
            "--given-name",
            "Piet",
            "--family-name",
            "de Vries",
            "--print-code-for-tests",
        ])
        .env("IDP_MAIL__FILE_DIR", &mail_dir)
        .env("IDP_THEME__DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../themes/default"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let invited: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(invited["mail"], "sent");
    let code = invited["code"].as_str().unwrap();
    assert_eq!(code.len(), 10);
    let mails: Vec<_> = std::fs::read_dir(&mail_dir).unwrap().collect();
    assert_eq!(mails.len(), 1, "one .eml file per message");
    let bad = admin.run(&["invite", "--org", "ggz", "--email", "nope", "--given-name", "A", "--family-name", "B"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--email"));
}

#[test]
fn an_operator_sets_factor_rules_lists_factors_and_resets_them() {
    let admin = Admin::new();
    admin.json(&["--json", "org", "create", "--slug", "ggz", "--name", "GGZ Noord"]);
    let policy = admin.json(&[
        "--json",
        "org",
        "policy",
        "--org",
        "ggz",
        "--min-level",
        "two-factor",
        "--mailed-token",
        "true",
        "--trusted-device-days",
        "0",
    ]);
    assert_eq!(policy["min_level"], "two-factor");
    assert_eq!(policy["mailed_token"], true);
    assert_eq!(policy["trusted_device_days"], 0);
    let bad = admin.run(&["org", "policy", "--org", "ggz", "--min-level", "strong"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--min-level"));

    let created = admin.run_with_stdin(
        &[
            "user",
            "create",
            "--username",
            "piet",
            "--email",
            "piet@example.nl",
            "--given-name",
            "Piet",
            "--family-name",
            "Bos",
            "--password-stdin",
        ],
        "een lang genoeg wachtwoord\n",
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let factors = admin.json(&["--json", "user", "factors", "--username", "piet"]);
    assert_eq!(factors[0]["kind"], "recovery");
    assert_eq!(factors[0]["label"], "0 left");

    let mail_dir = admin.dir.path().join("mail");
    std::fs::create_dir_all(&mail_dir).unwrap();
    let output = admin
        .command(&["--json", "user", "reset-factors", "--username", "piet"])
        .env("IDP_MAIL__FILE_DIR", &mail_dir)
        .env("IDP_THEME__DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../themes/default"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reset: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reset["mail"], "sent");
    let mail = std::fs::read_dir(&mail_dir).unwrap().next().unwrap().unwrap().path();
    assert!(std::fs::read_to_string(mail).unwrap().contains("teruggezet"));
    let unknown = admin.run(&["user", "reset-factors", "--username", "niemand"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--username"));
}

#[test]
fn every_command_is_audited_and_verify_names_the_first_bad_record() {
    let admin = Admin::new();
    assert!(admin.run(&["migrate"]).status.success());
    admin.json(&["--json", "org", "create", "--slug", "zorg-noord", "--name", "Zorggroep Noord"]);
    assert!(!admin.run(&["org", "create", "--slug", "zorg-noord", "--name", "Dubbel"]).status.success());
    let verified = admin.json(&["--json", "audit", "verify"]);
    assert_eq!(verified["result"], "ok");
    assert_eq!(verified["records"], 3, "migrate, org create, the failed org create: {verified}");

    // The process runs on the real clock: a period around any day this test may run on.
    let (from, to) = ("2000-01-01", "2999-12-31");
    let export = admin.run(&["audit", "export", "--from", from, "--to", to]);
    assert!(export.status.success());
    let lines: Vec<Value> =
        String::from_utf8(export.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let commands: Vec<(String, &str)> = lines
        .iter()
        .map(|l| {
            let detail: Value = serde_json::from_str(l["detail"].as_str().unwrap()).unwrap();
            let name = detail["command"].as_str().or(l["object_id"].as_str()).unwrap().to_string();
            (name, l["outcome"].as_str().unwrap())
        })
        .collect();
    let commands: Vec<(&str, &str)> = commands.iter().map(|(c, o)| (c.as_str(), *o)).collect();
    assert_eq!(
        commands[..4],
        [("migrate", "success"), ("org create", "success"), ("org create", "failure"), ("verify", "success")]
    );
    assert_eq!(lines[0]["actor_role"], "operator");
    // The arguments (which may hold personal data) are not recorded, only the command.
    assert!(!lines.iter().any(|l| l.to_string().contains("Dubbel")));

    let fhir = admin.run(&["audit", "export", "--from", from, "--to", to, "--format", "fhir"]);
    let first: Value = serde_json::from_str(String::from_utf8(fhir.stdout).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["resourceType"], "AuditEvent");

    // A period without records: nothing, and success. --from after --to: a clear error.
    let empty = admin.run(&["audit", "export", "--from", "2001-01-01", "--to", "2001-01-31"]);
    assert!(empty.status.success());
    assert!(empty.stdout.is_empty());
    let reversed = admin.run(&["audit", "export", "--from", "2026-12-31", "--to", "2026-12-01"]);
    assert!(!reversed.status.success());
    assert!(String::from_utf8_lossy(&reversed.stderr).contains("--from must be before --to"));

    // Someone with database access changes who did something.
    let db = admin.dir.path().join("idp.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::query("UPDATE audit_events SET actor_name = 'iemand anders' WHERE seq = 2").execute(&pool).await.unwrap();
        pool.close().await;
    });
    let broken = admin.run(&["audit", "verify"]);
    assert!(!broken.status.success());
    let message = String::from_utf8_lossy(&broken.stderr);
    assert!(message.contains("record 2: its content was changed"), "{message}");
}

#[test]
fn pkce_is_required_unless_the_operator_says_otherwise_and_can_be_changed() {
    let admin = Admin::new();
    admin.json(&["--json", "org", "create", "--slug", "zorg", "--name", "Zorg"]);
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec!["--json", "client", "create", "--org", "zorg", "--name", name];
        args.extend(["--redirect-uri", "https://p.example/cb"]);
        args.extend(extra);
        admin.json(&args)
    };
    let new = create("Nieuw", &[]);
    assert_eq!(new["pkce"], "required", "the default");
    let old = create("Oud", &["--pkce", "optional"]);
    assert_eq!(old["pkce"], "optional");
    let app = create("App", &["--public"]);
    assert_eq!(app["pkce"], "required");

    let pkce_of = |id: &Value| {
        let list = admin.json(&["--json", "client", "list"]);
        list.as_array().unwrap().iter().find(|c| c["client_id"] == *id).unwrap()["pkce"].clone()
    };
    assert_eq!(pkce_of(&new["client_id"]), "required");
    assert_eq!(pkce_of(&old["client_id"]), "optional");
    let table = String::from_utf8(admin.run(&["client", "list"]).stdout).unwrap();
    assert!(table.contains("pkce") && table.contains("optional"), "a column of the table: {table}");

    // A client id may begin with "-" (base64url): it is still taken as the id.
    let dashed = admin.run(&["client", "update", "-abc", "--pkce", "required"]);
    assert!(String::from_utf8_lossy(&dashed.stderr).contains("no client \"-abc\""), "{dashed:?}");

    // The portal learned to send PKCE: the operator requires it.
    let id = old["client_id"].as_str().unwrap();
    let updated = admin.json(&["--json", "client", "update", id, "--pkce", "required"]);
    assert_eq!(updated["pkce"], "required");
    assert_eq!(pkce_of(&old["client_id"]), "required");

    // What cannot be: a public client without PKCE, an unknown client, an unknown value.
    for (args, says) in [
        (vec!["client", "update", app["client_id"].as_str().unwrap(), "--pkce", "optional"], "--pkce"),
        (vec!["client", "update", "niet-bestaand", "--pkce", "optional"], "no client"),
        (vec!["client", "create", "--org", "zorg", "--name", "P", "--public", "--pkce", "optional"], "--pkce"),
        (vec!["client", "update", id, "--pkce", "soms"], "--pkce"),
    ] {
        let output = admin.run(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }

    // Every change is in the audit log, as every command is.
    let commands = admin.command_records();
    let updates: Vec<&str> = commands
        .iter()
        .filter(|r| r["detail"]["command"] == "client update")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(updates, ["failure", "success", "failure", "failure"], "{commands:?}");
}

/// Every state-changing command writes one `admin.command` record with its change, naming what it
/// changed; a refused one writes one failed record naming only the command (docs/audit.md).
#[test]
fn each_change_has_one_command_record_naming_its_object() {
    let admin = Admin::new();
    let mut seen = 0;
    let succeeded = |record: &Value, command: &str, object: (&str, &str)| {
        assert_eq!(record["outcome"], "success", "{record}");
        assert_eq!(record["action"], "E");
        assert_eq!(record["actor_role"], "operator");
        assert_eq!(record["detail"]["command"], command, "{record}");
        assert_eq!((record["object_type"].as_str().unwrap(), record["object_id"].as_str().unwrap()), object);
    };
    let refused = |record: &Value, command: &str, reason: Option<&str>| {
        assert_eq!(record["outcome"], "failure", "{record}");
        assert_eq!(record["detail"]["command"], command, "{record}");
        assert_eq!(record["object_type"], "command");
        assert_eq!(record["object_id"], command);
        assert_eq!(record["detail"]["reason"].as_str(), reason, "{record}");
    };

    let org = admin.json(&["--json", "org", "create", "--slug", "ggz", "--name", "GGZ Noord"]);
    let org_id = org["id"].as_str().unwrap();
    let record = the_one_new_record(&admin, &mut seen, "org create");
    succeeded(&record, "org create", ("organisation", org_id));
    assert_eq!(record["organisation_id"], org_id);
    assert!(!admin.run(&["org", "create", "--slug", "ggz", "--name", "Dubbel"]).status.success());
    refused(&the_one_new_record(&admin, &mut seen, "org create again"), "org create", Some("conflict"));

    admin.json(&["--json", "org", "policy", "--org", "ggz", "--min-length", "12"]);
    succeeded(&the_one_new_record(&admin, &mut seen, "org policy"), "org policy", ("policy", org_id));
    assert!(!admin.run(&["org", "policy", "--org", "ggz", "--min-level", "strong"]).status.success());
    refused(&the_one_new_record(&admin, &mut seen, "bad org policy"), "org policy", Some("invalid"));

    let client = admin.json(&[
        "--json",
        "client",
        "create",
        "--org",
        "ggz",
        "--name",
        "Portaal",
        "--redirect-uri",
        "https://portaal.ggz.example/cb",
    ]);
    let client_id = client["client_id"].as_str().unwrap();
    let record = the_one_new_record(&admin, &mut seen, "client create");
    succeeded(&record, "client create", ("client", client_id));
    assert_eq!(record["organisation_id"], org_id);
    let bad = admin.run(&["client", "create", "--org", "ggz", "--name", "P", "--redirect-uri", "http://p.example/cb"]);
    assert!(!bad.status.success());
    refused(&the_one_new_record(&admin, &mut seen, "bad client create"), "client create", Some("invalid"));

    admin.json(&["--json", "client", "update", client_id, "--pkce", "optional"]);
    succeeded(&the_one_new_record(&admin, &mut seen, "client update"), "client update", ("client", client_id));
    assert!(!admin.run(&["client", "update", "onbekend", "--pkce", "optional"]).status.success());
    refused(&the_one_new_record(&admin, &mut seen, "unknown client update"), "client update", Some("invalid"));

    let user_args = ["--json", "user", "create", "--username", "piet", "--email", "piet@example.nl"];
    let user_args = [&user_args[..], &["--given-name", "Piet", "--family-name", "Bos", "--password-stdin"]].concat();
    let output = admin.run_with_stdin(&user_args, "een lang genoeg wachtwoord\n");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let user: Value = serde_json::from_slice(&output.stdout).unwrap();
    let account_id = user["id"].as_str().unwrap();
    let record = the_one_new_record(&admin, &mut seen, "user create");
    succeeded(&record, "user create", ("account", account_id));
    assert_eq!(record["subject_id"], account_id, "the person whose account it is");
    let taken = admin.run_with_stdin(&user_args, "een lang genoeg wachtwoord\n");
    assert!(!taken.status.success());
    refused(&the_one_new_record(&admin, &mut seen, "user create again"), "user create", Some("conflict"));
    // Refused before the use case ran (no password to read): recorded all the same.
    let no_password = admin.run(&["user", "create", "--username", "kees", "--given-name", "K", "--family-name", "B"]);
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("no terminal"));
    refused(&the_one_new_record(&admin, &mut seen, "user create without password"), "user create", None);

    let output = admin.mailing(&["--json", "user", "reset-factors", "--username", "piet"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let record = the_one_new_record(&admin, &mut seen, "user reset-factors");
    succeeded(&record, "user reset-factors", ("account", account_id));
    assert!(!admin.mailing(&["user", "reset-factors", "--username", "niemand"]).status.success());
    refused(&the_one_new_record(&admin, &mut seen, "unknown reset"), "user reset-factors", Some("invalid"));

    let output = admin.mailing(&[
        "--json",
        "invite",
        "--org",
        "ggz",
        "--email",
        "p.devries@example.nl",
        "--given-name",
        "Piet",
        "--family-name",
        "de Vries",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let invited: Value = serde_json::from_slice(&output.stdout).unwrap();
    let record = the_one_new_record(&admin, &mut seen, "invite");
    succeeded(&record, "invite", ("invitation", invited["invitation"].as_str().unwrap()));
    assert_eq!(record["organisation_id"], org_id);
    let bad = admin.mailing(&["invite", "--org", "ggz", "--email", "nope", "--given-name", "A", "--family-name", "B"]);
    assert!(!bad.status.success());
    refused(&the_one_new_record(&admin, &mut seen, "bad invite"), "invite", Some("invalid"));

    let rotated = admin.json(&["--json", "keys", "rotate"]);
    let kids: Vec<&str> = rotated.as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    succeeded(&the_one_new_record(&admin, &mut seen, "keys rotate"), "keys rotate", ("key", &kids.join(" ")));

    // Nothing is old enough to remove: nothing changed, so the object is the command.
    let pruned = admin.json(&["--json", "audit", "prune"]);
    assert_eq!(pruned["removed"], 0);
    succeeded(&the_one_new_record(&admin, &mut seen, "audit prune"), "audit prune", ("command", "audit prune"));

    // Reading commands are recorded as before, afterwards, by name.
    admin.json(&["--json", "client", "list"]);
    succeeded(&the_one_new_record(&admin, &mut seen, "client list"), "client list", ("command", "client list"));

    let verified = admin.json(&["--json", "audit", "verify"]);
    assert_eq!(verified["result"], "ok", "the chain holds: {verified}");
}
