# sightline: build in the Rust image, run on slim Debian.
FROM rust:1.85-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin sightline

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --no-create-home sightline
COPY --from=build /src/target/release/sightline /usr/local/bin/sightline
USER sightline
EXPOSE 8080 9190
ENTRYPOINT ["sightline"]
CMD ["demo", "--listen", "0.0.0.0:8080", "--admin", "0.0.0.0:9190"]
