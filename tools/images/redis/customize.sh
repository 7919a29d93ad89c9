#!/bin/sh
# mmdebstrap customize hook ($1: the root filesystem): Debian's redis-server as the official image lays it out.
set -eu
root=$1
here=$(dirname "$0")
# uid 999, gid 1000, as the official image's `redis` (Debian's system user gets a free id from 100 up).
old_uid=$(chroot "$root" id -u redis)
old_gid=$(chroot "$root" id -g redis)
chroot "$root" groupmod -g 1000 redis
chroot "$root" usermod -u 999 -g 1000 redis
chroot "$root" find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 999:1000 {} +
mkdir -p "$root"/data
chown 999:1000 "$root"/data
install -m 0755 "$here/docker-entrypoint.sh" "$root"/usr/local/bin/docker-entrypoint.sh
