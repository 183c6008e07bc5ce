#!/bin/sh
# A throwaway PostgreSQL cluster for the tests (CTest fixture "postgres").
#   scripts/pg-test.sh start DIR        initdb into DIR/data, start it on a free loopback
#                                       port (socket in DIR), create database "stampd",
#                                       write its DSN to DIR/dsn and print it on stdout
#   scripts/pg-test.sh createdb DSNFILE create one more, empty database on the cluster
#                                       whose DSN is in DSNFILE; print its DSN
#   scripts/pg-test.sh stop DIR         pg_ctl stop -m fast, then remove DIR
# initdb refuses to run as root: as root the cluster runs as the postgres user
# (runuser), otherwise as the current user. The cluster trusts local connections
# and runs with fsync off: it holds test data only and never outlives the run
# (PG_TEST_FSYNC=on: fsync and full-page writes on, as bench/run.sh measures;
# PG_TEST_OPTS: more server options, e.g. "-c shared_preload_libraries=pg_stat_statements").
set -eu

die() {
    echo "pg-test: $*" >&2
    exit 1
}

bindir() {
    for d in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
            echo "$d"
            return 0
        fi
    done
    die "no PostgreSQL server under /usr/lib/postgresql/*/bin (install the postgresql package)"
}

# Run a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A port in 20000..59999 from /dev/urandom (sh has no $RANDOM).
random_port() {
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo $((20000 + n % 40000))
}

cmd_stop() {
    dir=$1
    [ -d "$dir" ] || return 0
    home=$dir
    [ -f "$dir/home" ] && home=$(cat "$dir/home")
    if [ -f "$home/data/postmaster.pid" ]; then
        as_owner "$(bindir)/pg_ctl" -D "$home/data" -m fast -w stop >/dev/null 2>&1 ||
            echo "pg-test: pg_ctl stop failed (see $home/log)" >&2
    fi
    [ "$home" != "$dir" ] && rm -rf "$home"
    if [ -f "$dir/sockdir" ]; then
        rm -rf "$(cat "$dir/sockdir")"
    fi
    rm -rf "$dir"
}

cmd_start() {
    dir=$1
    bin=$(bindir)
    cmd_stop "$dir" # a cluster left over from an interrupted run
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # A Unix socket path is limited to 107 bytes: long build paths get one under /tmp.
    sock=$dir
    if [ ${#dir} -gt 80 ]; then
        sock=$(mktemp -d /tmp/stampd-pg.XXXXXX)
        echo "$sock" >"$dir/sockdir"
    fi
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "user postgres does not exist (install the postgresql package)"
        chown postgres "$dir" "$sock"
    fi
    # The cluster runs as postgres, which may not reach DIR (a checkout under
    # /root, a 0700 parent): then it lives in a directory of its own under /tmp.
    home=$dir
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -w "$dir"; then
        home=$(mktemp -d /tmp/stampd-pg.XXXXXX)
        chmod 755 "$home"
        chown postgres "$home"
        echo "$home" >"$dir/home"
        [ "$sock" = "$dir" ] && sock=$home
    fi
    as_owner "$bin/initdb" -D "$home/data" -A trust -U postgres -E UTF8 --locale=C \
        >"$home/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$home/initdb.log")"

    tries=0
    while :; do
        port=$(random_port)
        if as_owner "$bin/pg_ctl" -D "$home/data" -l "$home/log" -w -t 30 \
            -o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c fsync=${PG_TEST_FSYNC:-off} -c full_page_writes=${PG_TEST_FSYNC:-off} -c max_connections=200${PG_TEST_OPTS:+ $PG_TEST_OPTS}" \
            start >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        # A taken port is the likely cause; anything else shows in the log.
        [ $tries -lt 10 ] || die "the server did not start: $(tail -n 5 "$home/log" 2>/dev/null)"
    done

    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "CREATE DATABASE stampd" >/dev/null || die "cannot create the database"
    dsn="postgres://postgres@127.0.0.1:$port/stampd"
    echo "$dsn" >"$dir/dsn"
    echo "$dsn"
}

cmd_createdb() {
    file=$1
    [ -r "$file" ] || die "no DSN file $file (is the cluster started?)"
    dsn=$(cat "$file")
    base=${dsn%/*}
    name=t_$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
    "$(bindir)/psql" -X -q -v ON_ERROR_STOP=1 -d "$dsn" -c "CREATE DATABASE $name" >/dev/null ||
        die "cannot create a database"
    echo "$base/$name"
}

[ $# -eq 2 ] || die "usage: pg-test.sh start DIR | stop DIR | createdb DSNFILE"
case $1 in
start) cmd_start "$2" ;;
stop) cmd_stop "$2" ;;
createdb) cmd_createdb "$2" ;;
*) die "usage: pg-test.sh start DIR | stop DIR | createdb DSNFILE" ;;
esac
