# syntax=docker/dockerfile:1
#
# slabench in a container, for Kubernetes (deploy/kubernetes/, and the
# README's "Running on Kubernetes"):
#
#   docker build -t registry.example.com/slabench:0.1.0 .
#
# Needs BuildKit (the default builder of Docker 23 and later) for the cache
# mounts: cargo's registry and target folder survive between builds without
# landing in a layer.

# --- build -----------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
# Only what the binary is built from (.dockerignore keeps the rest out of
# the context): the sources, the benches Cargo.toml declares, and the files
# src/ includes at compile time (mock-providers/, schema/).
COPY Cargo.toml Cargo.lock ./
COPY src/ src/
COPY benches/ benches/
COPY mock-providers/ mock-providers/
COPY schema/ schema/
# --locked: exactly the versions in Cargo.lock, as CI builds them. The
# target folder is a cache mount, so the binary is copied out of it in the
# same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin slabench \
    && cp target/release/slabench /usr/local/bin/slabench

# --- run -------------------------------------------------------------------
# Debian slim, not distroless or scratch: the merge step expands globs
# (/runs/shard-*) in a shell, and `kubectl cp` needs tar.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric user, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 slabench \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin slabench
COPY --from=builder /usr/local/bin/slabench /usr/local/bin/slabench
WORKDIR /opt/slabench
# The shipped profiles and scenarios, so that `docker run IMAGE run
# scenarios/smoke.toml` works as it does in a checkout; reports/ is where
# runs go by default, writable by the user.
COPY mock-providers/ mock-providers/
COPY scenarios/ scenarios/
RUN mkdir reports && chown 10001:10001 reports
USER 10001:10001
ENTRYPOINT ["slabench"]
CMD ["--help"]
