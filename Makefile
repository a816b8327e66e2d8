# asl-dist-train: build, test and demo entry points. `make test` and `make demo` work on a fresh Debian machine:
# they install the native packages first (as root), then build in release mode (debug builds are 10-100x slower
# on the numeric loops the tests exercise).

APT_PACKAGES := pkg-config libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev libhdf5-dev hdf5-tools \
	libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg libopencv-dev zlib1g-dev strace
SWIFT_BUILD := swift build -c release
BIN := .build/release
# mpirun refuses to start as root unless told twice; CI and containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1

.PHONY: deps build install test unit-test mpi-test user-path-test tools-test demo demo-static bench clean

# Installs whatever of APT_PACKAGES is missing (apt-get update once, only when something is missing), and h5py,
# with which a test opens our shards as users' Python code does.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@python3 -c 'import h5py' 2>/dev/null || python3 -m pip install -q h5py || \
		echo "warning: could not install h5py; the test that opens shards with h5py will be skipped"

build: deps
	$(SWIFT_BUILD)

# Puts the three commands on the PATH (PREFIX=/usr/local by default; DESTDIR for packaging). They link Swift's
# runtime from the toolchain they were built with, which must stay installed.
PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN)/asl-dist-train $(BIN)/asl-shards $(BIN)/asl-predict $(DESTDIR)$(PREFIX)/bin/

unit-test: build
	swift test -c release

# The multi-rank suites run twice: with Open MPI's default transports (shared memory on one node), then forced onto
# TCP (`btl self,tcp`), the transport between nodes. strace (in APT_PACKAGES) kills runs at each checkpoint rename.
mpi-test: build
	bash Tests/mpi/run-mpi-tests.sh $(BIN)
	bash Tests/mpi/run-train-tests.sh $(BIN)
	bash Tests/mpi/run-resilience-tests.sh $(BIN)
	OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,tcp TEST_LABEL=mpi-tcp bash Tests/mpi/run-mpi-tests.sh $(BIN)
	OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,tcp TEST_LABEL=train-tcp bash Tests/mpi/run-train-tests.sh $(BIN)

# A new user's path through the binaries: raw video -> shards -> training -> asl-predict parity, and the messages
# for common mistakes (uses mpirun for one check, ffmpeg for a few images).
user-path-test: build
	bash Tests/cli/run-user-path-tests.sh $(BIN)

# tools/hand_boxes.py against the builder; its detection checks need MediaPipe (pip install mediapipe==0.10.14) in
# PYTHON's environment and are skipped where it is not, so `make test` never installs it.
PYTHON ?= python3
tools-test: build
	$(PYTHON) Tests/tools/test_hand_boxes.py $(BIN)

test: unit-test mpi-test user-path-test tools-test

# Synthetic data -> shards -> 2-rank training -> test-split prediction; prints the accuracy and the run directory.
demo: build
	$(BIN)/asl-dist-train --version
	bash tools/demo.sh

# The same for still images (T=1): synthetic hand-shape PNGs in class folders -> one-frame shards -> 2-rank training ->
# the test split and one image file classified.
demo-static: build
	$(BIN)/asl-dist-train --version
	bash tools/demo.sh --static

clean:
	rm -rf .build
