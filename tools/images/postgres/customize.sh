#!/bin/sh
# mmdebstrap customize hook ($1: the root filesystem): Debian's postgresql-<major> in the official alpine
# image's layout, which builders/postgres.py relies on. Shared by every major version's recipe (postgres15/
# links to it).
set -eu
root=$1
here=$(dirname "$0")
sample=$(echo "$root"/usr/share/postgresql/*/postgresql.conf.sample)
[ -f "$sample" ] || { echo "expected one postgresql.conf.sample, found: $sample" >&2; exit 1; }
# uid/gid 70, as the alpine image's `postgres` (Debian gives its system user a free id from 100 up).
old_uid=$(chroot "$root" id -u postgres)
old_gid=$(chroot "$root" id -g postgres)
chroot "$root" groupmod -g 70 postgres
chroot "$root" usermod -u 70 -g 70 postgres
chroot "$root" find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 70:70 {} +
# Listen on every address, as the official image's sample configuration (initdb copies it into PGDATA).
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -q "^listen_addresses = '\*'" "$sample"
# mmdebstrap leaves /run as the build left it (MMDEBSTRAP_OPTIONS): only the socket directory stays.
find "$root"/run -mindepth 1 -maxdepth 1 ! -name postgresql -exec rm -rf {} +
# The socket directory (the pod mounts an emptyDir over it) and the data directory, as upstream makes them.
mkdir -p "$root"/run/postgresql "$root"/var/lib/postgresql/data "$root"/docker-entrypoint-initdb.d
chown 70:70 "$root"/run/postgresql "$root"/var/lib/postgresql/data
chmod 3777 "$root"/run/postgresql
chmod 1777 "$root"/var/lib/postgresql/data
install -m 0755 "$here/docker-entrypoint.sh" "$root"/usr/local/bin/docker-entrypoint.sh
ln -sf usr/local/bin/docker-entrypoint.sh "$root"/docker-entrypoint.sh
