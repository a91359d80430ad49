#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Provision and run the servers the tests use, on a Debian 12 host as root, without Docker.
#
#   scripts/services.sh start [NAME...]   install what is missing, start the services (all by
#                                         default), print their export lines
#   scripts/services.sh stop [NAME...]    stop them (data is kept under $OPENDATA_SERVICES_DIR)
#   scripts/services.sh status [NAME...]  report each one; exit 3 if any is not running
#   scripts/services.sh env [NAME...]     print the export lines only: eval "$(scripts/services.sh env)"
#
# NAME is one of postgres, opensearch, redis, minio. Progress goes to stderr and export lines
# to stdout, so `eval "$(scripts/services.sh start)"` also works. Each service is four
# functions, start_NAME, stop_NAME, status_NAME and env_NAME, in scripts/services.d/NAME.sh,
# listed in SERVICES (and optionally prepare_NAME, which `start` calls before starting any, to
# begin a slow first step in the background). They install into the system but keep all data
# and logs in $OPENDATA_SERVICES_DIR (default /var/tmp/opendata-services), with what they build
# or assemble (beside the Maven and Go caches under ~root), so only the first start is slow:
# on a new machine about 12 minutes, most of it building MinIO; then seconds (OpenSearch ~25s).
set -euo pipefail

# Outside the checkout: the servers run as their own users, who may not reach a checkout
# under a private home folder (CI clones anywhere).
STATE_DIR=${OPENDATA_SERVICES_DIR:-/var/tmp/opendata-services}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Started in this order, stopped in reverse.
SERVICES=(postgres opensearch redis minio)

log() { echo "services: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

APT_UPDATED=
apt_install() {
    log "installing $* with apt-get"
    if [[ -z $APT_UPDATED ]]; then
        apt-get update -q >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

# Run as the service's own OS user (PostgreSQL refuses root), from a directory it can read.
run_as() {
    local user=$1
    shift
    (cd / && runuser -u "$user" -- "$@")
}

# A system user without a login for a server that has no Debian package to make one.
ensure_user() {
    id -u "$1" >/dev/null 2>&1 ||
        useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$1"
}

# spawn PIDFILE LOGFILE USER COMMAND...: start a server that does not daemonize itself, in the
# background as USER, appending its output to LOGFILE and its pid to PIDFILE. setsid puts it in
# a session of its own, so it outlives this script and the caller's terminal; the inner shell
# writes its own pid, then setpriv and the server replace it, so the pid is the server's.
# It returns once the pid file is written: a pid file left by a server that died with the
# machine must never be read as the new server's (wait_ready would take it as "exited").
spawn() {
    local pidfile=$1 logfile=$2 user=$3 deadline
    shift 3
    rm -f "$pidfile"
    # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
    (cd / && exec setsid sh -c 'echo $$ >"$0.new" && mv "$0.new" "$0" && exec "$@"' "$pidfile" \
        setpriv --reuid="$user" --regid="$user" --init-groups "$@" \
        </dev/null >>"$logfile" 2>&1 &)
    deadline=$((SECONDS + 10))
    until [[ -s $pidfile ]]; do
        ((SECONDS < deadline)) || die "no pid file $pidfile 10s after starting $*"
        sleep 0.1
    done
}

# pid_alive PIDFILE PATTERN: print the pid in PIDFILE if that process is alive and its command
# line contains PATTERN (so a pid reused by another program after a reboot is not taken).
pid_alive() {
    local pid cmdline
    [[ -f $1 ]] && pid=$(<"$1") && [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") && [[ $cmdline == *"$2"* ]] || return 1
    echo "$pid"
}

# stop_pid NAME PIDFILE PATTERN: SIGTERM the server, SIGKILL it if it is still there after 30s.
stop_pid() {
    local name=$1 pidfile=$2 pattern=$3 pid deadline
    if ! pid=$(pid_alive "$pidfile" "$pattern"); then
        log "$name not running"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill "$pid"
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$name did not stop in 30s; killing it"
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    rm -f "$pidfile"
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready NAME TIMEOUT LOGFILE PIDFILE PATTERN COMMAND...: wait until COMMAND succeeds. Fail
# with the last lines of LOGFILE when the server dies first or TIMEOUT seconds pass.
wait_ready() {
    local name=$1 timeout=$2 logfile=$3 pidfile=$4 pattern=$5 deadline
    shift 5
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ! pid_alive "$pidfile" "$pattern" >/dev/null; then
            tail -n 30 "$logfile" >&2
            die "$name exited while starting; see $logfile"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$logfile" >&2
            die "$name not ready after ${timeout}s; see $logfile"
        fi
        sleep 1
    done
}

# The services, one file each.
# shellcheck source=services.d/postgres.sh
source "$SCRIPT_DIR/services.d/postgres.sh"
# shellcheck source=services.d/opensearch.sh
source "$SCRIPT_DIR/services.d/opensearch.sh"
# shellcheck source=services.d/redis.sh
source "$SCRIPT_DIR/services.d/redis.sh"
# shellcheck source=services.d/minio.sh
source "$SCRIPT_DIR/services.d/minio.sh"

# --- commands ----------------------------------------------------------------------------------

main() {
    local command=${1:-} service name i failed=0
    local -a selected=()
    shift || true
    # The named services, in SERVICES order whatever order they were named in; all by default.
    if (($# == 0)); then
        selected=("${SERVICES[@]}")
    else
        for name in "$@"; do
            [[ " ${SERVICES[*]} " == *" $name "* ]] || die "unknown service '$name'; known: ${SERVICES[*]}"
        done
        for service in "${SERVICES[@]}"; do
            if [[ " $* " == *" $service "* ]]; then selected+=("$service"); fi
        done
    fi

    if [[ $command != env && $EUID -ne 0 ]]; then
        die "run as root: installs use apt-get and servers run as their own OS users"
    fi
    case $command in
    start)
        # A service with a slow first step (a build) may begin it now, in the background.
        for service in "${selected[@]}"; do
            if declare -F "prepare_$service" >/dev/null; then "prepare_$service"; fi
        done
        for service in "${selected[@]}"; do
            local started=$SECONDS
            "start_$service"
            log "$service: started in $((SECONDS - started))s"
        done
        for service in "${selected[@]}"; do "env_$service"; done
        ;;
    stop)
        for ((i = ${#selected[@]} - 1; i >= 0; i--)); do "stop_${selected[i]}"; done
        ;;
    status)
        for service in "${selected[@]}"; do "status_$service" || failed=1; done
        ((failed == 0)) || exit 3
        ;;
    env)
        for service in "${selected[@]}"; do "env_$service"; done
        ;;
    *)
        echo "usage: $0 start|stop|status|env [${SERVICES[*]}]..." >&2
        exit 2
        ;;
    esac
}

main "$@"
