#!/usr/bin/env bash
# What a person does, measured against Poortwachter and, in the same run, node-oidc-provider
# (issue 9; method in docs/benchmarks.md, "Method: comparison with node-oidc-provider"):
#
#   scripts/load/compare.sh                          # SQLite, 1,000 accounts, 3 rounds (~5 minutes after the build)
#   BACKEND=postgres ACCOUNTS=1000000 scripts/load/compare.sh
#
# Two flows, each against both servers:
#   - SSO: a browser that has a session: authorize → 303 with a code → the portal's POST /token
#     (FLOW_USERS browsers, each signed in once with its password first, FLOW_SECS seconds);
#   - password sign-in: a fresh browser: authorize → sign-in form → password (Argon2id,
#     m = 19456 KiB, t = 2, p = 1 on both) → code → token (PASSWORD_BROWSERS at a time, each
#     flow a new browser and a random one of the ACCOUNTS accounts, PASSWORD_SECS seconds).
# Both run with the same load driver (idp/examples/code_flow_load/, --target poortwachter|node).
#
# What it does:
#   1. builds `idp`, `idp-admin` and the driver (cargo build --profile $PROFILE), copies them to a
#      temp dir, and installs scripts/load/node (node-oidc-provider, @node-rs/argon2) with npm ci;
#   2. starts Poortwachter on PORT with BACKEND (sqlite: a fresh file; postgres: a fresh database
#      at PG_URL plus Redis at REDIS_URL, dropped at the end), registers an organisation and a
#      confidential portal with idp-admin, and makes ACCOUNTS accounts u1 … uN in bulk (one real
#      Argon2id hash made by Poortwachter's code, one INSERT … SELECT; see lib.sh, bulk_accounts);
#   3. starts node-oidc-provider on NODE_PORT with the same client id, secret and redirect URI
#      and the same N usernames in memory, all with that very hash;
#   4. ROUNDS interleaved rounds: for each flow, each server (the order swapped every round),
#      after waiting for a quiet machine; the driver reports per flow where the CPU went
#      (server / database processes / load generator / other, in cores) and the server's CPU
#      milliseconds per flow;
#   5. prints the medians, the ratios Poortwachter / node and every round; raw outputs stay in the
#      temp dir it names.
#
# Environment (defaults): BACKEND=sqlite ACCOUNTS=1000 ROUNDS=3 PORT=18181 NODE_PORT=18182
#   FLOW_USERS=64 FLOW_SECS=10 PASSWORD_BROWSERS=8 PASSWORD_SECS=10 QUIET_WAIT=900 MAX_OTHER=0.10
#   PROFILE=dist SKIP_BUILD= (1: use the binaries as built) SKIP_NPM= (1: keep node_modules)
#   PG_URL=postgres://postgres@127.0.0.1:5432 REDIS_URL=redis://127.0.0.1:6379
#   KEEP_DB= (1: keep the database, SQLite's file or PostgreSQL's, and the Redis keys)
#   OUT= (also write the tables to this file) CARGO_TARGET_DIR (default: ./target)
# Needs: cargo, curl, jq, node ≥ 20 and npm; sqlite3 (BACKEND=sqlite) or psql and redis-cli
# (BACKEND=postgres), installed with apt-get when missing and running as root.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
# shellcheck source=scripts/load/lib.sh
. "$repo/scripts/load/lib.sh"

load_defaults
ACCOUNTS=${ACCOUNTS:-1000}
ROUNDS=${ROUNDS:-3}
NODE_PORT=${NODE_PORT:-18182}
FLOW_USERS=${FLOW_USERS:-64}
FLOW_SECS=${FLOW_SECS:-10}
PASSWORD_BROWSERS=${PASSWORD_BROWSERS:-8}
PASSWORD_SECS=${PASSWORD_SECS:-10}
node_dir="$repo/scripts/load/node"
node_base="http://127.0.0.1:$NODE_PORT"

[ "$ACCOUNTS" -ge "$FLOW_USERS" ] || die "ACCOUNTS ($ACCOUNTS) must be at least FLOW_USERS ($FLOW_USERS)"
need_tools curl jq
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  die "node and npm are needed (Node.js ≥ 20)"
fi
for p in "$PORT" "$NODE_PORT"; do
  ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/health" || die "something already answers on port $p"
done

build_binaries
if [ -z "${SKIP_NPM:-}" ] || [ ! -d "$node_dir/node_modules" ]; then
  log "installing node-oidc-provider (npm ci in scripts/load/node)"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
node_oidc_version=$(node -p "require('$node_dir/node_modules/oidc-provider/package.json').version")

prepare_work idp-compare

idp_pid=""
node_pid=""
cleanup() {
  stop_pid "$node_pid"
  stop_pid "$idp_pid"
  teardown_backend
  # The raw outputs stay; the database file (0.7 GB with a million accounts) and the binaries go.
  [ -n "${KEEP_DB:-}" ] || rm -f "$work"/idp.db* "$work/idp" "$work/idp-admin" "$work/code_flow_load"
}
trap cleanup EXIT

