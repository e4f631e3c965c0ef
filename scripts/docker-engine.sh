#!/usr/bin/env bash
# docker-engine.sh start|stop|status|env — a private Docker engine (Debian docker.io 20.10 +
# containerd 1.6) for local image builds and cibuildwheel runs, with no systemd.
#
# Everything lives outside any project folder:
#   ${WHEEL_MATRIX_DOCKER_ROOT:-/var/lib/wheel-matrix-docker}/{data,containerd,etc,log}   persistent (images!)
#   ${WHEEL_MATRIX_DOCKER_RUN:-/run/wheel-matrix-docker}/{exec,containerd,*.pid}            runtime state
#   socket unix://${WHEEL_MATRIX_DOCKER_SOCK:-/run/wheel-matrix-docker.sock}
# The host network is untouched: no docker0 bridge, no iptables rules, no ip_forward;
# containers run with --network=none or --network=host.
#
# Use the engine with:  eval "$(scripts/docker-engine.sh env)"   (exports DOCKER_HOST and DOCKER)
set -euo pipefail

ROOT=${WHEEL_MATRIX_DOCKER_ROOT:-/var/lib/wheel-matrix-docker}
RUN=${WHEEL_MATRIX_DOCKER_RUN:-/run/wheel-matrix-docker}
SOCK=${WHEEL_MATRIX_DOCKER_SOCK:-/run/wheel-matrix-docker.sock}
CTD_SOCK=$RUN/containerd/containerd.sock
DOCKERD_PID=$RUN/dockerd.pid
CTD_PID=$RUN/containerd.pid
# Debian's client 20.10 (builds with BuildKit via DOCKER_BUILDKIT=1); /usr/local/bin/docker
# (28.x) has no buildx plugin, but works for everything else (run/create/cp/inspect).
CLIENT=/usr/bin/docker
export DOCKER_HOST=unix://$SOCK

log() { printf '[docker-engine] %s\n' "$*" >&2; }

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_if_missing() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x $CLIENT ]] || missing+=(docker.io)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt)"
    [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit) ]] || apt-get update -qq
    # policy-rc.d on this machine stops the package from starting a daemon itself.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

write_configs() {
  mkdir -p "$ROOT"/{data,containerd,etc,log} "$RUN"/{exec,containerd}
  cat >"$ROOT/etc/containerd.toml" <<EOF
version = 2
root = "$ROOT/containerd"
state = "$RUN/containerd"
# dockerd only needs the core services; CRI (kubernetes) is not wanted here.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTD_SOCK"
[debug]
  level = "warn"
EOF
  # An explicit (empty) config file, so /etc/docker/daemon.json never leaks in.
  echo '{}' >"$ROOT/etc/daemon.json"
}

wait_for() { # wait_for SECONDS DESC CMD...
  local t=$1 desc=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { log "timed out after ${t}s waiting for $desc"; return 1; }
    sleep 0.2
  done
}

start() {
  install_if_missing
  if alive "$DOCKERD_PID"; then log "already running (dockerd pid $(cat "$DOCKERD_PID"))"; return 0; fi
  write_configs
  local t0=$SECONDS
  if ! alive "$CTD_PID"; then
    rm -f "$CTD_SOCK"
    setsid containerd --config "$ROOT/etc/containerd.toml" \
      </dev/null >>"$ROOT/log/containerd.log" 2>&1 &
    echo $! >"$CTD_PID"
    wait_for 30 containerd test -S "$CTD_SOCK" || { tail -20 "$ROOT/log/containerd.log" >&2; exit 1; }
  fi
  rm -f "$SOCK"
  setsid dockerd \
    --config-file "$ROOT/etc/daemon.json" \
    --host "unix://$SOCK" \
    --containerd "$CTD_SOCK" \
    --data-root "$ROOT/data" \
    --exec-root "$RUN/exec" \
    --pidfile "$RUN/dockerd.daemon.pid" \
    --storage-driver overlay2 \
    --bridge none --iptables=false --ip-forward=false --ip-masq=false \
    --log-level warn \
    </dev/null >>"$ROOT/log/dockerd.log" 2>&1 &
  echo $! >"$DOCKERD_PID"
  if ! wait_for 60 "docker info" "$CLIENT" info; then
    tail -30 "$ROOT/log/dockerd.log" >&2; exit 1
  fi
  log "up in $((SECONDS - t0))s: containerd pid $(cat "$CTD_PID"), dockerd pid $(cat "$DOCKERD_PID"), DOCKER_HOST=$DOCKER_HOST"
}

stop_pid() { # stop_pid PIDFILE NAME
  local f=$1 name=$2 pid
  [[ -f $f ]] || { log "$name: no pid file"; return 0; }
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local end=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then log "$name ($pid) ignored TERM, KILL"; kill -KILL "$pid"; fi
    log "$name ($pid) stopped"
  else
    log "$name: pid $pid not running"
  fi
  rm -f "$f"
}

stop() {
  if alive "$DOCKERD_PID"; then
    local running
    running=$("$CLIENT" ps -q 2>/dev/null || true)
    if [[ -n $running ]]; then log "stopping containers: $(echo $running)"; "$CLIENT" stop -t 5 $running >/dev/null || true; fi
  fi
  stop_pid "$DOCKERD_PID" dockerd
  stop_pid "$CTD_PID" containerd
  # Leftover shims of *this* containerd (they reparent to init): by PID, never by name.
  local p
  for p in $(pgrep -f "containerd-shim.*-address $CTD_SOCK" || true); do
    log "killing leftover shim $p"; kill -TERM "$p" 2>/dev/null || true
  done
  rm -f "$SOCK"
}

status() {
  local rc=0
  if alive "$CTD_PID"; then echo "containerd: running (pid $(cat "$CTD_PID"))"; else echo "containerd: stopped"; rc=1; fi
  if alive "$DOCKERD_PID"; then echo "dockerd:    running (pid $(cat "$DOCKERD_PID"))"; else echo "dockerd:    stopped"; rc=1; fi
  echo "DOCKER_HOST=$DOCKER_HOST  client=$CLIENT  data-root=$ROOT/data"
  if ((rc == 0)); then
    "$CLIENT" version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}' || rc=1
    "$CLIENT" images
    du -sh "$ROOT" 2>/dev/null || true
  fi
  return $rc
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST DOCKER=$CLIENT DOCKER_BUILDKIT=1" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
