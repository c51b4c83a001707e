#!/usr/bin/env bash
# Measures `combine serve` from outside with wrk, interleaved with the bare
# net/http handler of the load benchmark (the ceiling), so that every
# target sees the same background load (see docs/benchmarks.md):
#
#   scripts/wrk-compare.sh DB ROUNDS SECONDS NAME=BINARY [NAME=BINARY ...]
#
# DB is `sqlite` or a PostgreSQL admin URL (from scripts/pg.sh start; each
# build gets a database of its own). Each BINARY is a `combine` build; for
# each it creates a user, a personal access token and a session (through a
# sign-in link), serves on loopback and, round after round, runs
# `wrk -t2 -c64 -dSECONDS --latency` on the bare handler, then on each
# build's GET /health/live and GET /api/v1/me with the token and with the
# session cookie. It prints, per target, the mean req/s and its ratio to
# the bare handler's, the median of the per-round ratios, mean p50 and
# p99, the median p99, and the server's CPU time per request (user +
# system, from /proc); then each server's largest RSS.
#
# Needs wrk (apt-get install wrk) and curl. Builds to compare:
#   go build -o /tmp/combine ./cmd/combine && go test -c -o /tmp/load.test ./cmd/combine
#   git worktree add /tmp/before REV && (cd /tmp/before && go build -o /tmp/combine-before ./cmd/combine)
#   scripts/wrk-compare.sh sqlite 8 2 before=/tmp/combine-before after=/tmp/combine
# The bare handler is the load benchmark's test binary: LOAD_TEST (default
# /tmp/load.test).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,25p' "$0" >&2; exit 2; }
db=$1 rounds=$2 secs=$3
shift 3
load_test=${LOAD_TEST:-/tmp/load.test}
work=$(mktemp -d /tmp/combine-wrk.XXXXXX)
export SECRET_KEY=0123456789abcdef0123456789abcdef
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

free_port() { # a loopback port nothing listens on
	local p
	while p=$((20000 + RANDOM % 20000)); (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do :; done
	echo "$p"
}
wait_ready() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Targets: name|pid|url|header
targets=()
port=$(free_port)
COMBINE_BENCH_BARE_ADDR=127.0.0.1:$port "$load_test" >"$work/bare.log" 2>&1 &
pid=$!
pids+=($pid)
wait_ready "http://127.0.0.1:$port/live"
targets+=("bare|$pid|http://127.0.0.1:$port/live|")
servers=()
for spec in "$@"; do
	name=${spec%%=*} bin=${spec#*=}
	if [ "$db" = sqlite ]; then
		export DATABASE_URL=sqlite://$work/$name.db
	else
		dbname=wrk_${name//[^a-zA-Z0-9]/_}_$$
		psql -q "$db" -c "CREATE DATABASE $dbname" >/dev/null
		export DATABASE_URL=${db/\/postgres\?//$dbname?}
	fi
	"$bin" users create --email wrk@example.com --name Wrk --role operator >/dev/null 2>&1
	token=$("$bin" tokens create --email wrk@example.com --name wrk 2>/dev/null | head -n 1)
	port=$(free_port)
	ADDR=127.0.0.1:$port "$bin" serve 2>"$work/$name.log" &
	pid=$!
	pids+=($pid)
	wait_ready "http://127.0.0.1:$port/health/ready"
	link=$("$bin" users login-link --email wrk@example.com 2>/dev/null | head -n 1)
	cookie=$(curl -s -o /dev/null -D - -X POST "http://127.0.0.1:$port/${link#*://*/}" |
		sed -n 's/^[Ss]et-[Cc]ookie: combine_session=\([^;]*\).*/\1/p')
	[ -n "$cookie" ] || { echo "$name: sign-in link gave no session cookie" >&2; exit 1; }
	for h in "Authorization: Bearer $token" "Cookie: combine_session=$cookie"; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$h" "http://127.0.0.1:$port/api/v1/me")" = 200 ] ||
			{ echo "$name: /api/v1/me refused ${h%%:*}" >&2; exit 1; }
	done
	targets+=("$name live|$pid|http://127.0.0.1:$port/health/live|")
	targets+=("$name me-token|$pid|http://127.0.0.1:$port/api/v1/me|Authorization: Bearer $token")
	targets+=("$name me-session|$pid|http://127.0.0.1:$port/api/v1/me|Cookie: combine_session=$cookie")
	servers+=("$name|$pid")
done

run_wrk() { # url header seconds
	if [ -n "$2" ]; then wrk -t2 -c64 -d"$3"s --latency -H "$2" "$1"; else wrk -t2 -c64 -d"$3"s --latency "$1"; fi
}
ms() { awk -v k="$1" '$1 == k { v = $2; f = 1; if (v ~ /us$/) f = 0.001; else if (v ~ /ms$/) f = 1; else if (v ~ /s$/) f = 1000; sub(/[a-z]+$/, "", v); print v * f }'; }

echo "load average before: $(cat /proc/loadavg)"
for t in "${targets[@]}"; do IFS='|' read -r _ _ url hdr <<<"$t"; run_wrk "$url" "$hdr" 1 >/dev/null; done # warm-up
results=$work/results
hz=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
	for t in "${targets[@]}"; do
		IFS='|' read -r name pid url hdr <<<"$t"
		c0=$(cpu_ticks "$pid")
		out=$(run_wrk "$url" "$hdr" "$secs")
		c1=$(cpu_ticks "$pid")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		if grep -q "Non-2xx" <<<"$out"; then echo "$name: $(grep Non-2xx <<<"$out")" >&2; fi
		echo "$r|$name|$rps|$(ms 50% <<<"$out")|$(ms 99% <<<"$out")|$(awk -v c=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v s="$secs" 'BEGIN { printf "%.1f", c / hz * 1e6 / (r * s) }')" >>"$results"
	done
	for s in "${servers[@]}"; do echo "rss|${s%%|*}|$(awk '/VmRSS/ {print $2}' "/proc/${s#*|}/status")" >>"$results"; done
done
echo "load average after:  $(cat /proc/loadavg)"

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bare_mean=$(awk -F'|' '$2 == "bare" { s += $3; n++ } END { print s / n }' "$results")
printf '%-22s %8s %6s %7s %7s %7s %7s %7s\n' target req/s ratio median p50_ms p99_ms med_p99 cpu_us
for t in "${targets[@]}"; do
	name=${t%%|*}
	mean=$(awk -F'|' -v n="$name" '$2 == n { s += $3; c++ } END { print s / c }' "$results")
	ratio_median=$(awk -F'|' -v n="$name" '$2 == "bare" { b[$1] = $3 } $2 == n { print $3 / b[$1] }' "$results" | median)
	p99_median=$(awk -F'|' -v n="$name" '$2 == n { print $5 }' "$results" | median)
	awk -F'|' -v n="$name" -v m="$mean" -v b="$bare_mean" -v rm="$ratio_median" -v pm="$p99_median" '
		$2 == n { p50 += $4; p99 += $5; cpu += $6; c++ }
		END { printf "%-22s %8.0f %6.2f %7.2f %7.2f %7.2f %7.2f %7.1f\n", n, m, m / b, rm, p50 / c, p99 / c, pm, cpu / c }' "$results"
done
awk -F'|' '$1 == "rss" && $3 > m[$2] { m[$2] = $3 } END { for (k in m) printf "largest RSS of %s: %.1f MB\n", k, m[k] / 1024 }' "$results"
echo "per-round figures: $results"
