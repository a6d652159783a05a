#!/bin/bash
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
export PGDATA=/var/lib/postgresql/data
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
auth=${POSTGRES_HOST_AUTH_METHOD:-}
if [ -z "${POSTGRES_PASSWORD:-}" ] && [ -z "$auth" ]; then
  echo "Error: Database is uninitialized and superuser password is not specified." >&2
  echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
  exit 1
fi
[ -n "$auth" ] || auth=scram-sha-256
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
pw=$(mktemp); printf '%s' "${POSTGRES_PASSWORD:-}" > "$pw"; chown postgres "$pw"
pwopt=(); [ -z "${POSTGRES_PASSWORD:-}" ] || pwopt=(--pwfile="$pw")
su postgres -c "$bin/initdb -D $PGDATA --username=$(printf %q "$user") ${pwopt[*]:-} -A trust" >/dev/null
rm -f "$pw"
echo "host all all all $auth" >> "$PGDATA/pg_hba.conf"
# Like the official image: a server on the socket only while the database is made.
su postgres -c "$bin/pg_ctl -D $PGDATA -o \"-c listen_addresses=''\" -w start" >/dev/null
if [ "$db" != postgres ]; then
  su postgres -c "psql -v ON_ERROR_STOP=1 --username=$(printf %q "$user") --dbname=postgres -c $(printf %q "CREATE DATABASE \"$db\"")" >/dev/null
fi
su postgres -c "$bin/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null
echo "PostgreSQL init process complete; ready for start up."
exec su postgres -c "exec $bin/postgres -D $PGDATA -c listen_addresses='*'"
