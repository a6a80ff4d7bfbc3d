# tokenledger: top-level entry points. The extension itself builds with PGXS
# in extension/; the C++ client with CMake (CMakeLists.txt).
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
export PG_CONFIG

.PHONY: all extension install test demo demo-stop bench clean

all: extension

extension:
	$(MAKE) -C extension

install: extension
	$(MAKE) -C extension install

# The one test command: bootstraps packages, builds, starts a private cluster,
# runs every suite, removes the cluster, prints "N passed, N failed".
test:
	bash test/run_tests.sh

# The main job: a private cluster in ./.pgdata with a realistic workload.
demo:
	bash test/demo/demo.sh start

demo-stop:
	bash test/demo/demo.sh stop

bench:
	bash test/bench/run.sh $(BENCH_ARGS)

clean:
	$(MAKE) -C extension clean
	rm -rf build results regression.diffs regression.out
