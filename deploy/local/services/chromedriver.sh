# shellcheck shell=bash
# chromedriver: WebDriver for the browser tests (test stack only). `--port=` alone keeps it on loopback;
# `--allowed-ips` would make it listen on every interface.

svc_chromedriver_ports() { echo "$PORT_CHROMEDRIVER"; }
svc_chromedriver_signature() {
  echo chromedriver
  echo "--port=$PORT_CHROMEDRIVER"
}
svc_chromedriver_health() {
  curl -sf -m 3 "http://127.0.0.1:$PORT_CHROMEDRIVER/status" | grep -q '"ready": *true'
}

svc_chromedriver_start() {
  start_bg chromedriver chromedriver "--port=$PORT_CHROMEDRIVER"
}
