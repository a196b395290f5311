# Helpers shared by scripts/load/run.sh, compare.sh and storm.sh (sourced, not run).
# shellcheck shell=bash
# Globals pass both ways between this file and its callers (repo in; work, target, base,
# backend_label, db_match, password_hash, bulk_secs out):
# shellcheck disable=SC2034,SC2154
#
# The caller sets: repo (the repository root), work (its temp folder, for bulk_accounts and
# setup_backend; made by prepare_work), MAX_OTHER and QUIET_WAIT (for wait_quiet), and own_pids
# (an array of the processes it started, whose CPU wait_quiet does not count as "others").

log() { printf '\n== %s\n' "$*" >&2; }
die() {
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# The defaults the three scripts share (each documents them): BACKEND=sqlite PORT=18181
# QUIET_WAIT=900 MAX_OTHER=0.10 PROFILE=dist; sets target (CARGO_TARGET_DIR, default ./target) and
# base (the server's URL).
load_defaults() {
  BACKEND=${BACKEND:-sqlite}
  PORT=${PORT:-18181}
  QUIET_WAIT=${QUIET_WAIT:-900}
  MAX_OTHER=${MAX_OTHER:-0.10}
  PROFILE=${PROFILE:-dist}
  target="${CARGO_TARGET_DIR:-$repo/target}"
  base="http://127.0.0.1:$PORT"
}

# Builds idp, idp-admin and the load driver (profile PROFILE), unless SKIP_BUILD is set.
build_binaries() {
  [ -z "${SKIP_BUILD:-}" ] || return 0
  log "building (profile $PROFILE)"
  cargo build --profile "$PROFILE" -p idp -p admin-cli
  cargo build --profile "$PROFILE" -p idp --example code_flow_load
}

# Makes the temp folder work ($1: its name's prefix) with its own copies of the three binaries (a
# concurrent `cargo build` cannot swap them under the measurement), a mail folder and the pause
# FIFO, and exports the settings of a server run from it on PORT.
prepare_work() {
  work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  cp "$target/$PROFILE/idp" "$target/$PROFILE/idp-admin" "$target/$PROFILE/examples/code_flow_load" "$work/"
  mkdir -p "$work/mail"
  pause_fd

  unset RUST_LOG IDP_CONFIG
  export IDP_SERVER__BIND="127.0.0.1:$PORT"
  export IDP_MAIL__FILE_DIR="$work/mail"
  export IDP_THEME__DIR="$repo/themes/default"
  export IDP_LOG__FILTER=warn
}

# Installs Debian packages for missing commands when running as root: need_tools cmd[:package] …
need_tools() {
  local spec cmd pkg missing=()
  for spec in "$@"; do
    cmd=${spec%%:*}
    pkg=${spec#*:}
    command -v "$cmd" >/dev/null || missing+=("$pkg")
  done
  [ "${#missing[@]}" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing: ${missing[*]} (apt-get install -y ${missing[*]})"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# One GET /health over bash's /dev/tcp: no process is forked per try, so polling is fine-grained.
# Before the listener is bound the connect is refused at once; after it is bound the read waits
# until the server serves, so the time measured is spawn → first answer. $1 = port.
probe() {
  local line=""
  { printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3 &&
    IFS= read -r -t 5 line <&3; } 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  [[ $line == "HTTP/1.1 200"* ]]
}

# A 1 ms pause without forking (needs fd 9 open on a FIFO nobody writes to; see pause_fd).
pause_fd() {
  mkfifo "$work/pause"
  exec 9<>"$work/pause"
}
pause_1ms() { read -r -t 0.001 -u 9 || true; }

# Waits until process $1 answers GET /health on port $2; $3 = its log, shown if it dies.
wait_up() {
  until probe "$2"; do
    kill -0 "$1" 2>/dev/null || {
      cat "$3" >&2
      die "the server on port $2 exited during start-up"
    }
    pause_1ms
  done
}

stop_pid() { # $1 = pid: TERM, and wait for it
  if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1"
    wait "$1" 2>/dev/null || true
  fi
}

ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
to_ms() { # wrk's 1.23ms / 456.00us / 1.02s / 2.00m, in ms
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n }'
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
rss_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; } # $1 pid, $2 VmRSS/VmHWM/…

# The median of the numbers on stdin (one a line; NaN and empty lines ignored); "nan" if none.
median() {
  awk '$1 != "" && tolower($1) !~ /nan/ { a[++n] = $1 + 0 }
    END {
      if (n == 0) { print "nan"; exit }
      for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
      m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      print m }'
}

# CPU accounting, so a reading can tell the server's share from the load generator's and from
# whatever else ran on the machine meanwhile: cores used = CPU seconds / wall seconds.
hz=$(getconf CLK_TCK)
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
proc_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
own_pids=()
own_jiffies() {
  local p total=0 j
  for p in "${own_pids[@]}"; do
    j=$(proc_jiffies "$p" 2>/dev/null) || j=0
    total=$((total + j))
  done
  echo "$total"
}

# Another process using the CPU (a compiler, say) distorts every figure on a 2-core machine:
# before each measurement wait (at most QUIET_WAIT s) until others use at most MAX_OTHER cores.
wait_quiet() {
  local waited=0 b0 s0 b1 s1 other
  while :; do
    b0=$(busy_jiffies)
    s0=$(own_jiffies)
    sleep 2
    b1=$(busy_jiffies)
    s1=$(own_jiffies)
    other=$(awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v hz="$hz" 'BEGIN { printf "%.2f", (b - s) / hz / 2 }')
    awk -v o="$other" -v m="$MAX_OTHER" 'BEGIN { exit !(o <= m) }' && return 0
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      echo "the machine is still busy ($other cores used elsewhere); measuring anyway" >&2
      return 0
    fi
    [ "$waited" != 0 ] || echo "waiting for a quiet machine ($other cores used elsewhere)" >&2
    waited=$((waited + 2))
  done
}

# Poortwachter's storage, from BACKEND (sqlite | postgres); exports its IDP_* settings and sets
# backend_label and db_match (what the load driver counts as database CPU).
#   sqlite:   a fresh file in $work; short-lived state in memory (kv.url = memory).
#   postgres: a fresh database on PG_URL (default postgres://postgres@127.0.0.1:5432, trust
#             auth), dropped again by teardown_backend unless KEEP_DB=1; short-lived state in
#             Redis at REDIS_URL (default redis://127.0.0.1:6379) under a prefix of its own.
setup_backend() {
  case "${BACKEND:-sqlite}" in
  sqlite)
    export IDP_DATABASE__URL="sqlite://$work/idp.db"
    export IDP_KV__URL=memory
    backend_label=SQLite
    db_match=()
    ;;
  postgres)
    need_tools psql:postgresql-client redis-cli:redis-tools
    PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
    REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
    bench_db="idp_bench_$(date +%s)_$$"
    psql "$PG_URL/postgres" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $bench_db" >/dev/null ||
      die "cannot create a database at $PG_URL"
    export IDP_DATABASE__URL="$PG_URL/$bench_db"
    export IDP_KV__URL="$REDIS_URL"
    export IDP_KV__PREFIX="$bench_db:"
    # With Redis the server counts on other nodes, so the key for second factors must be given.
    IDP_FACTORS__ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
    export IDP_FACTORS__ENCRYPTION_KEY
    redis-cli -u "$REDIS_URL" ping >/dev/null || die "no Redis at $REDIS_URL"
    backend_label="PostgreSQL $(psql "$PG_URL/postgres" -qAtc 'SHOW server_version' | cut -d' ' -f1) + Redis $(redis-cli -u "$REDIS_URL" info server | sed -n 's/^redis_version:\([^\r]*\).*/\1/p')"
    # The server's connections are backends titled "postgres: [cluster: ]<user> <database> <client> …";
    # the shared background processes (WAL writer, checkpointer) are left out, as others use them too.
    db_match=(" $bench_db " redis-server)
    ;;
  *) die "BACKEND must be sqlite or postgres" ;;
  esac
}

