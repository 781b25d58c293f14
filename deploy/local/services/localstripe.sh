# shellcheck shell=bash
# localstripe: a fake Stripe API, bound to 127.0.0.1, its store kept in $STACK/localstripe
# (deploy/local/localstripe-run.py explains why the CLI is not used).

STRIPE_SECRET_KEY=sk_test_funnyhat

svc_localstripe_ports() { echo "$PORT_STRIPE"; }
svc_localstripe_signature() {
  echo localstripe-run.py
  echo "--data-dir $STACK/localstripe"
}
svc_localstripe_health() { http_ok "http://127.0.0.1:$PORT_STRIPE/v1/customers" -u "$STRIPE_SECRET_KEY:"; }

svc_localstripe_start() {
  mkdir -p "$STACK/localstripe"
  start_bg localstripe "$TOOLS_DIR/venv/bin/python" -u "$LOCAL_DIR/localstripe-run.py" \
    --host 127.0.0.1 --port "$PORT_STRIPE" --data-dir "$STACK/localstripe"
}
