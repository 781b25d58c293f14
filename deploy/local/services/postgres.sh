# shellcheck shell=bash
# PostgreSQL: the shop's database (`funnyhat`), private cluster run as the postgres user.
#
# Listens on 127.0.0.1 only (scram-sha-256) and on a unix socket in $STACK/postgres (trust), never on the
# machine's own 5432 or /var/run/postgresql.

# The newest installed server (Debian's layout: /usr/lib/postgresql/<major>/bin).
pg_bin_dir() {
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
    sort -V | tail -n 1)"
  [[ -n "$dir" ]] || die "postgres: no server under /usr/lib/postgresql (run deploy/local/install)"
  dirname "$dir"
}

svc_postgres_ports() { echo "$PORT_POSTGRES"; }
svc_postgres_signature() {
  echo postgres
  echo "-D $STACK/postgres/data"
}
svc_postgres_health() {
  "$(pg_bin_dir)/pg_isready" -q -h 127.0.0.1 -p "$PORT_POSTGRES" -t 2
}

# as_postgres COMMAND...: runs a PostgreSQL binary as the postgres user.
as_postgres() {
  local cmd="$1"
  shift
  runuser -u postgres -- "$(pg_bin_dir)/$cmd" "$@"
}

# psql_admin [ARGS...]: psql as the superuser through the stack's socket (trust).
psql_admin() {
  "$(pg_bin_dir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PORT_POSTGRES" -U postgres "$@"
}

init_postgres() {
  local base="$STACK/postgres" pwfile
  mkdir -p "$base"
  chown postgres:postgres "$base"
  chmod 700 "$base"
  ensure_traversable "$base" postgres
  [[ -s "$base/data/PG_VERSION" ]] && return
  log "postgres: initialising $base/data"
  rm -rf "$base/data"
  pwfile="$base/initdb-pw"
  printf 'postgres-dev\n' >"$pwfile"
  chown postgres:postgres "$pwfile"
  as_postgres initdb -D "$base/data" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
    >>"$(log_file postgres)" 2>&1 || {
    rm -f "$pwfile"
    fail_service postgres "initdb failed"
  }
  rm -f "$pwfile"
}

svc_postgres_start() {
  init_postgres
  local base="$STACK/postgres" log
  log="$(log_file postgres)"
  touch "$log"
  chown postgres:postgres "$log"
  # The settings go on the command line, not into postgresql.conf, so a different port base or stack path
  # always wins. PG_EXTRA_OPTS lets `test` trade durability for speed. shared_buffers as on the shop's
  # RDS instance (a quarter of a db.t4g.medium's 4 GiB, RDS's default rule; docs/BENCHMARKS.md, "Bridge
  # catch-up": with PostgreSQL's own 128 MB the bridge's apply writes out and reads back its pages).
  local opts="-p $PORT_POSTGRES -k $PG_SOCKET_DIR -c listen_addresses=127.0.0.1"
  opts+=" -c max_connections=300 -c shared_buffers=1GB -c synchronous_commit=off ${PG_EXTRA_OPTS:-}"
  printf '\n=== %s: starting postgres\n' "$(date -Is)" >>"$log"
  # setsid: the server gets its own session, away from the terminal's Ctrl-C.
  setsid runuser -u postgres -- "$(pg_bin_dir)/pg_ctl" -D "$base/data" -l "$log" -o "$opts" \
    -w -t "$WAIT_TIMEOUT" start </dev/null >/dev/null 2>&1 8>&- || fail_service postgres "pg_ctl start failed"
  head -n 1 "$base/data/postmaster.pid" >"$(pid_file postgres)"
}

svc_postgres_stop() {
  as_postgres pg_ctl -D "$STACK/postgres/data" -m fast -w -t "$STOP_TIMEOUT" stop >/dev/null 2>&1
}

# setup_postgres: roles, database and grants of docs/LOCAL_STACK.md, idempotently.
setup_postgres() {
  psql_admin -d postgres <<'SQL' || fail_service postgres "setting up roles and the database failed"
ALTER ROLE postgres PASSWORD 'postgres-dev';
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES ('migrator', 'migrator-dev'), ('bridge', 'bridge-dev'),
                                 ('shop', 'shop-dev')) AS t(name, password)
  LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) THEN
      EXECUTE format('CREATE ROLE %I', r.name);
    END IF;
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
                   r.name, r.password);
  END LOOP;
END
$$;
SELECT 'CREATE DATABASE funnyhat OWNER migrator ENCODING ''UTF8'''
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'funnyhat')
\gexec
ALTER DATABASE funnyhat OWNER TO migrator;
REVOKE ALL ON DATABASE funnyhat FROM PUBLIC;
GRANT CONNECT ON DATABASE funnyhat TO bridge, shop;
SQL
  psql_admin -d funnyhat -c 'REVOKE CREATE ON SCHEMA public FROM PUBLIC;' ||
    fail_service postgres "revoking CREATE on schema public failed"
}
