#!/bin/sh
# The lab nginx image's entrypoint: runs the command (by default `nginx -g 'daemon off;'`) as given.
set -e
exec "$@"
