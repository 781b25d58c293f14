# shellcheck shell=bash
# maildev: catches the shop's mail over SMTP; tests read it through its HTTP API (/api/email).

svc_maildev_ports() { echo "$PORT_SMTP $PORT_MAIL_WEB"; }
svc_maildev_signature() {
  echo maildev
  echo "--mail-directory $STACK/maildev"
}
svc_maildev_health() { [[ "$(curl -sf -m 3 "http://127.0.0.1:$PORT_MAIL_WEB/api/healthz")" == true ]]; }

svc_maildev_start() {
  mkdir -p "$STACK/maildev"
  start_bg maildev node "$TOOLS_DIR/node/node_modules/maildev/dist/bin/maildev.js" \
    --ip 127.0.0.1 --smtp "$PORT_SMTP" --web-ip 127.0.0.1 --web "$PORT_MAIL_WEB" \
    --mail-directory "$STACK/maildev"
}
