#!/usr/bin/env bash
# The local Academy stack behind `make up` / `make down`:
#   Prefect server + UI (:4200), the `academy-process` work pool, every deployment in prefect.yaml,
#   one process worker, the MLflow UI on the registry's SQLite store (:5000) and the router (:8000),
#   which also serves the live dashboard at /dashboard.
# Everything binds to 127.0.0.1 and runs in the background in its own process group; logs and pid
# files live under <paths.home>/stack/ (.academy/stack/). Prefect's own database and profile live
# under <paths.home>/prefect/ (PREFECT_HOME), so the stack never touches ~/.prefect.
#
#   scripts/stack.sh up       start what is not running yet (safe to repeat), then print the URLs
#   scripts/stack.sh down     stop everything `up` started (safe when nothing runs)
#   scripts/stack.sh status   what runs, with pids and URLs
#
# Ports: PREFECT_PORT (4200), MLFLOW_PORT (5000), ROUTER_PORT (server.port in academy.yaml).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
HOST=127.0.0.1
SERVICES=(prefect-server prefect-worker mlflow router)

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PREFECT_SERVER_ANALYTICS_ENABLED=false

die() { echo "stack: $*" >&2; exit 1; }
[[ -x "$BIN/python" ]] || die "no virtualenv at .venv (run 'make install' first)"

# Paths and ports from academy.yaml (ACADEMY_CONFIG is honoured), so the stack and the CLI agree.
settings="$("$BIN/python" - <<'EOF'
import shlex
from academy.config import load_config

cfg = load_config()
home = cfg.paths.home.resolve()
for key, value in {
    "ACADEMY_HOME": home,
    "TRACKING_URI": cfg.registry.resolved_tracking_uri(cfg.paths.home),
    "ARTIFACT_URI": cfg.registry.resolved_artifact_location(cfg.paths.home),
    "CONFIG_PORT": cfg.server.port,
    "EXPERIMENT": cfg.registry.experiment,
    # profile: cluster names a Prefect server elsewhere and the work pool to use (academy/config/deployment.py).
    "PROFILE_PREFECT_API_URL": cfg.prefect_api_url,
    "WORK_POOL": cfg.work_pool,
    # "name<TAB>dir" per hf student on local disk: the router needs them to exist.
    "STUDENTS": "\n".join(
        f"{m.name}\t{cfg.paths.resolve(m.options.get('path', f'students/{m.name}')).resolve()}"
        for m in cfg.models
        if m.backend == "hf" and not str(m.options.get("path", "")).startswith("models:/")
    ),
}.items():
    print(f"{key}={shlex.quote(str(value))}")
EOF
)" || die "could not read the config (academy.yaml or ACADEMY_CONFIG)"
eval "$settings"

PREFECT_PORT="${PREFECT_PORT:-4200}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
ROUTER_PORT="${ROUTER_PORT:-$CONFIG_PORT}"
STACK="$ACADEMY_HOME/stack"
export PREFECT_HOME="$ACADEMY_HOME/prefect"
# The cluster profile's Prefect API (cluster.prefect_api_url) when set, else the local server's.
export PREFECT_API_URL="${PROFILE_PREFECT_API_URL:-http://$HOST:$PREFECT_PORT/api}"
export ACADEMY_REPO="$ROOT"  # prefect.yaml's pull step: flow runs start in the repo root
POOL="$WORK_POOL"  # academy-process, or cluster.work_pool under the cluster profile

# cluster.prefect_api_url names a Prefect server elsewhere: no local one is started.
remote_prefect() { [[ -n "$PROFILE_PREFECT_API_URL" ]]; }

# registry.tracking_uri names an MLflow server elsewhere: its UI is that server's.
remote_tracking() { [[ "$TRACKING_URI" =~ ^(https?|databricks): ]]; }

pidfile() { echo "$STACK/$1.pid"; }

