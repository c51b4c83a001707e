#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what it needs, starts
# a throwaway PostgreSQL on loopback, runs every test against SQLite and
# then PostgreSQL (with the race detector), and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
# The web UI's browser tests drive Debian's Chromium (headless, loopback only).
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		echo "missing packages: ${need[*]} (run as root, or install them)" >&2
		exit 1
	fi
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# staticcheck, pinned; `go run` builds it once into the module cache.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The browser tests fail rather than skip when Chromium is missing here.
export COMBINE_REQUIRE_BROWSER=1
# Screenshots of the main pages (test artifacts) land here.
export COMBINE_SCREENSHOTS="${COMBINE_SCREENSHOTS:-$PWD/web/testdata/screenshots}"

read -r PGDIR PGURL < <(scripts/pg.sh start)
trap 'scripts/pg.sh stop "$PGDIR"' EXIT

echo "== tests on SQLite"
go test -race -count=1 -timeout 20m ./...
echo "== tests on PostgreSQL"
COMBINE_TEST_POSTGRES_URL="$PGURL" go test -race -count=1 -timeout 20m ./...
