#!/usr/bin/env bash
# Calm under a sign-in storm (issue 9, item 3 and "Bad input"; method in docs/benchmarks.md,
# "Method: sign-in storm"):
#
#   scripts/load/storm.sh                        # SQLite, 1,000 accounts (~3 minutes after the build)
#   BACKEND=postgres scripts/load/storm.sh       # PostgreSQL + Redis
#
# What it does:
#   1. builds `idp`, `idp-admin` and the load driver (idp/examples/code_flow_load/) with
#      `cargo build --profile $PROFILE` and copies them to a temp dir;
#   2. starts Poortwachter on PORT with BACKEND (as compare.sh) and server.trust_forwarded_for on
#      (as behind a proxy on this machine: the client address is the last X-Forwarded-For entry),
#      registers an organisation, a machine client (client_credentials) and a confidential portal,
#      and makes ACCOUNTS accounts u1 … uN in bulk (lib.sh, bulk_accounts). u1 … u(N-1) sign in;
#      uN is the account the flood of wrong passwords aims at (step 5), so no right password
#      resets its counter meanwhile;
#   3. baseline, on a quiet machine: wrk (THREADS threads, CONNECTIONS connections, DURATION s,
#      --latency) against GET discovery, GET /jwks and POST /token (client_credentials,
#      client_secret_basic), then the SSO flow with the driver (SSO_BROWSERS browsers, each signed in
#      once, then DURATION s of authorize with the session → code → the portal's POST /token);
#   4. the storm: the driver's password phase in the background, STORM_BROWSERS workers each
#      looping as a fresh browser (authorize → sign-in form → password → code → token) for a random
#      account; a 503 is counted apart and waited out (Retry-After) before the worker's next
#      attempt. Once its warm-up is over (and SETTLE_SECS more), the four measurements of step 3
#      again, while it runs;
#   5. bad input, still during the storm: wrong passwords for uN at FLOOD_RATE per second for
#      FLOOD_SECS, each from the next of FLOOD_ADDRESSES client addresses (X-Forwarded-For
#      10.x.y.z), sent on time whatever the answers; meanwhile BYSTANDERS others sign in as other
#      accounts from addresses of their own (waiting out 503s). Then wrong passwords one at a time
#      until uN is paused (429): the passwords checked (401) in all must be exactly
#      signin.max_failures_per_username;
#   6. ends the storm (SIGTERM: the driver reports over the time it ran) and prints the tables:
#      baseline against storm p50/p99 per endpoint (p99 under TARGET_MS marked), the storm itself
#      (password flows/s, 503s: how many, how fast, each with Retry-After), the bad input, and
#      where the CPU went in each measurement. Raw outputs stay in the temp dir it names.
#
# Environment (defaults): BACKEND=sqlite ACCOUNTS=1000 PORT=18181 DURATION=10 THREADS=2 CONNECTIONS=8
#   SSO_BROWSERS=16 STORM_BROWSERS=200 SETTLE_SECS=3 STORM_MAX_SECS=1800 FLOOD_SECS=10 FLOOD_RATE=200
#   FLOOD_FORMS=16 FLOOD_ADDRESSES=1000 BYSTANDERS=8 TARGET_MS=50 QUIET_WAIT=900 MAX_OTHER=0.10
#   PROFILE=dist SKIP_BUILD= (1: use the binaries as built) OUT= (also write the tables to this file)
#   PG_URL=postgres://postgres@127.0.0.1:5432 REDIS_URL=redis://127.0.0.1:6379 KEEP_DB=
#   CARGO_TARGET_DIR (default: ./target). Poortwachter's own IDP_* settings pass through, e.g.
#   IDP_SIGNIN__MAX_WAITING_PASSWORD_CHECKS (default 32 per core) and
#   IDP_SIGNIN__MAX_FAILURES_PER_USERNAME (default 5).
# Needs: cargo, curl, jq, wrk; sqlite3 (BACKEND=sqlite) or psql and redis-cli (BACKEND=postgres),
# installed with apt-get when missing and running as root.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
# shellcheck source=scripts/load/lib.sh
. "$repo/scripts/load/lib.sh"

