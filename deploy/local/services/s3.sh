# shellcheck shell=bash
# s3s-fs: the S3 API (checks SigV4 signatures) over plain files in $STACK/s3.
#
# A bucket is a directory under the root (s3s-fs lists and serves any directory whose name is a valid
# bucket name), so the bucket is made with mkdir. s3s-fs keeps its own sidecar files (.bucket-*.json,
# .upload-*, .tmp.*) in the root, beside the buckets, never inside them.

S3_BUCKET=funnyhat-media
S3_ACCESS_KEY=funnyhat
S3_SECRET_KEY=funnyhat-dev-secret

svc_s3_ports() { echo "$PORT_S3"; }
svc_s3_signature() {
  echo s3s-fs
  echo "--port $PORT_S3"
  echo "$STACK/s3"
}
# Unsigned requests get 403 "Signature is required": that means it is up.
svc_s3_health() { [[ "$(http_status "http://127.0.0.1:$PORT_S3/")" == 403 ]]; }

svc_s3_start() {
  command -v s3s-fs >/dev/null || die "s3: s3s-fs is not installed (run deploy/local/install)"
  mkdir -p "$STACK/s3/$S3_BUCKET"
  chmod 755 "$STACK/s3" "$STACK/s3/$S3_BUCKET"
  RUST_LOG="${S3_RUST_LOG:-info}" start_bg s3 s3s-fs --host 127.0.0.1 --port "$PORT_S3" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$STACK/s3"
}
