# Multi-stage build of a static sunor_exporter on a minimal, non-root image.
#   docker build --build-arg VERSION=$(cat VERSION) --build-arg REVISION=$(git rev-parse HEAD) -t sunor_exporter .
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 …
# (the Go stage runs on the build machine and cross-compiles for TARGETOS/TARGETARCH).
#
# Base images are arguments so that a mirror can be used:
#   --build-arg GO_IMAGE=mirror.example/golang:1.26 --build-arg RUNTIME_IMAGE=mirror.example/distroless/static-debian12:nonroot
# A binary built outside (make release, as Prometheus's own images do) instead
# of the Go stage: put it at .build/${TARGETOS}-${TARGETARCH}/sunor_exporter and
#   --build-arg BINARY=prebuilt
# The runtime image must bring CA certificates (/etc/ssl/certs) for https://sunor.cc.
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
# "build" (compile in the Go stage) or "prebuilt".
ARG BINARY=build

FROM --platform=${BUILDPLATFORM} ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Set by the builder (--platform); GOARM is Go's default for arm, 7.
ARG TARGETOS
ARG TARGETARCH
ENV GOOS=${TARGETOS} GOARCH=${TARGETARCH}
# Empty VERSION: the binary reports the VERSION file's (main.go embeds it).
ARG VERSION=
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=docker \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      -o /out/sunor_exporter . \
 && { [ "$(go env GOOS GOARCH)" != "$(go env GOHOSTOS GOHOSTARCH)" ] || /out/sunor_exporter --version; }

FROM scratch AS prebuilt
ARG TARGETOS
ARG TARGETARCH
COPY .build/${TARGETOS}-${TARGETARCH}/sunor_exporter /out/sunor_exporter

FROM ${BINARY} AS binary

FROM ${RUNTIME_IMAGE}
ARG VERSION=
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sunor_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the credit balance of the Sunor API" \
      org.opencontainers.image.source="https://github.com/sunor-community/sunor_exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=binary /out/sunor_exporter /bin/sunor_exporter
# distroless "nonroot", by number so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 10151
ENTRYPOINT ["/bin/sunor_exporter"]