load_defaults
ACCOUNTS=${ACCOUNTS:-1000}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-8}
SSO_BROWSERS=${SSO_BROWSERS:-16}
STORM_BROWSERS=${STORM_BROWSERS:-200}
SETTLE_SECS=${SETTLE_SECS:-3}
STORM_MAX_SECS=${STORM_MAX_SECS:-1800}
FLOOD_SECS=${FLOOD_SECS:-10}
FLOOD_RATE=${FLOOD_RATE:-200}
FLOOD_FORMS=${FLOOD_FORMS:-16}
FLOOD_ADDRESSES=${FLOOD_ADDRESSES:-1000}
BYSTANDERS=${BYSTANDERS:-8}
TARGET_MS=${TARGET_MS:-50}

[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION is whole seconds (wrk's -d), at least 1"
[ "$ACCOUNTS" -gt "$SSO_BROWSERS" ] || die "ACCOUNTS ($ACCOUNTS) must be more than SSO_BROWSERS ($SSO_BROWSERS): the last one is flooded"
need_tools curl jq wrk
! curl -s -o /dev/null --max-time 1 "$base/health" || die "something already answers on $base; set PORT"

build_binaries

prepare_work idp-storm
# As behind a reverse proxy on this machine: the flood's attempts come from many addresses.
export IDP_SERVER__TRUST_FORWARDED_FOR=true
limit=${IDP_SIGNIN__MAX_FAILURES_PER_USERNAME:-5}
if [ -n "${IDP_SIGNIN__MAX_WAITING_PASSWORD_CHECKS:-}" ]; then
  room="$IDP_SIGNIN__MAX_WAITING_PASSWORD_CHECKS"
else
  room="$((32 * $(nproc))) (the default, 32 per core)"
fi

idp_pid=""
storm_pid=""
cleanup() {
  stop_pid "$storm_pid" # SIGTERM ends its phase; it reports and exits
  stop_pid "$idp_pid"
  teardown_backend
  [ -n "${KEEP_DB:-}" ] || rm -f "$work"/idp.db* "$work/idp" "$work/idp-admin" "$work/code_flow_load"
}
trap cleanup EXIT

setup_backend
log "Poortwachter on $base ($backend_label)"
(cd "$work" && exec ./idp) >>"$work/idp.log" 2>&1 &
idp_pid=$!
own_pids=("$idp_pid")
wait_up "$idp_pid" "$PORT" "$work/idp.log"

admin() { "$work/idp-admin" "$@"; }
admin --json org create --slug bench --name Bench >/dev/null
machine=$(admin --json client create --org bench --name m --machine --scopes profile)
machine_id=$(jq -r .client_id <<<"$machine")
machine_secret=$(jq -r .client_secret <<<"$machine")
redirect_uri="http://127.0.0.1:9/cb"
portal=$(admin --json client create --org bench --name p --redirect-uri "$redirect_uri" --scopes "openid profile")
portal_id=$(jq -r .client_id <<<"$portal")
portal_secret=$(jq -r .client_secret <<<"$portal")
password="bench-password-$RANDOM$RANDOM"

log "making $ACCOUNTS accounts"
bulk_accounts "$ACCOUNTS" u "$password" "$work/code_flow_load"
people=$((ACCOUNTS - 1)) # u1 … u(N-1) sign in; uN is flooded
flooded="u$ACCOUNTS"

token_json=$(curl -sf -u "$machine_id:$machine_secret" -d grant_type=client_credentials "$base/token")
jq -e .access_token <<<"$token_json" >/dev/null || die "no access token: $token_json"
curl -sf "$base/.well-known/openid-configuration" | jq -e .issuer >/dev/null || die "discovery"
curl -sf "$base/jwks" | jq -e '.keys | length > 0' >/dev/null || die "jwks"
basic=$(printf '%s:%s' "$machine_id" "$machine_secret" | base64 -w0)
cat >"$work/token.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
wrk.body = "grant_type=client_credentials"
EOF

# The driver, as the portal with its client, for accounts u1 … u(N-1); more arguments follow.
# (An array, not a function: started in the background, $! must be the driver itself.)
drive=("$work/code_flow_load" --base "$base" --client-id "$portal_id" --client-secret "$portal_secret"
  --redirect-uri "$redirect_uri" --accounts "$people" --user-prefix u --password "$password")
db=()
for m in "${db_match[@]}"; do db+=(--db-match "$m"); done

# --- CPU accounting for the wrk runs and the flood (the driver reports its own phases) ---------
# The server's password-hashing threads are named argon2-N (idp/src/auth/password.rs).
hash_jiffies() {
  local t comm total=0 j
  for t in /proc/"$idp_pid"/task/*; do
    read -r comm <"$t/comm" 2>/dev/null || continue
    [[ $comm == argon2-* ]] || continue
    j=$(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null) || j=0
    total=$((total + j))
  done
  echo "$total"
}
# The database processes of this run (PostgreSQL backends titled with its database, Redis), as
# the driver counts them; load drivers (their command line holds --db-match) are left out.
db_jiffies() {
  [ "${#db_match[@]}" -gt 0 ] || {
    echo 0
    return
  }
  local m f p j total=0 patterns=()
  for m in "${db_match[@]}"; do patterns+=(-e "$m"); done
  while IFS= read -r f; do
    p=${f#/proc/}
    p=${p%/cmdline}
    [ "$p" != "$idp_pid" ] || continue
    grep -qaF -e --db-match "$f" 2>/dev/null && continue
    j=$(proc_jiffies "$p" 2>/dev/null) || j=0
    total=$((total + j))
  done < <(grep -laF "${patterns[@]}" /proc/[0-9]*/cmdline 2>/dev/null || true)
  echo "$total"
}
storm_jiffies() {
  local j=0
  [ -z "$storm_pid" ] || j=$(proc_jiffies "$storm_pid" 2>/dev/null) || j=0
  echo "${j:-0}"
}
cpu_begin() {
  cpu_t0=$EPOCHREALTIME
  cpu_b0=$(busy_jiffies)
  cpu_s0=$(proc_jiffies "$idp_pid")
  cpu_h0=$(hash_jiffies)
  cpu_d0=$(db_jiffies)
  cpu_p0=$(storm_jiffies)
}
# $1 = the measuring tool's CPU seconds; prints cores: server hashing database storm tool other.
cpu_end() {
  local b s h d p t
  b=$(busy_jiffies)
  s=$(proc_jiffies "$idp_pid")
  h=$(hash_jiffies)
  d=$(db_jiffies)
  p=$(storm_jiffies)
  t=$EPOCHREALTIME
  awk -v b="$((b - cpu_b0))" -v s="$((s - cpu_s0))" -v h="$((h - cpu_h0))" -v d="$((d - cpu_d0))" \
    -v p="$((p - cpu_p0))" -v g="$1" -v hz="$hz" -v us="$((${t/./} - ${cpu_t0/./}))" 'BEGIN {
      wall = us / 1e6
      other = b / hz / wall - s / hz / wall - d / hz / wall - p / hz / wall - g / wall
      if (other < 0) other = 0
      if (p < 0) p = 0
      printf "%.2f %.2f %.2f %.2f %.2f %.2f", s / hz / wall, h / hz / wall, d / hz / wall, p / hz / wall, g / wall, other }'
}

