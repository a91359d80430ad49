# PostgreSQL, sourced by scripts/services.sh: our own cluster on 127.0.0.1:54329, never the
# system one on 5432. Needs the helpers defined there (log, die, apt_install, run_as, STATE_DIR).
# shellcheck shell=bash

PG_LIB=/usr/lib/postgresql
PG_PORT=54329
PG_DATA=$STATE_DIR/postgres
PG_LOG=$STATE_DIR/postgres.log
PG_USER=opendata
PG_PASSWORD=opendata
PG_DATABASE=opendata_test
PG_READY_TIMEOUT=30

# Set PG_BIN to the server bin dir, or return 1 if no server is installed. An existing cluster
# needs the major version that created it; otherwise take the newest installed server.
# postgresql-client alone also creates a bin dir (psql, pg_dump, no initdb), so look for
# the server binaries themselves.
pg_find_bin() {
    local dir
    if [[ -f $PG_DATA/PG_VERSION ]]; then
        PG_BIN=$PG_LIB/$(<"$PG_DATA/PG_VERSION")/bin
        [[ -x $PG_BIN/postgres ]] ||
            die "$PG_DATA was made by PostgreSQL $(<"$PG_DATA/PG_VERSION"), which is not installed; install it or delete $PG_DATA"
        return
    fi
    for dir in $(printf "%s\n" "$PG_LIB"/*/bin | sort -rV); do
        if [[ -x $dir/initdb && -x $dir/postgres ]]; then
            PG_BIN=$dir
            return
        fi
    done
    return 1
}

install_postgres() {
    # The package would otherwise create and start a system cluster on 5432 that nothing uses.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = off" >/etc/postgresql-common/createcluster.d/opendata.conf
    apt_install postgresql
}

pg_running() { run_as postgres "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null; }

# psql as the superuser, over the cluster's own Unix socket (peer authentication).
pg_sql() {
    run_as postgres "$PG_BIN/psql" -h "$PG_DATA" -p "$PG_PORT" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -qtA "$@"
}

init_postgres() {
    log "creating a PostgreSQL cluster in $PG_DATA"
    install -d -o postgres -g postgres -m 700 "$PG_DATA"
    # The superuser logs in only as the postgres OS user over the socket; everything else,
    # the tests included, comes over loopback TCP with a password.
    run_as postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 --no-sync >/dev/null
    cat >>"$PG_DATA/postgresql.conf" <<EOF

# Set by scripts/services.sh.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DATA'
# Test data is throwaway: skip flushing to disk. After a host crash, delete $PG_DATA.
fsync = off
EOF
}

start_postgres() {
    pg_find_bin || {
        install_postgres
        pg_find_bin || die "no PostgreSQL server binaries under $PG_LIB after installing"
    }
    mkdir -p "$STATE_DIR"
    run_as postgres test -x "$STATE_DIR" ||
        die "the postgres user cannot reach $STATE_DIR; set OPENDATA_SERVICES_DIR to a folder it can reach"
    [[ -f $PG_DATA/PG_VERSION ]] || init_postgres

    if pg_running; then
        log "postgres already running on 127.0.0.1:$PG_PORT"
    else
        # Another checkout's cluster answering on our port would silently get our role and database.
        ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" ||
            die "another server already answers on 127.0.0.1:$PG_PORT"
        log "starting postgres on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
        touch "$PG_LOG"
        chown postgres: "$PG_LOG"
        run_as postgres "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -W >&2
    fi

    # Also covers a server that was already running but is still starting up or recovering.
    local deadline=$((SECONDS + PG_READY_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$PG_LOG" >&2
            die "postgres not accepting connections on 127.0.0.1:$PG_PORT after ${PG_READY_TIMEOUT}s; see $PG_LOG"
        fi
        sleep 0.5
    done

    pg_sql <<EOF
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
        CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
    END IF;
END \$\$;
EOF
    # CREATE DATABASE cannot run inside the DO block above.
    [[ $(pg_sql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'") == 1 ]] ||
        pg_sql -c "CREATE DATABASE $PG_DATABASE OWNER $PG_USER"
    log "postgres ready: database $PG_DATABASE, role $PG_USER"
}

stop_postgres() {
    if pg_find_bin && pg_running; then
        run_as postgres "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast >&2
    else
        log "postgres not running"
    fi
}

status_postgres() {
    if ! pg_find_bin; then
        echo "postgres: not installed"
        return 1
    fi
    if [[ ! -f $PG_DATA/PG_VERSION ]]; then
        echo "postgres: no cluster yet (run start)"
        return 1
    fi
    if ! pg_running; then
        echo "postgres: stopped (data in $PG_DATA)"
        return 1
    fi
    echo "postgres: running on 127.0.0.1:$PG_PORT, PostgreSQL $(<"$PG_DATA/PG_VERSION"), data in $PG_DATA"
}

env_postgres() {
    echo "export OPENDATA_TEST_DATABASE_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE"
}
