#!/bin/sh
# First start of docker-compose.yml, in the only order that works: Synapse refuses to start
# while a registration it lists is missing, and a bridge's registration is written from its
# config. Edit docker/config/*.yaml and docker/synapse/homeserver.yaml first (docker/README.md).
# Running it again is harmless: tokens and keys that exist are kept.
set -eu
cd "$(dirname "$0")/.."

docker compose build

# 1. Each bridge fills in its tokens (in docker/config/<bridge>.yaml) and writes its
#    registration into the shared volume. --no-deps: Synapse must not start yet. --user root:
#    the config is a file of yours mounted from the host, which the image's user cannot write.
docker compose run --rm --no-deps --user root mxbridge-irc generate-registration -o /registrations/irc.yaml
docker compose run --rm --no-deps --user root mxbridge-xmpp generate-registration -o /registrations/xmpp.yaml
docker compose run --rm --no-deps --user root mxbridge-telegram generate-registration -o /registrations/telegram.yaml
docker compose run --rm --no-deps --user root mxbridge-whatsapp generate-registration -o /registrations/whatsapp.yaml

# 2. Synapse generates its signing key and registration secret (its config already exists).
docker compose run --rm synapse generate

# 3. Everything starts; the bridges wait for a healthy Synapse.
docker compose up -d
docker compose ps