# --- the measurements ---------------------------------------------------------------------------
declare -A R # "<phase>.<what>.<field>" → value
v() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; } # $1 a RESULT line, $2 key

measure_wrk() { # $1 phase (baseline | storm), $2 what, $3 path, $4 optional lua script
  local out="$work/wrk.$2.$1.txt" bad sock
  log "$1: wrk $3 (${THREADS} threads, $CONNECTIONS connections, ${DURATION} s)"
  cpu_begin
  {
    TIMEFORMAT='%U %S'
    time wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency ${4:+-s "$4"} "$base$3" >"$out"
  } 2>"$out.cpu"
  R[$1.$2.cpu]=$(cpu_end "$(tail -n1 "$out.cpu" | awk '{ print $1 + $2 }')")
  cat "$out" >&2
  R[$1.$2.rate]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  R[$1.$2.p50]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  R[$1.$2.p99]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  sock=$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out")
  R[$1.$2.bad]="${bad:-0}${sock:+ (socket: $sock)}"
}

measure_sso() { # $1 phase; the storm driver, when running, is counted apart (--peer-pid)
  local out="$work/sso.$1.txt" peer=() result
  [ -z "$storm_pid" ] || peer=(--peer-pid "$storm_pid")
  log "$1: SSO flow ($SSO_BROWSERS browsers, ${DURATION} s)"
  "${drive[@]}" --users "$SSO_BROWSERS" --duration "$DURATION" --mint-secs 0 \
    --server-pid "$idp_pid" --clk-tck "$hz" "${db[@]}" "${peer[@]}" >"$out" 2>&1 ||
    echo "the SSO driver reported errors (see $out)" >&2
  grep -v '^RESULT ' "$out" >&2 || true
  result=$(grep '^RESULT ' "$out" || true)
  R[$1.sso.rate]=$(v "$result" flows_per_s)
  R[$1.sso.p50]=$(v "$result" flow_p50_ms)
  R[$1.sso.p99]=$(v "$result" flow_p99_ms)
  R[$1.sso.bad]=$(v "$result" flow_errors)
  R[$1.authorize.p50]=$(v "$result" authorize_p50_ms)
  R[$1.authorize.p99]=$(v "$result" authorize_p99_ms)
  R[$1.token_code.p50]=$(v "$result" token_p50_ms)
  R[$1.token_code.p99]=$(v "$result" token_p99_ms)
  R[$1.sso.signin_busy]=$(v "$result" signin_busy)
  R[$1.sso.cpu]="$(v "$result" sso_cpu_server) $(v "$result" sso_cpu_server_hash) $(v "$result" sso_cpu_db) $(v "$result" sso_cpu_peers) $(v "$result" sso_cpu_gen) $(v "$result" sso_cpu_other)"
}

