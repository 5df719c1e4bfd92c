# syntax=docker/dockerfile:1
# Multi-stage build of a static sunor_exporter on a minimal, non-root image.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t sunor_exporter .
# Base images are arguments so that a mirror can be used:
#   --build-arg GO_IMAGE=mirror.example/golang:1.26 --build-arg RUNTIME_IMAGE=mirror.example/distroless/static-debian12:nonroot
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
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
 && /out/sunor_exporter --version

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sunor_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the credit balance of the Sunor API" \
      org.opencontainers.image.source="https://github.com/sunor-community/sunor_exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# The runtime image brings CA certificates for https://sunor.cc.
COPY --from=build /out/sunor_exporter /bin/sunor_exporter
# distroless "nonroot", by number so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 10151
ENTRYPOINT ["/bin/sunor_exporter"]
