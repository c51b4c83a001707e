# syntax=docker/dockerfile:1
# Multi-stage build: a static, CGO-free binary in a distroless image that
# runs as a non-root user. Build: docker build --build-arg VERSION=$(git describe --tags --always) -t combine .

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/thecombine/combine.Version=${VERSION}" -o /out/combine ./cmd/combine
# The SQLite data directory, owned by distroless' nonroot user (65532).
RUN mkdir -p /out/data && chown 65532:65532 /out/data

# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot; no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/combine /combine
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
ENV PORT=8000 \
    DATABASE_URL=sqlite:///data/combine.db
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 CMD ["/combine","healthcheck"]
ENTRYPOINT ["/combine"]
CMD ["serve"]
