# shellcheck shell=bash
# nginx: the CDN stand-in. Serves the bucket's files read-only at /funnyhat-media/, as a CDN in front of
# S3 would: GET and HEAD only, long-lived immutable caching, open CORS, no dotfiles.

svc_nginx_ports() { echo "$PORT_CDN"; }
svc_nginx_signature() {
  echo nginx
  echo "$STACK/nginx/nginx.conf"
}
svc_nginx_health() { http_ok "http://127.0.0.1:$PORT_CDN/healthz"; }

write_nginx_conf() {
  local dir="$STACK/nginx"
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<CONF
# Written by deploy/local/up; changes are overwritten on the next start.
daemon off;
pid $dir/nginx.pid;
error_log $(log_file nginx) warn;
worker_processes 1;
user nobody nogroup;

events {
    worker_connections 256;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $STACK/logs/nginx-access.log;
    server_tokens off;
    sendfile on;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    server {
        listen 127.0.0.1:$PORT_CDN;

        # Read-only: GET (which includes HEAD) and nothing else.
        if (\$request_method !~ ^(GET|HEAD)\$) {
            return 405;
        }

        location = /healthz {
            default_type text/plain;
            return 200 "ok\n";
        }

        location /$S3_BUCKET/ {
            alias $STACK/s3/$S3_BUCKET/;
            autoindex off;
            # s3s-fs's sidecar files start with a dot; none of them is a public object.
            location ~ /\. {
                return 404;
            }
            add_header Cache-Control "public, max-age=31536000, immutable";
            add_header Access-Control-Allow-Origin "*";
        }

        location / {
            return 404;
        }
    }
}
CONF
}

svc_nginx_start() {
  write_nginx_conf
  # The workers run as nobody and read the bucket's files.
  mkdir -p "$STACK/s3/$S3_BUCKET"
  ensure_traversable "$STACK/s3/$S3_BUCKET" nobody
  # shellcheck disable=SC2094 # -e names the error log nginx appends to; it reads nothing from it
  nginx -e "$(log_file nginx)" -p "$STACK/nginx" -c "$STACK/nginx/nginx.conf" -t -q \
    >>"$(log_file nginx)" 2>&1 || fail_service nginx "the generated nginx.conf is invalid"
  start_bg nginx nginx -e "$(log_file nginx)" -p "$STACK/nginx" -c "$STACK/nginx/nginx.conf"
}