# Drops what setup_backend made for postgres (the server must have stopped).
teardown_backend() {
  [ "${BACKEND:-sqlite}" = postgres ] && [ -n "${bench_db:-}" ] || return 0
  if [ -n "${KEEP_DB:-}" ]; then
    echo "kept database $bench_db and Redis keys $bench_db:*" >&2
    return 0
  fi
  psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null || true
  redis-cli -u "$REDIS_URL" --scan --pattern "$bench_db:*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null || true
  bench_db=""
}

# Makes accounts <prefix>1 … <prefix>$1 quickly and honestly, in the database the server uses:
# `idp-admin user create` hashes each password (~30 ms) and starts a process per account, so a
# million would take hours. Instead:
#   - one real Argon2id hash of $3 is made by Poortwachter's own code (auth::password::hash,
#     m = 19456 KiB, t = 2, p = 1) through the load driver, and every account gets it (a
#     verification costs the same whatever the salt);
#   - the driver writes one CSV row per account (random UUID id, random subject, and the
#     username's shown, normalised and look-alike forms from Poortwachter's domain::Username,
#     so the unique indexes hold what idp-admin would have put there);
#   - the database loads the file in one statement (SQLite: .import, then INSERT … SELECT in one
#     transaction; PostgreSQL: \copy, then INSERT … SELECT), then ANALYZE.
# What it leaves out: the audit record idp-admin writes per account (nothing on the sign-in path
# reads it). $1 = count, $2 = prefix, $3 = password, $4 = the driver. Sets password_hash.
bulk_accounts() {
  local count=$1 prefix=$2 password=$3 driver=$4 csv="$work/accounts.csv" now t0 t1 sql
  t0=$EPOCHREALTIME
  password_hash=$("$driver" --hash-password --password "$password")
  # shellcheck disable=SC2016 # a literal PHC prefix
  [[ $password_hash == '$argon2id$v=19$m=19456,t=2,p=1$'* ]] || die "unexpected hash: $password_hash"
  "$driver" --make-accounts "$count" --user-prefix "$prefix" >"$csv"
  now=$(date +%s)
  sql="INSERT INTO accounts (id, subject, username, username_normalised, username_skeleton,
         given_name, family_name, password_hash, created_at)
       SELECT id, subject, username, username_normalised, username_skeleton,
         'Bench', 'User ' || username, '$password_hash', $now FROM bulk_accounts;
       ANALYZE accounts;"
  case "${BACKEND:-sqlite}" in
  sqlite)
    need_tools sqlite3
    sqlite3 "${IDP_DATABASE__URL#sqlite://}" <<EOF
.bail on
.timeout 60000
CREATE TEMP TABLE bulk_accounts (id TEXT, subject TEXT, username TEXT, username_normalised TEXT, username_skeleton TEXT);
.import --csv --skip 1 $csv bulk_accounts
BEGIN IMMEDIATE;
$sql
COMMIT;
EOF
    ;;
  postgres)
    psql "$IDP_DATABASE__URL" -v ON_ERROR_STOP=1 -q <<EOF
CREATE TEMP TABLE bulk_accounts (id TEXT, subject TEXT, username TEXT, username_normalised TEXT, username_skeleton TEXT);
\copy bulk_accounts FROM '$csv' WITH (FORMAT csv, HEADER true)
BEGIN;
$sql
COMMIT;
EOF
    ;;
  esac
  rm -f "$csv"
  t1=$EPOCHREALTIME
  bulk_secs=$(awk -v us="$((${t1/./} - ${t0/./}))" 'BEGIN { printf "%.1f", us / 1e6 }')
  echo "made $count accounts in $bulk_secs s (one Argon2id hash, CSV, one INSERT … SELECT)" >&2
}
