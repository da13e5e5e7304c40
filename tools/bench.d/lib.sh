# tools/bench.d/lib.sh: what the measuring scripts in tools/bench.d share (sourced, not run).
#
#   bench_init NAME       a fresh $TMP (/tmp/sluice-NAME.XXXXXX), PIDS=() and a trap that stops
#                         every PID in PIDS (last first, TERM then KILL) and removes $TMP on exit
#   stop_pid PID          TERM, up to 5 s for it to go, then KILL (a child of this shell is reaped)
#   die MESSAGE...        "NAME: error: MESSAGE" on stderr, exit 1
#   pick_port             PORT = a free TCP port in 20000..32767 not picked before
#   wait_port PORT PID [TRIES]   until PORT accepts (0.2 s per try, 100 tries), PID alive
#   start_backend         nginx, 1 worker, `return 200` with BODY (tools/bench's ~400-byte JSON)
#                         on 127.0.0.1:$BPORT; its PIDs go into PIDS
#
# Traffic goes to 127.0.0.1 only.

BODY='{"id":1042,"name":"Sluice benchmark payload","active":true,"score":98.6,"tags":["alpha","beta","gamma","delta"],"owner":{"id":42,"login":"bench","email":"bench@example.com","roles":["admin","user"]},"items":[{"sku":"A-1001","qty":2,"price":9.99},{"sku":"B-2002","qty":1,"price":19.5},{"sku":"C-3003","qty":5,"price":1.25}],"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-06-01T12:34:56Z","note":"fixed-size body"}'

bench_init() {
  BENCH_NAME=$1
  TMP="$(mktemp -d "/tmp/sluice-$1.XXXXXX")"
  chmod 755 "$TMP"
  PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local rc=$? i
  trap - EXIT
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  rm -rf "$TMP"
  exit "$rc"
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

die() { echo "${BENCH_NAME:-bench}: error: $*" >&2; exit 1; }

pick_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12768))
    [[ " ${USED:-} " == *" $p "* ]] && continue
    if [[ -z "$(ss -Hltn "sport = :$p")" ]]; then USED="${USED:-} $p"; PORT=$p; return; fi
  done
  die "no free port"
}

wait_port() {
  for _ in $(seq "${3:-100}"); do
    kill -0 "$2" 2>/dev/null || die "process $2 exited during start-up"
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  die "port $1 did not open"
}

start_backend() {
  pick_port
  BPORT=$PORT
  mkdir -p "$TMP/backend/tmp"
  cat >"$TMP/backend/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/backend/nginx.pid;
error_log $TMP/backend/error.log warn;
events { worker_connections 8192; }
http {
  access_log off; default_type application/json; keepalive_requests 1000000;
  client_body_temp_path $TMP/backend/tmp/body; proxy_temp_path $TMP/backend/tmp/proxy;
  fastcgi_temp_path $TMP/backend/tmp/fastcgi; uwsgi_temp_path $TMP/backend/tmp/uwsgi;
  scgi_temp_path $TMP/backend/tmp/scgi;
  server { listen 127.0.0.1:$BPORT; location / { return 200 '$BODY'; } }
}
EOF
  nginx -p "$TMP/backend" -e "$TMP/backend/error.log" -c "$TMP/backend/nginx.conf" -g 'daemon off;' &
  local master=$!
  PIDS+=("$master")
  wait_port "$BPORT" "$master"
  sleep 0.3
  # The worker too, so it is stopped even if the master is killed first.
  # shellcheck disable=SC2207
  PIDS+=($(ps -o pid= --ppid "$master"))
}
