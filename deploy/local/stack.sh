# shellcheck shell=bash
# The `up` sequence, shared by `up` and `test`: directories, services, env file, config files, demo data,
# migrations, bridge and shop, and the summary of URLs. Sourced by lib.sh.

# Set by `test`: also run chromedriver, and record CHROMEDRIVER_URL / STACK_ARTIFACTS_DIR in the env.
WITH_CHROMEDRIVER="${WITH_CHROMEDRIVER:-0}"

make_stack_dirs() {
  mkdir -p "$STACK"/{config,logs,run,tls,mariadb,postgres,s3,maildev,nginx,localstripe}
  chmod 755 "$STACK" "$STACK/logs"
}

# The infrastructure services this stack runs.
infra_services() {
  local svc
  for svc in "${INFRA_SERVICES[@]}"; do
    [[ "$svc" != chromedriver || "$WITH_CHROMEDRIVER" == 1 ]] && echo "$svc"
  done
}

# all_running SERVICE...: every one of them is ours, alive and healthy.
all_running() {
  local svc
  for svc in "$@"; do
    running_pid "$svc" >/dev/null && "svc_${svc}_health" >/dev/null 2>&1 || return 1
  done
}

start_infra() {
  local svc
  for svc in $(infra_services); do
    ensure_service "$svc"
    case "$svc" in
      mariadb) setup_mariadb ;;
      postgres) setup_postgres ;;
    esac
  done
}

# ---------------------------------------------------------------------------------------------------
# The env file and the config files

# env_line NAME VALUE: one `export NAME='VALUE'` line (values never hold a single quote).
env_line() { printf "export %s='%s'\n" "$1" "$2"; }

write_env() {
  local h=127.0.0.1 tmp="$STACK/env.tmp"
  {
    echo "# The local stack's connection settings (docs/LOCAL_STACK.md), written by deploy/local/up."
    echo "# Use: eval \"\$(deploy/local/env)\""
    env_line STACK_DIR "$STACK"
    env_line STACK_PORT_BASE "$PORT_BASE"
    env_line STACK_BIN_DIR "$BIN_DIR"
    env_line LEGACY_MYSQL_URL "mysql://bridge:bridge-dev@$h:$PORT_MARIADB/legacy"
    env_line LEGACY_MYSQL_APP_URL "mysql://stockapp:stockapp-dev@$h:$PORT_MARIADB/legacy"
    env_line LEGACY_MYSQL_ADMIN_URL "mysql://admin:admin-dev@$h:$PORT_MARIADB/legacy"
    env_line LEGACY_MYSQL_SOCKET "$MARIADB_SOCKET"
    env_line LEGACY_MYSQL_CA "$STACK/tls/ca.pem"
    env_line PG_ADMIN_URL "postgres://postgres:postgres-dev@$h:$PORT_POSTGRES/postgres"
    env_line MIGRATOR_DATABASE_URL "postgres://migrator:migrator-dev@$h:$PORT_POSTGRES/funnyhat"
    env_line BRIDGE_DATABASE_URL "postgres://bridge:bridge-dev@$h:$PORT_POSTGRES/funnyhat"
    env_line SHOP_DATABASE_URL "postgres://shop:shop-dev@$h:$PORT_POSTGRES/funnyhat"
    env_line S3_ENDPOINT "http://$h:$PORT_S3"
    env_line S3_BUCKET "$S3_BUCKET"
    env_line S3_REGION us-east-1
    env_line S3_ACCESS_KEY "$S3_ACCESS_KEY"
    env_line S3_SECRET_KEY "$S3_SECRET_KEY"
    env_line MEDIA_BASE_URL "http://$h:$PORT_CDN/$S3_BUCKET"
    env_line SMTP_URL "smtp://$h:$PORT_SMTP"
    env_line MAIL_API_URL "http://$h:$PORT_MAIL_WEB"
    env_line OAUTH_GOOGLE_URL "http://$h:$PORT_GOOGLE"
    env_line OAUTH_FACEBOOK_URL "http://$h:$PORT_FACEBOOK"
    env_line OAUTH_CONTROL_URL "http://$h:$PORT_OAUTH_CONTROL"
    env_line STRIPE_API_URL "http://$h:$PORT_STRIPE"
    env_line STRIPE_SECRET_KEY "$STRIPE_SECRET_KEY"
    env_line SHOP_URL "http://$h:$PORT_SHOP"
    env_line SHOP_ADMIN_URL "http://$h:$PORT_SHOP_ADMIN"
    env_line BRIDGE_ADMIN_URL "http://$h:$PORT_BRIDGE_ADMIN"
    if [[ "$WITH_CHROMEDRIVER" == 1 ]]; then
      env_line CHROMEDRIVER_URL "http://$h:$PORT_CHROMEDRIVER"
      env_line STACK_ARTIFACTS_DIR "$STACK/artifacts"
    fi
  } >"$tmp"
  mv "$tmp" "$STACK/env"
}

