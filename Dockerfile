# runwisp-operator: a FROM-scratch image holding one static binary and the CA bundle.
#
# It builds offline: there is no base image to pull. The binary is built on the host first and
# staged in target/image/ together with the CA certificates; e2e/build-image.sh does all of it:
#
#   e2e/build-image.sh [TAG]          # → localhost/runwisp-operator:TAG (default: the crate version)
#                                     #   and a docker-archive tarball
#
# which amounts to:
#
#   RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=target/static \
#     cargo build --release --locked --target x86_64-unknown-linux-gnu
#   mkdir -p target/image
#   cp target/static/x86_64-unknown-linux-gnu/release/runwisp-operator target/image/
#   cp /etc/ssl/certs/ca-certificates.crt target/image/
#   buildah --storage-driver vfs bud --isolation chroot -t localhost/runwisp-operator:TAG .
#   buildah --storage-driver vfs push localhost/runwisp-operator:TAG \
#     docker-archive:runwisp-operator.tar:localhost/runwisp-operator:TAG
#
# (`docker build -t runwisp-operator:TAG .` works the same on a machine with Docker; .dockerignore
# sends only target/image/ as the build context.)
#
# What is, and is not, in the image:
# - /runwisp-operator: statically linked (glibc, +crt-static). glibc >= 2.34 has the `files` and
#   `dns` name services built in, so name resolution works without any shared library; the kubelet
#   mounts /etc/resolv.conf and /etc/hosts into the container.
# - /etc/ssl/certs/ca-certificates.crt: roots for HTTPS to Slack and webhook notifiers (rustls reads
#   this path). The Kubernetes API is verified with the ServiceAccount's own CA, not this bundle.
# - No /usr/share/zoneinfo: the IANA zone database is compiled into the binary (chrono-tz), so task
#   `timezone`s and --default-timezone work in an image without tzdata.
# - No shell and no other executables: probes are HTTP (/healthz, /readyz on the admin port).
FROM scratch
LABEL org.opencontainers.image.title="runwisp-operator" \
      org.opencontainers.image.description="RunWisp-style scheduled tasks on Kubernetes" \
      org.opencontainers.image.licenses="MIT"
COPY target/image/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY target/image/runwisp-operator /runwisp-operator
# Non-root, the distroless "nonroot" uid; the chart's securityContext asks for the same.
USER 65532:65532
ENTRYPOINT ["/runwisp-operator"]
CMD ["run"]
