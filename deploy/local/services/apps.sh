# shellcheck shell=bash
# The project's own binaries: the bridge (legacy MariaDB → PostgreSQL) and the shop, run from
# $CARGO_TARGET_DIR/debug with the config files `up` writes.

svc_bridge_ports() { echo "$PORT_BRIDGE_ADMIN"; }
# Not the binary's full path: `status` and `down` may run with another CARGO_TARGET_DIR than `up` had.
svc_bridge_signature() { echo "bridge --config $STACK/config/bridge.toml run"; }
svc_bridge_health() { http_ok "http://127.0.0.1:$PORT_BRIDGE_ADMIN/healthz"; }
# The bridge fixes glibc's mmap threshold for itself (docs/OPERATIONS.md).
svc_bridge_start() {
  start_bg bridge "$BIN_DIR/bridge" --config "$STACK/config/bridge.toml" run
}

svc_shop_ports() { echo "$PORT_SHOP $PORT_SHOP_ADMIN"; }
svc_shop_signature() { echo "shop --config $STACK/config/shop.toml serve"; }
# Ready when the admin /healthz says so and the public port answers HTTP at all.
svc_shop_health() {
  http_ok "http://127.0.0.1:$PORT_SHOP_ADMIN/healthz" &&
    [[ "$(http_status "http://127.0.0.1:$PORT_SHOP/")" != 000 ]]
}
svc_shop_start() {
  start_bg shop "$BIN_DIR/shop" --config "$STACK/config/shop.toml" serve
}
