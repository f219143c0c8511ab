# midge in a container: the binary, the shipped scenarios, and mosquitto for
# `--broker spawn:mosquitto`. Build: docker build -t midge .
# Run:   docker run --rm midge run /scenarios/quickstart.toml
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
RUN cargo build --release --locked --bin midge

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends mosquitto ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/midge /usr/local/bin/midge
COPY scenarios /scenarios
WORKDIR /work
ENTRYPOINT ["midge"]
CMD ["run", "/scenarios/quickstart.toml"]
