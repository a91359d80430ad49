# MinIO, sourced by scripts/services.sh: an S3 server on 127.0.0.1:9100 (console on 9101) with
# the bucket the tests use, data in $STATE_DIR/minio-data.
# shellcheck shell=bash
#
# MinIO publishes no Debian package and its binaries are on no registry we reach, so it is built
# from the Go module proxy with `go install` into $STATE_DIR/bin, once: that takes 8 to 13
# minutes on a new machine (about 1.2 GB of modules, then 5 minutes compiling them on 2 cores),
# which prepare_minio overlaps with the other services' starts. A start after that reuses the
# binary as long as it was built from MINIO_VERSION. The bucket is made with curl's own AWS
# Signature V4 signing, so no S3 client is needed here; tests may make more buckets.

# MinIO tags no module versions the proxy would list, so this is the pseudo-version of the
# newest commit it serves (`go list -m github.com/minio/minio@latest`); it needs Go 1.24+.
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_PORT=9100
MINIO_CONSOLE_PORT=9101
MINIO_USER=minio
MINIO_TEST_USER=opendata
MINIO_TEST_PASSWORD=opendata-secret
MINIO_BUCKET=opendata-test
MINIO_BIN=$STATE_DIR/bin/minio
MINIO_DIR=$STATE_DIR/minio
MINIO_DATA=$STATE_DIR/minio-data
MINIO_LOG=$STATE_DIR/minio.log
MINIO_BUILD_LOG=$STATE_DIR/minio-build.log
MINIO_PID=$MINIO_DIR/minio.pid
MINIO_READY_TIMEOUT=60

# The module version MINIO_BIN was built from, empty if there is none.
minio_built_version() {
    [[ -x $MINIO_BIN ]] || return 0
    go version -m "$MINIO_BIN" 2>/dev/null | awk '$1 == "mod" { print $3 }' || true
}

