#!/bin/sh
# Container start-up, also run by the tests outside a container:
#   entrypoint.sh [serve options]   migrate (under PostgreSQL's advisory lock, so replicas
#                                   starting together migrate once), then exec `roster serve`
#   entrypoint.sh COMMAND [args]    any other `roster` command, e.g. `create-admin alice`
# Settings come from ROSTER_* variables; ROSTER_MIGRATE_ON_START=0 skips the migration.
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- serve "$@"
fi

if [ "$1" = "serve" ] && [ "${ROSTER_MIGRATE_ON_START:-1}" != "0" ]; then
    roster migrate
fi

# exec: roster becomes this process, so the runtime's SIGTERM reaches uvicorn directly.
exec roster "$@"
