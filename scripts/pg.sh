#!/usr/bin/env bash
# Throwaway PostgreSQL for tests: `scripts/pg.sh start` prints the data
# directory and admin URL of a fresh server on 127.0.0.1 (fsync off);
# `scripts/pg.sh stop DIR` stops it and removes the data. For outage tests:
# `halt DIR` stops the server keeping its data, `resume DIR` starts it
# again on the same port, `freeze DIR` / `thaw DIR` send SIGSTOP / SIGCONT
# to its processes (a hung database).
set -euo pipefail
# The newest installed server (Debian puts each major version in its own dir).
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

start() {
	local dir
	dir=$(mktemp -d /tmp/combine-pg.XXXXXX)
	local as=()
	if [ "$(id -u)" = 0 ]; then
		chown postgres:postgres "$dir"
		as=(runuser -u postgres --)
	fi
	(
		cd "$dir"
		"${as[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
	) || { cat "$dir"/*.log >&2; exit 1; }
	# A random port may be taken (another server, a test's listener): try
	# others until one binds.
	local port tries
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		port=${PGPORT_TEST:-$((20000 + RANDOM % 20000))}
		echo "$port" >"$dir/port"
		if try_start "$dir"; then
			echo "$dir postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			return
		fi
		if [ -n "${PGPORT_TEST:-}" ] || ! grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null; then
			break
		fi
		rm -f "$dir/server.log"
	done
	cat "$dir"/*.log >&2
	rm -rf "$dir"
	exit 1
}

runas() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

try_start() {
	local dir=$1 port
	port=$(cat "$dir/port")
	(
		cd "$dir"
		runas "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
			start >/dev/null 2>&1
	)
}

resume() {
	try_start "$1" || { cat "$1"/*.log >&2; exit 1; }
}

halt() {
	local dir=$1
	(cd "$dir" && runas "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null)
}

# signal sends $2 to the postmaster of DIR and to its children (the
# backends and auxiliary processes), by process id.
signal() {
	local dir=$1 sig=$2 pid
	pid=$(head -n 1 "$dir/data/postmaster.pid")
	kill "-$sig" "$pid" $(pgrep -P "$pid")
}

stop() {
	local dir=$1
	local as=()
	[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
	(cd "$dir" && "${as[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1) || true
	rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "$2" ;;
halt) halt "$2" ;;
resume) resume "$2" ;;
freeze) signal "$2" STOP ;;
thaw) signal "$2" CONT ;;
*) echo "usage: $0 start | stop DIR | halt DIR | resume DIR | freeze DIR | thaw DIR" >&2; exit 2 ;;
esac
