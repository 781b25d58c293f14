# shellcheck shell=bash
# OAuth providers: oauth2-mock-server as "google" and "facebook", plus the control endpoint that tests
# use to choose the next user or make a token exchange fail (deploy/local/oauth-providers.mjs).

svc_oauth_ports() { echo "$PORT_GOOGLE $PORT_FACEBOOK $PORT_OAUTH_CONTROL"; }
svc_oauth_signature() {
  echo oauth-providers.mjs
  echo "--google $PORT_GOOGLE"
}
svc_oauth_health() {
  http_ok "http://127.0.0.1:$PORT_GOOGLE/.well-known/openid-configuration" &&
    http_ok "http://127.0.0.1:$PORT_FACEBOOK/.well-known/openid-configuration" &&
    http_ok "http://127.0.0.1:$PORT_OAUTH_CONTROL/healthz"
}

svc_oauth_start() {
  start_bg oauth node "$LOCAL_DIR/oauth-providers.mjs" --modules "$TOOLS_DIR/node/node_modules" \
    --google "$PORT_GOOGLE" --facebook "$PORT_FACEBOOK" --control "$PORT_OAUTH_CONTROL"
}
