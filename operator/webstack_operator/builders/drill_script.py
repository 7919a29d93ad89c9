"""The restore drill's client script: restore the newest dump into the scratch Postgres and check it.

POSIX sh with the Postgres image's own tools (psql, pg_restore, pg_isready), so the drill needs nothing the
database's image lacks. It reads the newest line of `dumps.manifest` (builders/dump.py), restores that dump
into the scratch database, and checks what a restore must give back:
- the schema version (`max(version)` of `schema_migrations`) equals the app's, read from the live database;
- every table's row count equals the dump's (the data lines of its `COPY` section);
- a sample of rows (the first `SAMPLE_ROWS` in byte order) read back equals the dump's same rows;
and records each table's rows and an md5 of its sorted rows.

The verdict is one JSON line in the termination message (`/dev/termination-log`, at most 4 KiB), which the
operator reads from the pod: `result`, `reason`, `message`, and what is known (`dump`, `dumpTime`,
`checkedAt`, `schemaVersion`, `tables`). The exit status says the same (0: the restored database passed).
Messages never hold a password: the two passwords stay in the environment (libpq reads PGPASSWORD).
"""

DRILL_SCRIPT = r"""set -u
export LC_ALL=C
dir="${BACKUP_DIR:?}"
tmp="${TMPDIR:-/tmp}"
extra=""
verdict() {
    message="$(printf '%s' "$3" | tr -d '"\\' | tr '\n\t' '  ' | cut -c1-600)"
    printf '{"result":"%s","reason":"%s","message":"%s"%s}\n' "$1" "$2" "$message" "$extra" \
        > "${VERDICT_FILE:-/dev/termination-log}"
    echo "drill: $1 ($2): $message"
    [ "$1" = Succeeded ] && exit 0
    exit 1
}
fail() { verdict Failed "$1" "$2"; }
scratch() {
    PGHOST="$SCRATCH_HOST" PGPORT="${SCRATCH_PORT:-5432}" PGUSER=drill PGDATABASE=drill \
        PGPASSWORD="$SCRATCH_PASSWORD" "$@"
}
live_psql() {
    if [ -n "${DATABASE_URL:-}" ]; then psql -XAtq "$DATABASE_URL" "$@"; else psql -XAtq "$@"; fi
}
live_ready() {  # a NetworkPolicy agent may admit a new pod's address only after a while
    waited=0
    until if [ -n "${DATABASE_URL:-}" ]; then pg_isready --quiet --timeout=5 -d "$DATABASE_URL"
          else pg_isready --quiet --timeout=5; fi; do
        waited=$((waited + 5))
        [ "$waited" -lt "${DATABASE_WAIT_SECONDS:-120}" ] || return 1
        sleep 5
    done
}
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

[ -s "$dir/dumps.manifest" ] || fail NoDump "no dump to restore: $dir/dumps.manifest is missing or empty"
tab="$(printf '\t')"
IFS="$tab" read -r dump_time file bytes < "$dir/dumps.manifest"
extra=",\"dump\":\"$file\",\"dumpTime\":\"$dump_time\""
echo "drill: newest dump $file, taken $dump_time, $bytes bytes"
[ -s "$dir/$file" ] || fail EmptyDump "$file is empty or missing: nothing can be restored from it"
pg_restore --list "$dir/$file" > "$tmp"/toc 2> "$tmp"/err \
    || fail CorruptDump "$file is no readable pg_dump archive: $(tail -n 1 "$tmp"/err)"

waited=0
until scratch pg_isready --quiet --timeout=2; do
    waited=$((waited + 2))
    [ "$waited" -lt "${SCRATCH_WAIT_SECONDS:?}" ] \
        || fail ScratchNotReady "the scratch Postgres at $SCRATCH_HOST did not answer within ${waited}s"
    sleep 2
done
scratch pg_restore --exit-on-error --no-owner --no-privileges --dbname=drill "$dir/$file" 2> "$tmp"/err \
    || fail RestoreFailed "pg_restore of $file failed: $(tail -n 2 "$tmp"/err)"
echo "drill: restored $file into the scratch database"

restored="$(scratch psql -XAtq -c 'SELECT max(version) FROM schema_migrations' 2> "$tmp"/err)" \
    || fail SchemaMismatch "the restored database has no readable schema_migrations: $(tail -n 1 "$tmp"/err)"
live_ready || fail SchemaUnknown "the live database did not answer within ${DATABASE_WAIT_SECONDS:-120}s"
app="$(live_psql -c 'SELECT max(version) FROM schema_migrations' 2> "$tmp"/err)" \
    || fail SchemaUnknown "cannot read the app's schema version in the live database: $(tail -n1 "$tmp"/err)"
[ "$restored" = "$app" ] || fail SchemaMismatch "restored schema version $restored, the app runs $app"

tables=""
for t in $(awk '$4 == "TABLE" && $5 == "DATA" && $6 == "public" { print $7 }' "$tmp"/toc); do
    pg_restore --data-only --schema=public --table="$t" --file=$tmp/data.sql "$dir/$file" 2> "$tmp"/err \
        || fail CorruptDump "the data of table $t cannot be read from $file: $(tail -n 1 "$tmp"/err)"
    awk '/^COPY / { inside = 1; next } /^\\\.$/ { inside = 0 } inside' "$tmp"/data.sql | sort > "$tmp"/dumped
    scratch psql -XAtq -c "COPY public.\"$t\" TO STDOUT" > "$tmp"/read.raw 2> "$tmp"/err \
        || fail RestoreFailed "table $t cannot be read back: $(tail -n 1 "$tmp"/err)"
    sort "$tmp"/read.raw > "$tmp"/read
    dumped_rows="$(wc -l < "$tmp"/dumped | tr -d ' ')"
    counted="$(scratch psql -XAtq -c "SELECT count(*) FROM public.\"$t\"")"
    [ "$counted" = "$dumped_rows" ] \
        || fail RowCountMismatch "table $t: $counted rows restored, the dump holds $dumped_rows"
    head -n "${SAMPLE_ROWS:?}" "$tmp"/dumped > "$tmp"/sample.dumped
    head -n "$SAMPLE_ROWS" "$tmp"/read > "$tmp"/sample.read
    cmp -s "$tmp"/sample.dumped "$tmp"/sample.read \
        || fail SampleMismatch "table $t: the sampled rows read back differ from the dump's"
    digest="$(md5sum < "$tmp"/read | cut -c1-32)"
    sampled="$(wc -l < "$tmp"/sample.read | tr -d ' ')"
    echo "drill: table $t: $counted rows, a sample of $sampled equal to the dump's, md5 $digest"
    tables="$tables${tables:+,}{\"name\":\"$t\",\"rows\":$counted,\"digest\":\"$digest\"}"
done
extra="$extra,\"checkedAt\":\"$(now)\",\"schemaVersion\":\"$restored\",\"tables\":[$tables]"
verdict Succeeded Restored "restored $file (taken $dump_time): schema $restored, rows equal to the dump's"
"""