measure_all() { # $1 phase
  measure_wrk "$1" discovery /.well-known/openid-configuration
  measure_wrk "$1" jwks /jwks
  measure_wrk "$1" token /token "$work/token.lua"
  measure_sso "$1"
}

wait_quiet
measure_all baseline

wait_quiet
log "the storm: $STORM_BROWSERS concurrent password sign-ins (fresh browsers, random accounts of $people)"
"${drive[@]}" --users 1 --duration 0 --mint-secs 0 --password-secs "$STORM_MAX_SECS" \
  --password-browsers "$STORM_BROWSERS" --server-pid "$idp_pid" --clk-tck "$hz" "${db[@]}" \
  >"$work/storm.txt" 2>&1 &
storm_pid=$!
own_pids+=("$storm_pid")
until grep -q '^password flows: measuring' "$work/storm.txt"; do
  kill -0 "$storm_pid" 2>/dev/null || {
    cat "$work/storm.txt" >&2
    die "the storm driver exited before its measured phase"
  }
  sleep 0.2
done
sleep "$SETTLE_SECS"
measure_all storm

log "bad input during the storm: wrong passwords for $flooded, $FLOOD_RATE/s for ${FLOOD_SECS} s from $FLOOD_ADDRESSES addresses; $BYSTANDERS others signing in"
cpu_begin
{
  TIMEFORMAT='%U %S'
  time "${drive[@]}" --users 1 --flood "$flooded" --flood-secs "$FLOOD_SECS" --flood-rate "$FLOOD_RATE" \
    --flood-forms "$FLOOD_FORMS" --flood-addresses "$FLOOD_ADDRESSES" --flood-limit "$limit" \
    --bystanders "$BYSTANDERS" >"$work/flood.txt" 2>"$work/flood.err" ||
    echo "the flood driver reported a problem (see the table and $work/flood.err)" >>"$work/flood.err"
} 2>"$work/flood.cpu"
R[flood.cpu]=$(cpu_end "$(tail -n1 "$work/flood.cpu" | awk '{ print $1 + $2 }')")
cat "$work/flood.txt" "$work/flood.err" >&2
flood=$(grep '^RESULT ' "$work/flood.txt" || true)

log "ending the storm"
kill -TERM "$storm_pid"
wait "$storm_pid" || echo "the storm driver reported errors (see $work/storm.txt)" >&2
storm_pid=""
grep -v '^RESULT ' "$work/storm.txt" >&2 || true
storm=$(grep '^RESULT ' "$work/storm.txt" || true)
idp_hwm=$(rss_kib "$idp_pid" VmHWM)
stop_pid "$idp_pid"
idp_pid=""

