# poolcat: the two commands a newcomer needs are `make run` and `make test`.
# Both install missing Debian packages first (apt-get, as root) and build.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
LISTEN ?= 0.0.0.0:50051

# Debian 12 packages the build, the tests and the benchmarks need.
DEB_PACKAGES := \
  build-essential cmake ninja-build pkg-config git openssl \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  libabsl-dev prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev \
  libhwy-dev libcli11-dev libdnnl-dev prometheus \
  podman runc mmdebstrap uidmap slirp4netns fuse-overlayfs docker-compose python3-yaml \
  python3-torch python3-numpy python3-grpcio python3-protobuf python3-grpc-tools

.PHONY: all deps build test test-sanitize run bench clean format

all: build

# Installs only what is missing; does nothing (and needs no network) when
# everything is present.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing missing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "All Debian packages present."; \
	fi
	@# Node.js may come from elsewhere (e.g. NodeSource, with npm built in), so
	@# ask for the command rather than the Debian package.
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q nodejs npm; \
	fi

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 900

# Every test again with AddressSanitizer + UndefinedBehaviorSanitizer (CI runs
# this after `make test`). Benchmarks are left out; they prove nothing here.
SANITIZE_DIR ?= build-sanitize
test-sanitize: deps
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPOOLCAT_SANITIZE=ON -DPOOLCAT_BUILD_BENCH=OFF
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(SANITIZE_DIR) --output-on-failure -j $(JOBS) --timeout 1800

# The poolcat-server image (deploy/Dockerfile) with podman, or docker where
# that is what works. Nothing is pulled: a missing debian:bookworm-slim base
# is made locally with mmdebstrap (see deploy/build_image.sh).
.PHONY: image
image: deps
	deploy/build_image.sh

run: build
	$(BUILD_DIR)/bin/poolcat-server --listen=$(LISTEN)

bench: build
	bench/compare

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
