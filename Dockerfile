# midge in a container: the binary, the shipped scenarios, and mosquitto for
# `--broker spawn:mosquitto`; runs as an unprivileged user.
#   docker build -t midge .
#   docker run --rm midge              # the quickstart, on the embedded broker
#   docker run --rm midge run /scenarios/fan-in.toml --broker mqtt://broker:1883
# Kubernetes (sharded runs and their merge): deploy/kubernetes/README.md.
# tests/container.rs checks every file this copies exists and builds midge
# from exactly these files with the same cargo flags.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin midge

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends mosquitto ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/midge midge \
 && mkdir /work && chown midge:midge /work
COPY --from=build /src/target/release/midge /usr/local/bin/midge
COPY scenarios /scenarios
USER 10001:10001
WORKDIR /work
# `--prometheus 0.0.0.0:9464`: live metrics (deploy/grafana/midge.json).
EXPOSE 9464
ENTRYPOINT ["midge"]
CMD ["run", "/scenarios/quickstart.toml"]
