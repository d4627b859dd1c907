#!/bin/sh
# A throwaway PostgreSQL cluster for the gateway's PostgreSQL tests and benchmarks.
#
#   scripts/pg.sh start   # initdb + start in a temp dir on a free loopback port; prints the URL
#   scripts/pg.sh url     # the URL of the running cluster
#   scripts/pg.sh stop    # stop it and remove its directory
#   scripts/pg.sh pause   # stop the server, keeping its data (a database outage)
#   scripts/pg.sh resume  # start it again on the same port
#   scripts/pg.sh install # apt-get install postgresql when its server binaries are absent
#
# The cluster runs as an unprivileged user (as `postgres` when run by root), trusts
# loopback connections (it listens on 127.0.0.1 only) and keeps its state under
# ${MOSAIC_PG_DIR:-/tmp/mosaic-pg}. Tests read the URL from MOSAIC_TEST_DATABASE_URL:
#
#   export MOSAIC_TEST_DATABASE_URL="$(scripts/pg.sh start)"
#   cargo test --test it
set -eu

dir="${MOSAIC_PG_DIR:-/tmp/mosaic-pg}"

bindir() {
    for d in "${PG_BINDIR:-}" /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
        if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

# Runs a command as the cluster's owner: root hands it to `postgres`.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Loopback only; fsync stays on: the tests check that acknowledged writes survive.
server_start() {
    as_owner "$1/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$2 -c unix_socket_directories=$dir -c max_connections=400" \
        start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
}

case "${1:-}" in
install)
    if bindir >/dev/null; then
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir >/dev/null || { echo "pg.sh: postgresql installed but initdb not found" >&2; exit 1; }
    ;;
start)
    bin="$(bindir)" || {
        echo "pg.sh: no PostgreSQL server binaries (initdb, pg_ctl): run 'scripts/pg.sh install' or apt-get install postgresql" >&2
        exit 1
    }
    if [ -f "$dir/url" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        cat "$dir/url"
        exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
        chown postgres "$dir"
    fi
    chmod 700 "$dir"
    port="$(free_port)"
    echo "$port" >"$dir/port"
    as_owner "$bin/initdb" -D "$dir/data" -U mosaic --auth=trust --locale=C.UTF-8 --encoding=UTF8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    server_start "$bin" "$port"
    echo "postgres://mosaic@127.0.0.1:$port/postgres" | as_owner tee "$dir/url"
    ;;
url)
    cat "$dir/url"
    ;;
pause)
    bin="$(bindir)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
resume)
    bin="$(bindir)"
    server_start "$bin" "$(cat "$dir/port")"
    ;;
stop)
    if bin="$(bindir)" && [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: scripts/pg.sh start|url|stop|pause|resume|install" >&2
    exit 2
    ;;
esac
