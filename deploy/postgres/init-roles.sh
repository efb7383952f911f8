#!/bin/sh
# Creates SecureDrive's owner and runtime database roles (securedrive-roles.sql).
#
# The postgres image runs it once, on an empty data volume (/docker-entrypoint-initdb.d).
# On an instance created before the two roles existed, run it by hand (idempotent):
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-securedrive-roles.sh
# Passwords are read from the Compose secrets, never from the command line.
set -eu

: "${SECUREDRIVE_DB_OWNER:=securedrive_owner}"
: "${SECUREDRIVE_DB_RUNTIME:=securedrive_app}"
: "${SECUREDRIVE_DB_OWNER_PASSWORD_FILE:=/run/secrets/postgres_owner_password}"
: "${SECUREDRIVE_DB_RUNTIME_PASSWORD_FILE:=/run/secrets/postgres_app_password}"
: "${SECUREDRIVE_DB_ROLES_SQL:=/securedrive/securedrive-roles.sql}"

for file in "$SECUREDRIVE_DB_OWNER_PASSWORD_FILE" "$SECUREDRIVE_DB_RUNTIME_PASSWORD_FILE"; do
    if [ ! -s "$file" ]; then
        echo "init-roles.sh: $file is missing or empty (docker compose run --rm secrets-init)" >&2
        exit 1
    fi
done

psql --no-psqlrc --set ON_ERROR_STOP=1 --quiet \
    --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    --set owner_role="$SECUREDRIVE_DB_OWNER" \
    --set runtime_role="$SECUREDRIVE_DB_RUNTIME" \
    --set owner_password_file="$SECUREDRIVE_DB_OWNER_PASSWORD_FILE" \
    --set runtime_password_file="$SECUREDRIVE_DB_RUNTIME_PASSWORD_FILE" \
    --set roles_sql="$SECUREDRIVE_DB_ROLES_SQL" <<'SQL'
\set owner_password `cat :'owner_password_file'`
\set runtime_password `cat :'runtime_password_file'`
SELECT set_config('securedrive.owner_role', :'owner_role', false),
       set_config('securedrive.runtime_role', :'runtime_role', false),
       set_config('securedrive.owner_password', :'owner_password', false),
       set_config('securedrive.runtime_password', :'runtime_password', false) \g /dev/null
\i :roles_sql
SELECT set_config('securedrive.owner_password', '', false),
       set_config('securedrive.runtime_password', '', false) \g /dev/null
SQL
echo "SecureDrive database roles ready: owner $SECUREDRIVE_DB_OWNER, runtime $SECUREDRIVE_DB_RUNTIME."
