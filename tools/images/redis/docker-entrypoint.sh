#!/bin/sh
# The lab Redis image's entrypoint, as the official image's: a first argument that is an option or a config
# file means `redis-server <args>`. It never changes users (the operator's pods run as uid 999 already).
set -e
case "${1:-}" in -* | *.conf) set -- redis-server "$@" ;; esac
exec "$@"
