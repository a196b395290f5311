//! Where the machine's CPU went during a measured phase, read from `/proc`.

use std::time::Instant;

use crate::args::Args;

/// CPU time read from `/proc`, in clock ticks, to split a phase's CPU between the server, the
/// database processes, this driver and everything else.
#[derive(Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    busy: u64,
    server: u64,
    /// The server's threads named `argon2-*`: Poortwachter's password hashing.
    server_hash: u64,
    db: u64,
    me: u64,
    /// `--peer-pid` processes: another load generator running meanwhile (a sign-in storm).
    peers: u64,
}

/// utime + stime of a process (all its threads), from `/proc/<pid>/stat`.
fn proc_ticks(stat_path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state), so utime (field 14) and stime (15) are rest[11] and rest[12].
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// utime + stime of the threads of `pid` whose name starts with `prefix`.
fn thread_ticks(pid: u32, prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    dir.flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix)))
        .filter_map(|t| proc_ticks(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// Busy ticks of the whole machine: user + nice + system + irq + softirq + steal.
fn busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    Some(cpu.first()? + cpu.get(1)? + cpu.get(2)? + cpu.get(5)? + cpu.get(6)? + cpu.get(7)?)
}

/// CPU ticks of the processes whose command line contains one of `patterns`, except `skip` and
/// load drivers (a command line with `--db-match`).
fn matching_ticks(patterns: &[String], skip: &[u32]) -> u64 {
    if patterns.is_empty() {
        return 0;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut total = 0;
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if skip.contains(&pid) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // Another load driver given the same patterns (a storm beside this run) is no database.
        if cmdline.contains("--db-match") {
            continue;
        }
        if patterns.iter().any(|p| cmdline.contains(p.as_str())) {
            total += proc_ticks(&format!("/proc/{pid}/stat")).unwrap_or(0);
        }
    }
    total
}

pub fn cpu_sample(args: &Args) -> Option<CpuSample> {
    let server_pid = args.server_pid?;
    Some(CpuSample {
        at: Instant::now(),
        busy: busy_ticks()?,
        server: proc_ticks(&format!("/proc/{server_pid}/stat"))?,
        server_hash: thread_ticks(server_pid, "argon2-"),
        db: matching_ticks(&args.db_match, &[&[server_pid, std::process::id()], args.peer_pids.as_slice()].concat()),
        me: proc_ticks("/proc/self/stat")?,
        peers: args.peer_pids.iter().filter_map(|p| proc_ticks(&format!("/proc/{p}/stat"))).sum(),
    })
}

/// Cores used between two samples: (server, database, load generator, other), and the server's
/// and the database's CPU milliseconds per completed flow. Apart: the server's password-hashing
/// threads (part of `server`) and the `--peer-pid` processes (not part of `other`).
pub struct CpuSplit {
    server: f64,
    server_hash: f64,
    db: f64,
    generator: f64,
    peers: f64,
    other: f64,
    server_ms_per_flow: f64,
    db_ms_per_flow: f64,
}

impl CpuSplit {
    pub const NONE: CpuSplit = CpuSplit {
        server: f64::NAN,
        server_hash: f64::NAN,
        db: f64::NAN,
        generator: f64::NAN,
        peers: f64::NAN,
        other: f64::NAN,
        server_ms_per_flow: f64::NAN,
        db_ms_per_flow: f64::NAN,
    };

    pub fn between(args: &Args, a: Option<CpuSample>, b: Option<CpuSample>, flows: usize) -> CpuSplit {
        let (Some(a), Some(b)) = (a, b) else { return CpuSplit::NONE };
        let wall = (b.at - a.at).as_secs_f64();
        let cores = |ticks: u64| ticks as f64 / args.clk_tck / wall;
        let server = cores(b.server.saturating_sub(a.server));
        // A database process that started or ended within the phase counts only partly.
        let db = cores(b.db.saturating_sub(a.db));
        let generator = cores(b.me.saturating_sub(a.me));
        let server_hash = cores(b.server_hash.saturating_sub(a.server_hash));
        // A peer that ended within the phase counts only partly.
        let peers = cores(b.peers.saturating_sub(a.peers));
        let other = (cores(b.busy.saturating_sub(a.busy)) - server - db - generator - peers).max(0.0);
        let per_flow = |ticks: u64| {
            if flows == 0 {
                f64::NAN
            } else {
                ticks as f64 / args.clk_tck * 1000.0 / flows as f64
            }
        };
        let server_ms_per_flow = per_flow(b.server.saturating_sub(a.server));
        let db_ms_per_flow = per_flow(b.db.saturating_sub(a.db));
        CpuSplit { server, server_hash, db, generator, peers, other, server_ms_per_flow, db_ms_per_flow }
    }

    pub fn line(&self) -> String {
        format!(
            "CPU cores server (of which hashing) / database / load generator / other load generator / other: \
             {:.2} ({:.2}) / {:.2} / {:.2} / {:.2} / {:.2}; CPU per flow: server {:.2} ms, database {:.2} ms",
            self.server,
            self.server_hash,
            self.db,
            self.generator,
            self.peers,
            self.other,
            self.server_ms_per_flow,
            self.db_ms_per_flow
        )
    }

    pub fn keys(&self, prefix: &str) -> String {
        format!(
            "{prefix}_cpu_server={:.2} {prefix}_cpu_db={:.2} {prefix}_cpu_gen={:.2} {prefix}_cpu_other={:.2} \
             {prefix}_server_cpu_ms_per_flow={:.2} {prefix}_db_cpu_ms_per_flow={:.2} {prefix}_cpu_server_hash={:.2} \
             {prefix}_cpu_peers={:.2}",
            self.server,
            self.db,
            self.generator,
            self.other,
            self.server_ms_per_flow,
            self.db_ms_per_flow,
            self.server_hash,
            self.peers
        )
    }
}