setup_backend
log "Poortwachter on $base ($backend_label)"
(cd "$work" && exec ./idp) >>"$work/idp.log" 2>&1 &
idp_pid=$!
wait_up "$idp_pid" "$PORT" "$work/idp.log"

admin() { "$work/idp-admin" "$@"; }
admin --json org create --slug bench --name Bench >/dev/null
redirect_uri="http://127.0.0.1:9/cb"
portal=$(admin --json client create --org bench --name p --redirect-uri "$redirect_uri" --scopes "openid profile")
client_id=$(jq -r .client_id <<<"$portal")
client_secret=$(jq -r .client_secret <<<"$portal")
password="bench-password-$RANDOM$RANDOM"

log "making $ACCOUNTS accounts"
bulk_accounts "$ACCOUNTS" u "$password" "$work/code_flow_load"

log "node-oidc-provider $node_oidc_version on $node_base"
(cd "$node_dir" && PORT=$NODE_PORT CLIENT_ID=$client_id CLIENT_SECRET=$client_secret REDIRECT_URI=$redirect_uri \
  ACCOUNTS=$ACCOUNTS USER_PREFIX=u PASSWORD_HASH=$password_hash NODE_ENV=production exec node server.js) \
  >>"$work/node.log" 2>&1 &
node_pid=$!
wait_up "$node_pid" "$NODE_PORT" "$work/node.log"
own_pids=("$idp_pid" "$node_pid")

# One driver run: $1 target (poortwachter | node), $2 flow (sso | password), $3 round.
# Sets result (the RESULT line; empty if the driver printed none).
run_flow() {
  local who=$1 flow=$2 round=$3 url pid out phase
  if [ "$who" = poortwachter ]; then url=$base pid=$idp_pid; else url=$node_base pid=$node_pid; fi
  if [ "$flow" = sso ]; then
    phase=(--duration "$FLOW_SECS" --mint-secs 0)
  else
    phase=(--duration 0 --mint-secs 0 --password-secs "$PASSWORD_SECS" --password-browsers "$PASSWORD_BROWSERS")
  fi
  local db=()
  if [ "$who" = poortwachter ]; then
    local m
    for m in "${db_match[@]}"; do db+=(--db-match "$m"); done
  fi
  out="$work/$who.$flow.$round.txt"
  wait_quiet
  log "round $round: $flow flow against $who"
  "$work/code_flow_load" --target "$who" --base "$url" --client-id "$client_id" --client-secret "$client_secret" \
    --redirect-uri "$redirect_uri" --users "$FLOW_USERS" --accounts "$ACCOUNTS" --user-prefix u \
    --password "$password" "${phase[@]}" --server-pid "$pid" --clk-tck "$hz" "${db[@]}" >"$out" 2>&1 ||
    echo "the driver reported errors (see $out)" >&2
  grep -v '^RESULT ' "$out" >&2 || true
  result=$(grep '^RESULT ' "$out" || true)
  echo "$result" >>"$work/results.$who.$flow"
}

: >"$work/results.poortwachter.sso"
: >"$work/results.poortwachter.password"
: >"$work/results.node.sso"
: >"$work/results.node.password"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order=(poortwachter node); else order=(node poortwachter); fi
  for flow in sso password; do
    for who in "${order[@]}"; do
      run_flow "$who" "$flow" "$round"
    done
  done
done

idp_hwm=$(rss_kib "$idp_pid" VmHWM)
node_hwm=$(rss_kib "$node_pid" VmHWM)
stop_pid "$node_pid"
stop_pid "$idp_pid"
node_pid=""
idp_pid=""

# Values of key $3 in the RESULT lines of $1 (target), $2 (flow), one a line.
values() { sed -n "s/.* $3=\([^ ]*\).*/\1/p" "$work/results.$1.$2"; }
med() { values "$@" | median; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "" || tolower(v) ~ /nan/) print "–"; else printf "%.*f", d, v }'; }
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || tolower(a b) ~ /nan/ || b == 0) print "–"; else printf "%.2f×", a / b }'
}
sum() { values "$@" | awk '{ s += $1 } END { print s + 0 }'; }

# $1 flow, $2 key, $3 decimals: "| median P | median N | P/N |"
cells() {
  local p n
  p=$(med poortwachter "$1" "$2")
  n=$(med node "$1" "$2")
  echo "| $(fmt "$p" "$3") | $(fmt "$n" "$3") | $(ratio "$p" "$n") |"
}
pair() { # $1 flow, $2 key a, $3 key b, $4 decimals: "| a / b (P) | a / b (N) | |"
  local who out=""
  for who in poortwachter node; do
    out+="| $(fmt "$(med "$who" "$1" "$2")" "$4") / $(fmt "$(med "$who" "$1" "$3")" "$4") "
  done
  echo "$out| |"
}
# $1 flow: "| server (+ database) P | N | total P / total N |", CPU ms per flow, medians.
per_flow() {
  local who total out="" p n
  for who in poortwachter node; do
    total=$(paste -d' ' <(values "$who" "$1" "$1_server_cpu_ms_per_flow") <(values "$who" "$1" "$1_db_cpu_ms_per_flow") |
      awk '{ print (tolower($0) ~ /nan/) ? "nan" : $1 + $2 }' | median)
    if [ "$who" = poortwachter ]; then p=$total; else n=$total; fi
    out+="| $(fmt "$(med "$who" "$1" "$1_server_cpu_ms_per_flow")" 2)"
    [ "$BACKEND" = sqlite ] || [ "$who" = node ] || out+=" + $(fmt "$(med "$who" "$1" "$1_db_cpu_ms_per_flow")" 2)"
    out+=" "
  done
  echo "$out| $(ratio "$p" "$n") |"
}
v() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; } # $1 a RESULT line, $2 key
cores() { # $1 flow: server / database / generator / other, per target
  local who out=""
  for who in poortwachter node; do
    out+="| $(fmt "$(med "$who" "$1" "$1_cpu_server")" 2) / $(fmt "$(med "$who" "$1" "$1_cpu_db")" 2) / $(fmt "$(med "$who" "$1" "$1_cpu_gen")" 2) / $(fmt "$(med "$who" "$1" "$1_cpu_other")" 2) "
  done
  echo "$out| |"
}