# --- the tables ---------------------------------------------------------------------------------
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "" || tolower(v) ~ /nan/) print "–"; else printf "%.*f", d, v }'; }
# A p99 against the target: "12.3 ✓" or "80.1 ✗".
p99() {
  awk -v v="$1" -v t="$TARGET_MS" 'BEGIN {
    if (v == "" || tolower(v) ~ /nan/) print "–"; else printf "%.1f %s", v, (v + 0 < t) ? "✓" : "✗" }'
}
row() { # $1 label, $2 what (key in R)
  echo "| $1 | $(fmt "${R[baseline.$2.rate]:-}" 0) | $(fmt "${R[baseline.$2.p50]:-}") | $(p99 "${R[baseline.$2.p99]:-}")" \
    "| $(fmt "${R[storm.$2.rate]:-}" 0) | $(fmt "${R[storm.$2.p50]:-}") | $(p99 "${R[storm.$2.p99]:-}")" \
    "| ${R[baseline.$2.bad]:-}; ${R[storm.$2.bad]:-} |"
}
part() { # $1 label, $2 what: p50/p99 only
  echo "| $1 | | $(fmt "${R[baseline.$2.p50]:-}") | $(fmt "${R[baseline.$2.p99]:-}") | | $(fmt "${R[storm.$2.p50]:-}") | $(fmt "${R[storm.$2.p99]:-}") | |"
}
cpu_row() { # $1 label, $2 "server hashing db storm tool other"
  local s h d p g o
  read -r s h d p g o <<<"$2"
  echo "| $1 | $(fmt "$s" 2) | $(fmt "$h" 2) | $(fmt "$d" 2) | $(fmt "$p" 2) | $(fmt "$g" 2) | $(fmt "$o" 2) |"
}
yes_no() { if [ "$1" = "$2" ]; then echo "$3 ✓"; else echo "$3 ✗"; fi; } # $1 value, $2 wanted, $3 text
sf() { v "$storm" "$1"; }
ff() { v "$flood" "$1"; }
busy_share=$(awk -v b="$(sf password_busy)" -v n="$(sf password_attempts)" 'BEGIN { if (n > 0) printf "%.0f %%", 100 * b / n; else print "–" }')