# The binaries reject unknown keys: these files hold exactly the keys they know.
write_configs() {
  local h=127.0.0.1
  cat >"$STACK/config/shop.toml" <<EOF
[http]
listen = "$h:$PORT_SHOP"
public_url = "http://$h:$PORT_SHOP"
# Plain http on 127.0.0.1: the session cookie without Secure (development only).
insecure_dev_cookies = true
[admin]
listen = "$h:$PORT_SHOP_ADMIN"
[database]
url = "postgres://shop:shop-dev@$h:$PORT_POSTGRES/funnyhat"
migrator_url = "postgres://migrator:migrator-dev@$h:$PORT_POSTGRES/funnyhat"
[media]
base_url = "http://$h:$PORT_CDN/$S3_BUCKET"
# The stack's fake providers (deploy/local/oauth-providers.mjs); client ids and secrets are made up.
[login.google]
issuer_url = "http://$h:$PORT_GOOGLE"
client_id = "funnyhat-shop-dev"
client_secret = "google-secret-dev"
[login.facebook]
authorize_url = "http://$h:$PORT_FACEBOOK/authorize"
token_url = "http://$h:$PORT_FACEBOOK/token"
userinfo_url = "http://$h:$PORT_FACEBOOK/userinfo"
client_id = "100200300400"
client_secret = "facebook-secret-dev"
[log]
format = "text"
EOF
  cat >"$STACK/config/bridge.toml" <<EOF
[admin]
listen = "$h:$PORT_BRIDGE_ADMIN"
[source]
url = "mysql://bridge:bridge-dev@$h:$PORT_MARIADB/legacy"
flavour = "mariadb"
server_id = $PORT_BRIDGE_ADMIN
tls_ca = "$STACK/tls/ca.pem"
mapping = "$REPO_ROOT/bridge/mappings/demo.toml"
[target]
url = "postgres://bridge:bridge-dev@$h:$PORT_POSTGRES/funnyhat"
[images]
bucket = "$S3_BUCKET"
endpoint = "http://$h:$PORT_S3"
access_key = "$S3_ACCESS_KEY"
secret_key = "$S3_SECRET_KEY"
public_base_url = "http://$h:$PORT_CDN/$S3_BUCKET"
[log]
format = "text"
EOF
}

# ---------------------------------------------------------------------------------------------------
# The project's binaries

build_binaries() {
  log "cargo build --locked --workspace --bins (target: $CARGO_TARGET_DIR)"
  (cd "$REPO_ROOT" && cargo build --locked --workspace --bins) || die "cargo build failed"
}

require_binaries() {
  local bin
  for bin in demo-load bridge shop; do
    [[ -x "$BIN_DIR/$bin" ]] || die "there is no $BIN_DIR/$bin (cargo build --workspace --bins makes it)"
  done
}

# run_step NAME COMMAND...: a one-shot command whose output goes to logs/NAME.log; fails loudly.
run_step() {
  local name="$1" log
  shift
  log="$(log_file "$name")"
  log "$name: $*"
  printf '\n=== %s: %s\n' "$(date -Is)" "$*" >>"$log"
  "$@" </dev/null >>"$log" 2>&1 || fail_service "$name" "'$*' failed (exit $?)"
}

