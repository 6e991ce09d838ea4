# syntax=docker/dockerfile:1
# The mxbridge binary in a small Debian image. One image serves every network: the config's
# `network.type` picks it. Build:  docker build -t mxbridge .
# Run:    docker run -v mxbridge-data:/data mxbridge            (reads /data/config.yaml)
#         docker run -v mxbridge-data:/data mxbridge check-config
# docker/README.md shows the whole stack (Synapse, PostgreSQL, four bridges) with compose.

# --- Build stage: the same Rust and Debian release as CI, so the binary links against
# the runtime stage's glibc and OpenSSL.
FROM rust:1.95-slim-bookworm AS builder
# pkg-config + libssl-dev: the IRC crate's TLS is native-tls (OpenSSL). SQLite is bundled
# (built by cc, which the image has), so it needs nothing here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every workspace member's manifest must be present for cargo to load the workspace, so the
# whole source is copied (.dockerignore keeps target/ and .git out).
COPY . .
# The caches keep downloaded crates and compiled dependencies between builds; the binary
# is copied out because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build -p mxbridge --release --locked \
 && install -D -m 0755 target/release/mxbridge /out/mxbridge

# --- Runtime stage: the binary and the shared libraries it links to (ldd: libssl.so.3,
# libcrypto.so.3, libgcc_s, libc), plus CA certificates for TLS to IRC servers, Telegram
# and WhatsApp.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed UID, so files in volumes keep one owner across image rebuilds.
RUN groupadd --system --gid 10001 mxbridge \
 && useradd --system --uid 10001 --gid mxbridge --home-dir /data --no-create-home mxbridge \
 && mkdir /data \
 && chown mxbridge:mxbridge /data
COPY --from=builder /out/mxbridge /usr/local/bin/mxbridge
USER mxbridge
# The config, the secret key file (mxbridge.key beside the config), SQLite databases and
# WhatsApp session stores (network.data_directory is relative to the working directory)
# all live here: back this volume up.
WORKDIR /data
VOLUME /data
# Arguments after the image name are the subcommand: none runs the bridge, or
# `generate-registration -o <file>`, `check-config`.
ENTRYPOINT ["/usr/local/bin/mxbridge", "-c", "/data/config.yaml"]
