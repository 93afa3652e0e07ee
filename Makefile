# The two commands of the README: `make train` and `make test`. Each installs what is
# missing from Debian's packages, builds with CMake into build/, then trains or tests.
BUILD   ?= build
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
DEPS    := cmake gcc make libc6-dev libopenblas-dev libcmocka-dev zlib1g-dev dataset-fashion-mnist gnuplot-nox
# the suite also fuzzes every parser for a while: clang with its libFuzzer runtime; an
# independent reader of golden vectors checks them with numpy; data-parallel training runs
# under OpenMPI
TEST_DEPS := $(DEPS) clang libclang-rt-dev libomp-dev python3-numpy libopenmpi-dev openmpi-bin
TRAIN_ARGS ?= --model lenet5 --precision int8-dyn --epochs 10

.PHONY: all deps test-deps install build train test asan bench clean check-compilers

all: build

deps:
	@$(MAKE) --no-print-directory install PACKAGES="$(DEPS)"

test-deps:
	@$(MAKE) --no-print-directory install PACKAGES="$(TEST_DEPS)"

install:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian's packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

train: build
	./$(BUILD)/lpt train $(TRAIN_ARGS)

test: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j 1

# the whole suite under AddressSanitizer and UndefinedBehaviorSanitizer
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLPT_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 1

# the suite with GCC 12, clang and GCC 13 (in a Debian trixie chroot; root and network)
check-compilers: deps
	tools/check-compilers.sh

bench: build
	./$(BUILD)/lpt bench --model lenet5 --batch 64 --threads 1,2

clean:
	rm -rf $(BUILD) build-asan