build_minio() {
    [[ $(minio_built_version) == "$MINIO_VERSION" ]] && return
    command -v go >/dev/null || die "building MinIO needs Go (1.24 or newer) on the PATH"
    mkdir -p "${MINIO_BIN%/*}"
    # One build at a time: a start that finds one under way (from prepare_minio, or left by an
    # earlier start that failed on another service) waits for it, then finds the binary built.
    local lock started=$SECONDS
    exec {lock}>"${MINIO_BIN%/*}/.minio-build.lock"
    flock "$lock"
    if [[ $(minio_built_version) != "$MINIO_VERSION" ]]; then
        log "building MinIO $MINIO_VERSION with go install (once; minutes; log: $MINIO_BUILD_LOG)"
        # GOTOOLCHAIN=local: fail plainly rather than fetch another Go if this one is too old.
        # -mod=mod: resolve the module's own dependencies from the proxy, whatever GOFLAGS says.
        # CGO_ENABLED=0 and -s -w, as MinIO's own release builds: a static binary, linked faster.
        if ! (cd / && GOBIN=${MINIO_BIN%/*} GOTOOLCHAIN=local CGO_ENABLED=0 \
            GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" \
            go install -ldflags="-s -w" "$MINIO_MODULE@$MINIO_VERSION") >"$MINIO_BUILD_LOG" 2>&1; then
            tail -n 30 "$MINIO_BUILD_LOG" >&2
            die "could not build MinIO $MINIO_VERSION; see $MINIO_BUILD_LOG"
        fi
        log "built MinIO in $((SECONDS - started))s"
    fi
    exec {lock}>&-
}

# Called before any service starts: when MinIO has to be built, build it in the background
# meanwhile, so that its minutes overlap the other services' starts. start_minio waits for it.
MINIO_BUILD_JOB=
prepare_minio() {
    [[ $(minio_built_version) == "$MINIO_VERSION" ]] && return
    build_minio &
    MINIO_BUILD_JOB=$!
}

minio_live() { curl -sf "http://127.0.0.1:$MINIO_PORT/minio/health/live" >/dev/null; }

# minio_s3 METHOD PATH: a request signed with AWS Signature V4 by curl itself; prints the
# HTTP status.
minio_s3() {
    curl -s -o /dev/null -w '%{http_code}' -X "$1" --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$MINIO_TEST_USER:$MINIO_TEST_PASSWORD" "http://127.0.0.1:$MINIO_PORT$2"
}

start_minio() {
    if [[ -n $MINIO_BUILD_JOB ]]; then
        wait "$MINIO_BUILD_JOB" || die "the MinIO build failed (see above)"
        MINIO_BUILD_JOB=
    fi
    build_minio
    ensure_user "$MINIO_USER"
    if pid_alive "$MINIO_PID" "$MINIO_BIN" >/dev/null; then
        log "minio already running on 127.0.0.1:$MINIO_PORT"
    else
        ! port_open "$MINIO_PORT" || die "another server already answers on 127.0.0.1:$MINIO_PORT"
        ! port_open "$MINIO_CONSOLE_PORT" ||
            die "another server already answers on 127.0.0.1:$MINIO_CONSOLE_PORT"
        install -d -o "$MINIO_USER" -g "$MINIO_USER" -m 750 "$MINIO_DIR" "$MINIO_DATA"
        touch "$MINIO_LOG"
        chown "$MINIO_USER:" "$MINIO_LOG"
        log "starting minio on 127.0.0.1:$MINIO_PORT, console on 127.0.0.1:$MINIO_CONSOLE_PORT (log: $MINIO_LOG)"
        # HOME: MinIO keeps TLS certificates under ~/.minio by default, and the minio user has
        # no home; --certs-dir points there too, and without any certificate it serves HTTP.
        spawn "$MINIO_PID" "$MINIO_LOG" "$MINIO_USER" env HOME="$MINIO_DIR" \
            MINIO_ROOT_USER="$MINIO_TEST_USER" MINIO_ROOT_PASSWORD="$MINIO_TEST_PASSWORD" \
            "$MINIO_BIN" server "$MINIO_DATA" --address "127.0.0.1:$MINIO_PORT" \
            --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --certs-dir "$MINIO_DIR/certs"
    fi
    wait_ready minio "$MINIO_READY_TIMEOUT" "$MINIO_LOG" "$MINIO_PID" "$MINIO_BIN" minio_live

    local status
    status=$(minio_s3 HEAD "/$MINIO_BUCKET")
    if [[ $status == 404 ]]; then
        status=$(minio_s3 PUT "/$MINIO_BUCKET")
        [[ $status == 200 ]] || die "minio: creating bucket $MINIO_BUCKET answered HTTP $status"
        log "minio: created bucket $MINIO_BUCKET"
    elif [[ $status != 200 ]]; then
        die "minio: checking bucket $MINIO_BUCKET answered HTTP $status"
    fi
    log "minio ready on 127.0.0.1:$MINIO_PORT, bucket $MINIO_BUCKET"
}

stop_minio() { stop_pid minio "$MINIO_PID" "$MINIO_BIN"; }

status_minio() {
    local version
    version=$(minio_built_version)
    if [[ -z $version ]]; then
        echo "minio: not built yet (run start)"
        return 1
    fi
    if ! pid_alive "$MINIO_PID" "$MINIO_BIN" >/dev/null; then
        echo "minio: stopped (data in $MINIO_DATA)"
        return 1
    fi
    if ! minio_live; then
        echo "minio: running but not answering on 127.0.0.1:$MINIO_PORT (log: $MINIO_LOG)"
        return 1
    fi
    echo "minio: running on 127.0.0.1:$MINIO_PORT (console 127.0.0.1:$MINIO_CONSOLE_PORT), $MINIO_MODULE $version, data in $MINIO_DATA"
}

env_minio() {
    echo "export OPENDATA_TEST_S3_ENDPOINT_URL=http://127.0.0.1:$MINIO_PORT" \
        "OPENDATA_TEST_S3_ACCESS_KEY_ID=$MINIO_TEST_USER" \
        "OPENDATA_TEST_S3_SECRET_ACCESS_KEY=$MINIO_TEST_PASSWORD" \
        "OPENDATA_TEST_S3_BUCKET=$MINIO_BUCKET"
}
