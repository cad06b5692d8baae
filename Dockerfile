# dealcoach sidecar image: built with the project's own scripts on Debian 12, run as a
# non-root user on debian:12-slim with only the runtime libraries. See docs/production.md.
#
#   docker build -t dealcoach:dev .
#   docker run --rm -p 50051:50051 -p 9464:9464 dealcoach:dev
#
# ---- build stage --------------------------------------------------------------------
FROM debian:12 AS build
WORKDIR /src
COPY . .
# scripts/setup.sh installs every build package (apt-get update first); then one build,
# tests off: CI runs them, the image only needs the binary.
RUN bash scripts/setup.sh \
 && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DDEALCOACH_BUILD_TESTS=OFF -DDEALCOACH_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target dealcoach \
 && strip --strip-debug /build/dealcoach

# ---- runtime stage ------------------------------------------------------------------
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates tzdata \
      libabsl20220623 libgrpc++1.51 libgrpc29 libprotobuf32 libyaml-cpp0.7 libre2-9 \
      libcurl4 libpq5 libsqlite3-0 libssl3 libcpp-httplib0.11 libprometheus-cpp-core1.0 \
      libtcmalloc-minimal4 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/dealcoach --create-home dealcoach
COPY --from=build /build/dealcoach /usr/local/bin/dealcoach
COPY --from=build /src/config /etc/dealcoach
# The embedded store lives on a volume in production (or use PostgreSQL: docs/store.md).
ENV DEALCOACH_STORE_DATA_DIR=/var/lib/dealcoach/data
USER 10001:10001
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/dealcoach"]
CMD ["serve", "--config=/etc/dealcoach/sidecar.yaml", "--listen=0.0.0.0:50051", \
     "--admin_http.listen=0.0.0.0:9464", "--insecure=true"]