# The pid of a running service, or nothing (a stale pid file is removed).
running_pid() {
  local file pid
  file="$(pidfile "$1")"
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
  else
    rm -f "$file"
  fi
}

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# start NAME PORT CMD...: run CMD in its own session (pid == process group id) with its log.
start() {
  local name="$1" port="$2"
  shift 2
  if [[ -n "$(running_pid "$name")" ]]; then
    echo "  $name: already running (pid $(running_pid "$name"))"
    return 0
  fi
  if [[ -n "$port" ]] && port_busy "$port"; then
    die "$name: port $port on $HOST is taken by a process this script did not start (set another port, see the header)"
  fi
  echo "  $name: starting (log $STACK/$name.log)"
  setsid "$@" >>"$STACK/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

# wait_http NAME URL SECONDS: until URL answers 2xx, or fail with the log's tail.
wait_http() {
  local name="$1" url="$2" seconds="$3" i
  for ((i = 0; i < seconds; i++)); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    if [[ -z "$(running_pid "$name")" ]]; then
      tail -n 30 "$STACK/$name.log" >&2 || true
      die "$name exited during start-up (log: $STACK/$name.log)"
    fi
    sleep 1
  done
  tail -n 30 "$STACK/$name.log" >&2 || true
  die "$name did not answer $url within ${seconds}s (log: $STACK/$name.log)"
}

urls() {
  cat <<EOF

  Prefect UI   http://$HOST:$PREFECT_PORT          (deployments, flow runs, artifacts)
  MLflow UI    $(remote_tracking && echo "$TRACKING_URI" || echo "http://$HOST:$MLFLOW_PORT")          (experiment $EXPERIMENT; Models -> registered students)
  Router       http://$HOST:$ROUTER_PORT/v1       (OpenAI-compatible; health: /health)
  Dashboard    http://$HOST:$ROUTER_PORT/dashboard  (the school, live; once API keys exist: append ?key=<admin key>)

  CLI against this server:  export PREFECT_API_URL=$PREFECT_API_URL
  Logs and pids:            $STACK/
EOF
}

up() {
  mkdir -p "$STACK" "$PREFECT_HOME"

  # Fail before starting anything if a port we need is taken by something we did not start.
  local service port
  for service in prefect-server:$PREFECT_PORT mlflow:$MLFLOW_PORT router:$ROUTER_PORT; do
    port="${service#*:}"
    service="${service%%:*}"
    if [[ $service == mlflow ]] && remote_tracking; then continue; fi
    if [[ $service == prefect-server ]] && remote_prefect; then continue; fi
    if [[ -z "$(running_pid "$service")" ]] && port_busy "$port"; then
      die "$service: port $port on $HOST is taken by a process this script did not start (set another port, see the header)"
    fi
  done

  # The router serves the configured hf students; create any that is missing (first run only).
  local name dir
  while IFS=$'\t' read -r name dir; do
    if [[ -n "$name" && ! -d "$dir" ]]; then
      echo "  student $name missing: creating it with 'academy student init --name $name' (a minute or more: it trains a warm start)..."
      "$BIN/academy" student init --name "$name"
    fi
  done <<<"$STUDENTS"

  if remote_prefect; then
    echo "  prefect-server: not started (cluster.prefect_api_url is $PREFECT_API_URL)"
    curl -fsS -o /dev/null --max-time 10 "$PREFECT_API_URL/health" ||
      die "the cluster profile's Prefect API $PREFECT_API_URL does not answer /health"
  else
    start prefect-server "$PREFECT_PORT" "$BIN/prefect" server start --host "$HOST" --port "$PREFECT_PORT"
    wait_http prefect-server "$PREFECT_API_URL/health" 120
  fi

  if ! "$BIN/prefect" work-pool inspect "$POOL" >/dev/null 2>&1; then
    echo "  work pool $POOL: creating (type process)"
    "$BIN/prefect" work-pool create "$POOL" --type process >/dev/null
  fi

  # `deploy --all` ignores --pool, so another pool (cluster.work_pool) gets a copy of prefect.yaml.
  local project=prefect.yaml
  if [[ "$POOL" != academy-process ]]; then
    project="$STACK/prefect.yaml"
    sed "s/name: academy-process\$/name: $POOL/" prefect.yaml >"$project"
  fi
  echo "  deployments: prefect deploy --all on pool $POOL (log $STACK/deploy.log)"
  if ! "$BIN/prefect" --no-prompt deploy --all --prefect-file "$project" >"$STACK/deploy.log" 2>&1; then
    tail -n 30 "$STACK/deploy.log" >&2
    die "prefect deploy --all failed (log: $STACK/deploy.log)"
  fi

  # One flow run at a time: the nightly cycle trains models on this machine's CPU.
  start prefect-worker "" "$BIN/prefect" worker start --pool "$POOL" --type process --name academy-worker --limit 1

  if remote_tracking; then
    echo "  mlflow: not started (registry.tracking_uri is a tracking server: $TRACKING_URI)"
  else
    start mlflow "$MLFLOW_PORT" "$BIN/mlflow" server --host "$HOST" --port "$MLFLOW_PORT" --workers 1 \
      --backend-store-uri "$TRACKING_URI" --default-artifact-root "$ARTIFACT_URI"
  fi
  start router "$ROUTER_PORT" "$BIN/academy" serve --host "$HOST" --port "$ROUTER_PORT"

  remote_tracking || wait_http mlflow "http://$HOST:$MLFLOW_PORT/health" 120
  wait_http router "http://$HOST:$ROUTER_PORT/health" 180
  [[ -n "$(running_pid prefect-worker)" ]] || die "prefect-worker exited (log: $STACK/prefect-worker.log)"

  echo "Academy stack is up."
  urls
}

# The pids of PID's descendants (flow-run processes may sit in process groups of their own).
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

# alive PID...: true while any of them (or PID 1's process group) still exists.
alive() {
  local pid
  kill -0 -- "-$1" 2>/dev/null && return 0
  for pid in "$@"; do
    kill -0 "$pid" 2>/dev/null && return 0
  done
  return 1
}

# signal SIG PID...: SIG to the first pid's process group and to every pid given.
signal() {
  local sig="$1" pid
  shift
  kill "-$sig" -- "-$1" 2>/dev/null || true
  for pid in "$@"; do
    kill "-$sig" "$pid" 2>/dev/null || true
  done
}

# stop NAME: TERM the service's process group and descendants; TERM again after 5 s (the Prefect
# worker only starts a graceful shutdown on the first one and exits on the second), KILL after 10 s.
stop() {
  local name="$1" pid pids i
  pid="$(running_pid "$name")"
  if [[ -z "$pid" ]]; then
    echo "  $name: not running"
    return 0
  fi
  # shellcheck disable=SC2207
  pids=("$pid" $(descendants "$pid"))
  signal TERM "${pids[@]}"
  for ((i = 1; i <= 20; i++)); do
    alive "${pids[@]}" || break
    sleep 0.5
    if ((i == 10)); then signal TERM "${pids[@]}"; fi
  done
  if alive "${pids[@]}"; then
    signal KILL "${pids[@]}"
    echo "  $name: killed (pid $pid)"
  else
    echo "  $name: stopped (pid $pid)"
  fi
  rm -f "$(pidfile "$name")"
}

down() {
  # Worker first, so it does not pick up a run while the server goes away.
  local name
  for name in router mlflow prefect-worker prefect-server; do
    stop "$name"
  done
}

status() {
  local name pid any=0
  for name in "${SERVICES[@]}"; do
    pid="$(running_pid "$name")"
    if [[ -n "$pid" ]]; then
      echo "  $name: running (pid $pid)"
      any=1
    else
      echo "  $name: stopped"
    fi
  done
  if ((any)); then urls; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: scripts/stack.sh up|down|status" ;;
esac
