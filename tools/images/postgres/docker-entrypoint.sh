#!/usr/bin/env bash
# The lab Postgres image's entrypoint: the behaviour of docker-library/postgres's docker-entrypoint.sh that
# the operator relies on (builders/postgres.py), written for Debian's packages. With `postgres` as the first
# argument and an empty $PGDATA it runs initdb (--username=$POSTGRES_USER, the password from
# $POSTGRES_PASSWORD through --pwfile, then $POSTGRES_INITDB_ARGS), appends `host all all all
# $POSTGRES_HOST_AUTH_METHOD` to pg_hba.conf, creates $POSTGRES_DB on a server that listens on the unix socket
# only, runs /docker-entrypoint-initdb.d/*.sh and *.sql, and then execs `postgres` with the arguments.
# Runs as any non-root uid that owns (or may create) $PGDATA; it never needs to write outside $PGDATA, the
# socket directory (/var/run/postgresql) and /tmp, so a read-only root filesystem is fine.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# `docker run image -c fsync=off` means `postgres -c fsync=off`, as in the official image.
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" != postgres ] || [ -n "${_PG_LAB_SKIP:-}" ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
    log "refusing to run the server as root: run as uid 70 (postgres), as the operator's pods do"
    exit 1
fi

: "${PGDATA:?PGDATA must name the data directory}"
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-}"
if [ -z "$POSTGRES_HOST_AUTH_METHOD" ]; then
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then POSTGRES_HOST_AUTH_METHOD=scram-sha-256; else POSTGRES_HOST_AUTH_METHOD=trust; fi
fi

mkdir -p "$PGDATA"
chmod 00700 "$PGDATA" 2>/dev/null || :

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        log "the database is uninitialized and POSTGRES_PASSWORD is empty: set it (or POSTGRES_HOST_AUTH_METHOD=trust)"
        exit 1
    fi
    log "initializing $PGDATA for role $POSTGRES_USER"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image.
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
        ${POSTGRES_INITDB_ARGS:-}
    # Before the first start, as upstream (pg_setup_hba_conf): TCP clients from anywhere, by password.
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
    # The server the init runs against listens on the unix socket only, with no password (as upstream).
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p ${PGPORT:-5432}" start >&2
    export PGPASSWORD="${POSTGRES_PASSWORD:-}"
    psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;' >&2
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # the image user's init scripts, sourced as upstream sources them.
        case "$f" in
            *.sh) log "running $f"; . "$f" ;;
            *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >&2 ;;
            *) if [ -e "$f" ]; then log "ignoring $f"; fi ;;
        esac
    done
    unset PGPASSWORD
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop >&2
    log "init done; starting the server"
fi

exec "$@"
