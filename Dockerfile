# Multi-stage: build the four binaries once, ship them in a small image as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home kyte
COPY --from=build /src/target/release/ingress /src/target/release/worker /src/target/release/notifier /src/target/release/kyte-sim /usr/local/bin/
USER kyte
