#!/usr/bin/env bash
# Throwaway PostgreSQL for tests: `scripts/pg.sh start` prints the admin URL
# of a fresh server on 127.0.0.1 (data in a temp dir, fsync off);
# `scripts/pg.sh stop DIR` stops it and removes the data.
set -euo pipefail
# The newest installed server (Debian puts each major version in its own dir).
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

start() {
	local port=${PGPORT_TEST:-$((20000 + RANDOM % 20000))}
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
		"${as[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
			start >/dev/null
	) || { cat "$dir"/*.log >&2; exit 1; }
	echo "$dir postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
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
*) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
