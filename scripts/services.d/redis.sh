# Redis, sourced by scripts/services.sh: a private instance on 127.0.0.1:6380 from Debian's
# redis-server, never the system one on 6379. Nothing is persisted: a restart starts empty.
# shellcheck shell=bash

REDIS_PORT=6380
REDIS_DIR=$STATE_DIR/redis
REDIS_LOG=$STATE_DIR/redis.log
REDIS_PID=$REDIS_DIR/redis.pid
REDIS_READY_TIMEOUT=30

install_redis() {
    # The package's postinst would start the system instance on 6379, which nothing here uses;
    # a policy-rc.d that refuses it stops that (unless the image already has its own policy).
    local policy=/usr/sbin/policy-rc.d ours=
    if [[ ! -e $policy ]]; then
        cat >"$policy" <<'EOF'
#!/bin/sh
# Left by scripts/services.sh while it installs redis-server; removed right after.
[ "$1" = redis-server ] && exit 101
exit 0
EOF
        chmod 755 "$policy"
        ours=1
    fi
    apt_install redis-server || {
        [[ -z $ours ]] || rm -f "$policy"
        die "could not install redis-server"
    }
    [[ -z $ours ]] || rm -f "$policy"
}

redis_ping() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

start_redis() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        install_redis
    fi
    if pid_alive "$REDIS_PID" redis-server >/dev/null; then
        log "redis already running on 127.0.0.1:$REDIS_PORT"
    else
        ! port_open "$REDIS_PORT" || die "another server already answers on 127.0.0.1:$REDIS_PORT"
        install -d -o redis -g redis -m 750 "$REDIS_DIR"
        touch "$REDIS_LOG"
        chown redis: "$REDIS_LOG"
        cat >"$REDIS_DIR/redis.conf" <<EOF
# Written by scripts/services.sh at each start: edit that instead.
bind 127.0.0.1
port $REDIS_PORT
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_LOG
dir $REDIS_DIR
# Test data only: no RDB snapshots, no append-only file.
save ""
appendonly no
EOF
        log "starting redis on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
        # daemonize: the server forks, writes REDIS_PID and the parent returns at once.
        run_as redis redis-server "$REDIS_DIR/redis.conf" ||
            die "redis-server would not start; see $REDIS_LOG"
    fi
    local deadline=$((SECONDS + REDIS_READY_TIMEOUT))
    until redis_ping; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$REDIS_LOG" >&2
            die "redis not answering on 127.0.0.1:$REDIS_PORT after ${REDIS_READY_TIMEOUT}s; see $REDIS_LOG"
        fi
        sleep 0.5
    done
    log "redis ready on 127.0.0.1:$REDIS_PORT"
}

stop_redis() { stop_pid redis "$REDIS_PID" redis-server; }

status_redis() {
    if ! command -v redis-server >/dev/null; then
        echo "redis: not installed"
        return 1
    fi
    if ! pid_alive "$REDIS_PID" redis-server >/dev/null; then
        echo "redis: stopped"
        return 1
    fi
    if ! redis_ping; then
        echo "redis: running but not answering on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
        return 1
    fi
    echo "redis: running on 127.0.0.1:$REDIS_PORT, $(redis-server --version | cut -d' ' -f1-3)"
}

env_redis() {
    echo "export OPENDATA_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}