start_apps() {
  require_binaries
  run_step demo-load "$BIN_DIR/demo-load" --url "mysql://admin:admin-dev@127.0.0.1:$PORT_MARIADB/legacy" \
    --seed 42
  run_step migrate "$BIN_DIR/shop" --config "$STACK/config/shop.toml" migrate
  ensure_service bridge
  ensure_service shop
}

# ---------------------------------------------------------------------------------------------------
# up

print_urls() {
  local h=127.0.0.1
  cat <<EOF

The Funny Hat local stack is up ($STACK, ports $PORT_BASE+)$( ((UP_APPS)) || echo ", services only"):
  shop                http://$h:$PORT_SHOP
  shop admin          http://$h:$PORT_SHOP_ADMIN   (/healthz, /metrics)
  bridge admin        http://$h:$PORT_BRIDGE_ADMIN   (/healthz, /metrics)
  S3 (s3s-fs)         http://$h:$PORT_S3   bucket $S3_BUCKET, key $S3_ACCESS_KEY / $S3_SECRET_KEY
  media CDN (nginx)   http://$h:$PORT_CDN/$S3_BUCKET/
  maildev web + API   http://$h:$PORT_MAIL_WEB   (SMTP smtp://$h:$PORT_SMTP)
  google (OAuth)      http://$h:$PORT_GOOGLE/.well-known/openid-configuration
  facebook (OAuth)    http://$h:$PORT_FACEBOOK
  OAuth control       http://$h:$PORT_OAUTH_CONTROL
  localstripe         http://$h:$PORT_STRIPE   (key $STRIPE_SECRET_KEY)
  MariaDB             mysql://admin:admin-dev@$h:$PORT_MARIADB/legacy   (CA $STACK/tls/ca.pem)
                      root: mariadb --no-defaults --socket=$MARIADB_SOCKET -uroot
  PostgreSQL          postgres://migrator:migrator-dev@$h:$PORT_POSTGRES/funnyhat
                      superuser: psql -h $PG_SOCKET_DIR -p $PORT_POSTGRES -U postgres
EOF
  if [[ "$WITH_CHROMEDRIVER" == 1 ]]; then
    echo "  chromedriver        http://$h:$PORT_CHROMEDRIVER"
  fi
  cat <<EOF
Settings: eval "\$(STACK_DIR=$STACK deploy/local/env)"   Logs: $STACK/logs/
EOF
}

# What stack_up does besides starting the services; `up` and `test` set these from their options.
UP_INSTALL=1 # run deploy/local/install first
UP_BUILD=1   # cargo build the workspace's binaries
UP_APPS=1    # load the demo data, migrate, run the bridge and the shop

# stack_up: brings the selected stack up; only prints the URLs when it already is.
stack_up() {
  local svc
  local -a wanted
  mapfile -t wanted < <(infra_services)
  if ((UP_APPS)); then wanted+=("${APP_SERVICES[@]}"); fi

  make_stack_dirs
  for svc in "${ALL_SERVICES[@]}"; do clear_stale "$svc"; done
  if all_running "${wanted[@]}" && [[ -s "$STACK/env" ]]; then
    log "already up"
    print_urls
    return 0
  fi

  if ((UP_INSTALL)); then "$LOCAL_DIR/install"; fi
  if ((UP_APPS && UP_BUILD)); then build_binaries; fi

  start_infra
  write_env
  write_configs
  if ((UP_APPS)); then start_apps; fi
  print_urls
}

# ---------------------------------------------------------------------------------------------------
# down

stack_down() {
  local i
  for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do
    stop_service "${ALL_SERVICES[i]}"
  done
}

# The stack's own data. Listed one by one so a purge never reaches .stack/tools or a nested .stack/test.
STACK_DATA=(env env.tmp config logs run tls mariadb postgres s3 maildev nginx localstripe artifacts)

stack_purge() {
  local svc part
  for svc in "${ALL_SERVICES[@]}"; do
    ! running_pid "$svc" >/dev/null || die "$svc still runs: not purging $STACK"
  done
  log "purging the data of $STACK"
  for part in "${STACK_DATA[@]}"; do
    rm -rf "${STACK:?}/$part"
  done
}