{
  echo "Poortwachter $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?') (profile $PROFILE), $backend_label," \
    "$(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(free -g | awk '/^Mem:/ { print $2 }') GiB," \
    "Linux $(uname -r), $(rustc --version 2>/dev/null || echo 'rustc ?')"
  echo "$ACCOUNTS accounts (made in $bulk_secs s); password checks waiting at most: $room; failures per username:" \
    "$limit; wrk $THREADS threads, $CONNECTIONS connections, ${DURATION} s; SSO: $SSO_BROWSERS browsers, ${DURATION} s;" \
    "storm: $STORM_BROWSERS fresh browsers signing in at a time; all load generators on the same CPUs"
  echo
  echo "| Measurement | baseline req/s | p50 ms | p99 ms | under the storm req/s | p50 ms | p99 ms | non-2xx or errors (baseline; storm) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  row "GET /.well-known/openid-configuration" discovery
  row "GET /jwks" jwks
  row "POST /token, client_credentials" token
  row "SSO flow: authorize with a session → code → POST /token ($SSO_BROWSERS browsers), flows/s" sso
  part "… of which GET /authorize" authorize
  part "… of which POST /token, authorization_code" token_code
  echo
  echo "✓: p99 under $TARGET_MS ms (the target under the storm), ✗: not. Under the storm the SSO browsers' own sign-ins were" \
    "refused as busy ${R[storm.sso.signin_busy]:-–} times (each waited out, then tried again) before their measured loop."
  echo
  echo "| The storm ($STORM_BROWSERS fresh browsers signing in with their password, $(fmt "$(sf password_secs)") s) | |"
  echo "| --- | ---: |"
  echo "| password sign-in flows completed, per s | $(fmt "$(sf password_flows_per_s)") |"
  echo "| … whole flow p50 / p99 ms (queue wait included) | $(fmt "$(sf password_flow_p50_ms)") / $(fmt "$(sf password_flow_p99_ms)") |"
  echo "| attempts refused as busy (503) | $(sf password_busy) of $(sf password_attempts) ($busy_share) |"
  echo "| … the 503 answered in p50 / p99 ms | $(fmt "$(sf password_busy_p50_ms)") / $(p99 "$(sf password_busy_p99_ms)") |"
  echo "| … 503 answers without Retry-After | $(yes_no "$(sf password_busy_without_retry_after)" 0 "$(sf password_busy_without_retry_after)") |"
  echo "| errors (anything but a code or a 503) | $(yes_no "$(sf password_errors)" 0 "$(sf password_errors)") |"
  echo "| server CPU per completed flow, ms | $(fmt "$(sf password_server_cpu_ms_per_flow)" 2) |"
  echo "| CPU cores over the storm: server (of which hashing) / storm driver / everything else (the measurements) | $(fmt "$(sf password_cpu_server)" 2) ($(fmt "$(sf password_cpu_server_hash)" 2)) / $(fmt "$(sf password_cpu_gen)" 2) / $(fmt "$(sf password_cpu_other)" 2) |"
  echo "| peak RSS of the server (VmHWM), MiB | $(mib "$idp_hwm") |"
  echo
  echo "| Bad input: wrong passwords for $flooded during the storm ($(ff flood_rate)/s for $(fmt "$(ff flood_secs)") s from $(ff flood_addresses) addresses) | |"
  echo "| --- | ---: |"
  echo "| attempts sent | $(ff flood_sent) |"
  echo "| … checked (401) / paused (429) / refused as busy (503) / anything else | $(ff flood_checked) / $(ff flood_paused) / $(ff flood_busy) / $(yes_no "$(ff flood_unexpected)" 0 "$(ff flood_unexpected)") |"
  echo "| … refused (429 and 503) answered in p50 / p99 ms | $(fmt "$(ff flood_refused_p50_ms)") / $(p99 "$(ff flood_refused_p99_ms)") |"
  echo "| … checked (401) answered in p50 / p99 ms (queue wait included) | $(fmt "$(ff flood_checked_p50_ms)") / $(fmt "$(ff flood_checked_p99_ms)") |"
  echo "| … all answers p50 / p99 ms | $(fmt "$(ff flood_all_p50_ms)") / $(fmt "$(ff flood_all_p99_ms)") |"
  echo "| … 503 answers without Retry-After | $(yes_no "$(ff flood_busy_without_retry_after)" 0 "$(ff flood_busy_without_retry_after)") |"
  echo "| then one at a time until paused: sent / checked / busy / paused | $(ff after_sent) / $(ff after_checked) / $(ff after_busy) / $(ff after_paused) |"
  echo "| passwords checked in all, against signin.max_failures_per_username | $(yes_no "$(ff counted_exactly)" yes "$(ff checked_total) of $limit") |"
  echo "| others signing in meanwhile ($(ff bystanders), own addresses): succeeded / failed | $(ff bystander_ok) / $(yes_no "$(ff bystander_failed)" 0 "$(ff bystander_failed)") |"
  echo "| … refused as busy and tried again after Retry-After | $(ff bystander_busy) |"
  echo "| … their sign-in (authorize to code, waits included) p50 / p99 ms | $(fmt "$(ff bystander_p50_ms)") / $(fmt "$(ff bystander_p99_ms)") |"
  echo
  echo "| Where the CPU went, cores | server, all threads | … of which hashing | database | storm driver | measuring tool | other |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for phase in baseline storm; do
    cpu_row "$phase: GET discovery (wrk)" "${R[$phase.discovery.cpu]:-}"
    cpu_row "$phase: GET /jwks (wrk)" "${R[$phase.jwks.cpu]:-}"
    cpu_row "$phase: POST /token (wrk)" "${R[$phase.token.cpu]:-}"
    cpu_row "$phase: SSO flow (driver, measured loop)" "${R[$phase.sso.cpu]:-}"
  done
  cpu_row "storm: bad input (flood and bystanders, one driver)" "${R[flood.cpu]:-}"
  echo
  echo "Database: PostgreSQL's backends for this run's database plus Redis (0 on SQLite, inside the server)."
  echo "Measuring tool: wrk, or the driver for the SSO flow and the bad input; other: everything else on the machine."
} | tee "${OUT:-/dev/null}"
echo >&2
echo "raw outputs: $work" >&2
