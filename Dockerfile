# syntax=docker/dockerfile:1
# Vagon Fleet dashboard: a static binary on a distroless, non-root image.
#
#   docker build -t vagon-dashboard .
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://... \
#     -e VAGON_API_KEY=... -e VAGON_API_SECRET=... -e SESSION_KEY=... vagon-dashboard
#
# The image has no Postgres, so DATABASE_URL is required (the embedded
# Postgres of `make run` is for development). Cookies are Secure by default
# here (ADDR is not loopback): serve it behind TLS, or set COOKIE_SECURE=false
# for a local try over plain HTTP.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The templ output (*_templ.go) and the vendored static files are committed
# and embedded, so no generator runs here.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags='-s -w' \
      -o /out/dashboard ./cmd/dashboard

# static-debian12 has CA certificates (for api.vagon.io), tzdata and a
# "nonroot" user (uid 65532), and nothing else: no shell, no curl.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dashboard /usr/local/bin/dashboard
ENV ADDR=:8080
EXPOSE 8080
USER nonroot:nonroot
# The audit spool (AUDIT_SPOOL_FILE, default .data/audit-spool.jsonl) lives
# under the working directory, which the nonroot user owns.
WORKDIR /home/nonroot
# The binary checks itself: `dashboard healthcheck` GETs /healthz on ADDR.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/dashboard", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/dashboard"]
CMD ["serve"]
