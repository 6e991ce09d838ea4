#!/bin/sh
# Creates one role and one database per bridge. The postgres image runs this once, when its
# data volume is empty (docker-entrypoint-initdb.d); Synapse's database is the image's own
# POSTGRES_DB. To add a bridge later, run the same statements with
# `docker compose exec postgres psql -U synapse`.
set -eu
: "${MXBRIDGE_DB_PASSWORD:?set MXBRIDGE_DB_PASSWORD on the postgres service}"
for bridge in irc xmpp telegram whatsapp; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE mxbridge_$bridge LOGIN PASSWORD '$MXBRIDGE_DB_PASSWORD';
CREATE DATABASE mxbridge_$bridge OWNER mxbridge_$bridge;
SQL
done
