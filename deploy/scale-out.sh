#!/usr/bin/env bash
# Several stateless hosts behind one Redis: the scale-out path of Ticketshare.
#
# Starts a redis-server (append-only file, fsync every second) and N
# `ticketshare-host up` processes on consecutive ports, all with the same
# runtime config pointing the `default` key-value store at that Redis, and
# waits; Ctrl-C (or SIGTERM) stops them all. Put a load balancer in front
# (deploy/nginx.conf, deploy/Caddyfile): any request may go to any host,
# since sessions, API keys, tickets, ETags and live markers are all in Redis.
#
#   SPIN_VARIABLE_ADMIN_TOKEN=... deploy/scale-out.sh [N]
#
# Environment (defaults in brackets):
#   HOSTS        number of hosts [N, else 2]
#   BASE_PORT    first host's port; the others follow [3001]
#   LISTEN_IP    address the hosts listen on [127.0.0.1]
#   REDIS_PORT   Redis port [6379]
#   REDIS_URL    use this Redis instead of starting one (e.g. a managed one)
#   DATA_DIR     Redis data and the generated runtime config [.spin/scale-out]
#   HOST_BIN     the host binary [target/release/ticketshare-host; run
#                `cargo xtask build` first]
#   MANIFEST     the app's manifest [spin.toml]
#   FLUSH_EVERY  how often the first host retries due webhook deliveries for
#                the whole deployment (`--flush-webhooks-every`) [30s; ""
#                for none, when a cron job does it]
#   SPIN_VARIABLE_ADMIN_TOKEN (required) and any other SPIN_VARIABLE_* are
#   passed to every host; extra host flags go after `--`:
#     deploy/scale-out.sh 3 -- --access-log --variable public_origin=https://t.example.com
set -euo pipefail

cd "$(dirname "$0")/.."
HOSTS="${HOSTS:-2}"
if [[ $# -gt 0 && "$1" != "--" ]]; then HOSTS="$1"; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi
BASE_PORT="${BASE_PORT:-3001}"
LISTEN_IP="${LISTEN_IP:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
DATA_DIR="${DATA_DIR:-.spin/scale-out}"
HOST_BIN="${HOST_BIN:-target/release/ticketshare-host}"
MANIFEST="${MANIFEST:-spin.toml}"

[[ "$HOSTS" =~ ^[1-9][0-9]*$ ]] || { echo "scale-out: N must be a number above 0, not '$HOSTS'" >&2; exit 2; }
[[ -n "${SPIN_VARIABLE_ADMIN_TOKEN:-}" ]] || { echo "scale-out: set SPIN_VARIABLE_ADMIN_TOKEN (the token that creates workspaces)" >&2; exit 2; }
[[ -x "$HOST_BIN" ]] || { echo "scale-out: no host at $HOST_BIN: run 'cargo xtask build' or set HOST_BIN" >&2; exit 2; }
FLUSH_EVERY="${FLUSH_EVERY-30s}"
# The generated runtime config may name a Redis password: only we read it.
umask 077
mkdir -p "$DATA_DIR"

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

if [[ -z "${REDIS_URL:-}" ]]; then
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "scale-out: something already answers on port $REDIS_PORT: set REDIS_PORT, or REDIS_URL to use it" >&2
    exit 2
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA_DIR" \
    --appendonly yes --appendfsync everysec --save "" >"$DATA_DIR/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$REDIS_PORT" ping >/dev/null || { echo "scale-out: redis-server did not start (see $DATA_DIR/redis.log)" >&2; exit 1; }
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
fi

rc="$DATA_DIR/runtime-config.toml"
cat >"$rc" <<TOML
[key_value_store.default]
type = "redis"
url = "$REDIS_URL"

[outbound_networking]
block_networks = ["private"]
TOML

for i in $(seq 0 $((HOSTS - 1))); do
  port=$((BASE_PORT + i))
  # Each host gets its own state dir (its logs); the data is in Redis. One
  # host retries webhook deliveries for everyone (any number may: a
  # delivery is claimed before it is sent).
  flush=()
  if [[ $i -eq 0 && -n "$FLUSH_EVERY" ]]; then flush=(--flush-webhooks-every "$FLUSH_EVERY"); fi
  "$HOST_BIN" up --from "$MANIFEST" --listen "$LISTEN_IP:$port" \
    --state-dir "$DATA_DIR/host-$i" --runtime-config-file "$rc" "${flush[@]}" "$@" &
  pids+=($!)
done
echo "scale-out: $HOSTS host(s) on $LISTEN_IP:$BASE_PORT..$LISTEN_IP:$((BASE_PORT + HOSTS - 1)) over $REDIS_URL; Ctrl-C stops them"
wait -n "${pids[@]}" || true
echo "scale-out: a process exited; stopping the others" >&2
exit 1
