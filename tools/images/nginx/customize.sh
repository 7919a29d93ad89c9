#!/bin/sh
# mmdebstrap customize hook ($1: the root filesystem): Debian's nginx in the unprivileged image's layout.
set -eu
root=$1
here=$(dirname "$0")
# uid/gid 101 `nginx`, as nginxinc/nginx-unprivileged (Debian's nginx runs its workers as www-data).
if chroot "$root" getent passwd 101 >/dev/null || chroot "$root" getent group 101 >/dev/null; then
    echo "uid or gid 101 is taken in the root filesystem" >&2; exit 1
fi
chroot "$root" groupadd --system --gid 101 nginx
chroot "$root" useradd --system --uid 101 --gid 101 --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin nginx
# nginx opens its compiled-in error log before it reads nginx.conf: point it (and the access log) at the
# container's output, as the official images do, so a read-only root costs no alert.
ln -sf /dev/stdout "$root"/var/log/nginx/access.log
ln -sf /dev/stderr "$root"/var/log/nginx/error.log
install -m 0644 "$here/nginx.conf" "$root"/etc/nginx/nginx.conf
mkdir -p "$root"/usr/share/nginx/html "$root"/etc/nginx/conf.d
install -m 0644 "$here/index.html" "$root"/usr/share/nginx/html/index.html
rm -rf "$root"/etc/nginx/sites-enabled "$root"/etc/nginx/sites-available "$root"/var/www/html
install -m 0755 "$here/docker-entrypoint.sh" "$root"/docker-entrypoint.sh
