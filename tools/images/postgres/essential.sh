#!/bin/sh
# mmdebstrap essential hook ($1: the root filesystem), before postgresql-17 is installed: no `main` cluster
# (the entrypoint runs initdb into $PGDATA), as docker-library's Debian images do.
set -eu
mkdir -p "$1"/etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > "$1"/etc/postgresql-common/createcluster.d/inhibit-main-cluster.conf
