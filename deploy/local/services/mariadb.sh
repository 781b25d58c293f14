# shellcheck shell=bash
# MariaDB: the legacy stock database (`legacy`), private datadir, TLS, row-based binlog for the bridge.
#
# Started with --no-defaults so that nothing of the machine's own MariaDB (/etc/mysql, port 3306, the
# system socket) is read or touched. root is reachable only through this stack's unix socket.

svc_mariadb_ports() { echo "$PORT_MARIADB"; }
svc_mariadb_signature() {
  echo mariadbd
  echo "--datadir=$STACK/mariadb/data"
}
svc_mariadb_health() {
  mariadb-admin --no-defaults --socket="$MARIADB_SOCKET" -uroot --connect-timeout=2 ping &&
    port_open "$PORT_MARIADB"
}

# mariadb_root ARGS...: the mariadb client as root through the stack's socket.
# shellcheck disable=SC2120 # callers may pass client options
mariadb_root() { mariadb --no-defaults --socket="$MARIADB_SOCKET" -uroot "$@"; }

# make_tls: a self-signed CA and a server certificate for 127.0.0.1 / localhost, made once per stack.
# rustls wants X.509 v3 with a SAN and a CA marked as one, so both get explicit extensions.
make_tls() {
  local dir="$STACK/tls"
  if [[ -s "$dir/ca.pem" && -s "$dir/server-cert.pem" && -s "$dir/server-key.pem" ]]; then
    return
  fi
  log "tls: making a dev CA and a server certificate in $dir"
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -subj "/O=Funny Hat Online Shop/CN=Funny Hat local dev CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
      -subj "/O=Funny Hat Online Shop/CN=127.0.0.1" \
      -keyout server-key.pem -out server.csr 2>/dev/null
    cat >server-ext.cnf <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256 -days 3650 \
      -extfile server-ext.cnf -out server-cert.pem 2>/dev/null
    rm -f server.csr server-ext.cnf ca.srl
    chmod 644 ca.pem server-cert.pem
    chmod 600 ca-key.pem server-key.pem
    chown mysql:mysql server-key.pem
  )
  openssl verify -CAfile "$dir/ca.pem" "$dir/server-cert.pem" >/dev/null ||
    die "tls: the server certificate does not verify against the CA"
}

init_mariadb() {
  local base="$STACK/mariadb"
  mkdir -p "$base"
  chown mysql:mysql "$base"
  ensure_traversable "$base" mysql
  [[ -d "$base/data/mysql" ]] && return
  log "mariadb: initialising $base/data"
  rm -rf "$base/data"
  mariadb-install-db --no-defaults --user=mysql --datadir="$base/data" --skip-test-db \
    >>"$(log_file mariadb)" 2>&1 || fail_service mariadb "mariadb-install-db failed"
}

svc_mariadb_start() {
  make_tls
  init_mariadb
  local base="$STACK/mariadb"
  # A tmpdir of its own: a MariaDB starting up deletes leftover #sql* files in its tmpdir, which
  # must never be another server's live temporary tables (tests start scratch servers).
  mkdir -p "$base/tmp"
  chown mysql:mysql "$base/tmp"
  start_bg mariadb mariadbd --no-defaults --user=mysql \
    --datadir="$base/data" --socket="$MARIADB_SOCKET" --pid-file="$base/mysqld.pid" \
    --tmpdir="$base/tmp" \
    --port="$PORT_MARIADB" --bind-address=127.0.0.1 --skip-name-resolve \
    --log-bin="$base/data/binlog" --server-id=1 --binlog-format=ROW \
    --binlog-row-image=FULL --binlog-row-metadata=FULL --gtid-strict-mode=ON \
    --binlog-expire-logs-seconds=604800 \
    --max-allowed-packet=256M --character-set-server=utf8mb4 --default-storage-engine=InnoDB \
    --innodb-flush-log-at-trx-commit=2 \
    --ssl-ca="$STACK/tls/ca.pem" --ssl-cert="$STACK/tls/server-cert.pem" \
    --ssl-key="$STACK/tls/server-key.pem"
}

# setup_mariadb: the database and the accounts of docs/LOCAL_STACK.md, idempotently, as root.
setup_mariadb() {
  # shellcheck disable=SC2119
  mariadb_root <<'SQL' || fail_service mariadb "setting up the database and accounts failed"
CREATE DATABASE IF NOT EXISTS legacy CHARACTER SET utf8mb4;

-- Only the accounts below may log in over TCP: drop what mariadb-install-db made besides root and mysql.
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
FLUSH PRIVILEGES;

CREATE USER IF NOT EXISTS 'admin'@'127.0.0.1' IDENTIFIED BY 'admin-dev';
ALTER USER 'admin'@'127.0.0.1' IDENTIFIED BY 'admin-dev';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;

CREATE USER IF NOT EXISTS 'stockapp'@'127.0.0.1' IDENTIFIED BY 'stockapp-dev';
ALTER USER 'stockapp'@'127.0.0.1' IDENTIFIED BY 'stockapp-dev';
GRANT ALL PRIVILEGES ON legacy.* TO 'stockapp'@'127.0.0.1';

CREATE USER IF NOT EXISTS 'bridge'@'127.0.0.1' IDENTIFIED BY 'bridge-dev';
-- TLS only, as the bridge's RDS user should be (REQUIRE SSL): the bridge never reads stock in clear.
ALTER USER 'bridge'@'127.0.0.1' IDENTIFIED BY 'bridge-dev' REQUIRE SSL;
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'bridge'@'127.0.0.1';
GRANT SELECT ON legacy.* TO 'bridge'@'127.0.0.1';
SQL
}
