# errand's container image: Debian with Chromium's headless shell from
# Debian, errand as a non-root user, the data folder as a volume, and a
# health check on /healthz.
#
#   podman build --format docker -t errand .     (or: docker build -t errand .)
#   podman run -p 8080:8080 -e ERRAND_API_KEY=dev-key -v errand-data:/var/lib/errand errand
#
# --format docker keeps the HEALTHCHECK (the OCI image format has none).
# Every flag of `errand serve` has an environment twin (errand serve --help).

ARG GO_VERSION=1.26

FROM docker.io/library/golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Pure Go (SQLite included): a static binary, no C toolchain at run time.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/errand ./cmd/errand

FROM docker.io/library/debian:bookworm-slim
# chromium-headless-shell: the browser errand drives; fonts so that pages
# render text; ca-certificates for https; curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium-headless-shell fonts-dejavu-core ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/errand --shell /usr/sbin/nologin errand \
 && install -d -o errand -g errand -m 0700 /var/lib/errand
COPY --from=build /out/errand /usr/local/bin/errand

# The SQLite store and its secrets key live in the data folder; with
# PostgreSQL (ERRAND_DATABASE_URL) it holds nothing that matters.
ENV ERRAND_DATA=/var/lib/errand \
    ERRAND_ADDR=0.0.0.0:8080
VOLUME ["/var/lib/errand"]
USER errand
WORKDIR /var/lib/errand
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/errand"]
CMD ["serve"]
