#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb into DIR, a private
# port on 127.0.0.1, fsync on, no other network.
#   scripts/pg_test_cluster.sh start DIR   prints the URL of its "postgres" database
#   scripts/pg_test_cluster.sh stop DIR    stops it and removes DIR
# initdb and postgres refuse to run as root: as root they run as the
# "postgres" system user (Debian's postgresql package creates it). The role
# "storyloom" (superuser) logs in without a password from 127.0.0.1; every
# other role needs its password (scram-sha-256), so the wrong-password error
# can be tested.
set -euo pipefail
cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg_test_cluster: PostgreSQL server binaries not found (install postgresql-15: scripts/setup.sh)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$bin/initdb" -D "$dir/data" -U storyloom --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # The test role needs no password from this machine; every other role does.
    { echo "host all storyloom 127.0.0.1/32 trust"; cat "$dir/data/pg_hba.conf"; } >"$dir/hba.tmp"
    as_owner cp "$dir/hba.tmp" "$dir/data/pg_hba.conf"
    rm -f "$dir/hba.tmp"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c max_connections=300" \
      >/dev/null
    echo "postgresql://storyloom@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  restart)
    # For the tests of reconnection: the server goes away and comes back.
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
    ;;
  *)
    echo "usage: $0 start|stop|restart DIR" >&2
    exit 2
    ;;
esac