db_label=""
[ "$BACKEND" = sqlite ] || db_label=" (+ database for Poortwachter; the ratio compares the sums)"
{
  echo "Poortwachter $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?') (profile $PROFILE), $backend_label," \
    "against node-oidc-provider $node_oidc_version (Node.js $(node --version), @node-rs/argon2" \
    "$(node -p "require('$node_dir/node_modules/@node-rs/argon2/package.json').version"))"
  echo "$(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(free -g | awk '/^Mem:/ { print $2 }') GiB," \
    "Linux $(uname -r), $(rustc --version 2>/dev/null || echo 'rustc ?')"
  echo "$ACCOUNTS accounts (made in $bulk_secs s, see scripts/load/lib.sh); $ROUNDS interleaved round(s), medians;" \
    "SSO: $FLOW_USERS browsers, ${FLOW_SECS} s; password: $PASSWORD_BROWSERS fresh browsers at a time, ${PASSWORD_SECS} s;" \
    "load driver on the same CPUs"
  echo
  echo "| Flow | Poortwachter | node-oidc-provider | Poortwachter / node |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| **SSO flow** (authorize with a session → code → token), flows/s $(cells sso flows_per_s 0)"
  echo "| … whole flow p50 / p99 ms $(pair sso flow_p50_ms flow_p99_ms 1)"
  echo "| … authorize p50 / p99 ms $(pair sso authorize_p50_ms authorize_p99_ms 1)"
  echo "| … token p50 / p99 ms $(pair sso token_p50_ms token_p99_ms 1)"
  echo "| … CPU per flow, ms: server$db_label $(per_flow sso)"
  echo "| … CPU cores: server / database / load generator / other $(cores sso)"
  echo "| … errors (all rounds) | $(sum poortwachter sso flow_errors) | $(sum node sso flow_errors) | |"
  echo "| **Password sign-in flow** (fresh browser: authorize → form → password → code → token), flows/s $(cells password password_flows_per_s 1)"
  echo "| … whole flow p50 / p99 ms $(pair password password_flow_p50_ms password_flow_p99_ms 1)"
  echo "| … sign-in (authorize to code) p50 / p99 ms $(pair password password_signin_p50_ms password_signin_p99_ms 1)"
  echo "| … CPU per flow, ms: server$db_label $(per_flow password)"
  echo "| … CPU cores: server / database / load generator / other $(cores password)"
  echo "| … errors (all rounds) | $(sum poortwachter password password_errors) | $(sum node password password_errors) | |"
  echo "| Peak RSS of the server (VmHWM), MiB | $(mib "$idp_hwm") | $(mib "$node_hwm") | $(ratio "$idp_hwm" "$node_hwm") |"
  echo
  echo "Ratios > 1 on flows/s mean Poortwachter is faster; on CPU per flow and memory, < 1 means it needs less."
  echo "Database CPU is PostgreSQL's backends for this run's database plus Redis (0 on SQLite, inside the server)."
  echo
  echo "| Round | Server | SSO flows/s | SSO p99 ms | password flows/s | password p99 ms | CPU cores SSO / password (server / db / gen / other) |"
  echo "| ---: | --- | ---: | ---: | ---: | ---: | --- |"
  for round in $(seq 1 "$ROUNDS"); do
    for who in poortwachter node; do
      s=$(sed -n "${round}p" "$work/results.$who.sso")
      p=$(sed -n "${round}p" "$work/results.$who.password")
      echo "| $round | $who | $(v "$s" flows_per_s) | $(v "$s" flow_p99_ms) | $(v "$p" password_flows_per_s) |" \
        "$(v "$p" password_flow_p99_ms) | $(v "$s" sso_cpu_server)/$(v "$s" sso_cpu_db)/$(v "$s" sso_cpu_gen)/$(v "$s" sso_cpu_other)" \
        "; $(v "$p" password_cpu_server)/$(v "$p" password_cpu_db)/$(v "$p" password_cpu_gen)/$(v "$p" password_cpu_other) |"
    done
  done
} | tee "${OUT:-/dev/null}"
echo >&2
echo "raw outputs: $work" >&2
