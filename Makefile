# gotransfer: two commands do everything on a fresh machine.
#   make run    set-up, then the main job
#   make test   set-up, then every test (Go and Python, against real TensorFlow);
#               fails first if go.mod and go.sum are not tidy
#   make test-cluster   set-up, then the Slurm deployment on a real single-node
#               Slurm it starts and stops itself (root: installs slurm-wlm, munge)
# Set-up (scripts/setup.sh) is idempotent: it skips what is already done.

CONFIG ?= configs/default.yaml

.PHONY: setup run test test-cluster bench purego docs

setup:
	@bash scripts/setup.sh

run: setup
	go run ./pipeline -config $(CONFIG)

test: setup
	go mod tidy -diff
	go vet ./...
	go test -count=1 ./...

test-cluster: setup
	bash scripts/test_cluster.sh

# The packages of plain Go (config, dataset, evaluate, report, plot, ...)
# build without cgo, so without TensorFlow's C library. This is one test of
# pipeline/purego_test.go, which make test runs too.
purego:
	go test -count=1 -run TestPlainGoPackagesBuildWithoutCgo ./pipeline

bench: setup
	go run ./pipeline/bench

# docs/configuration.md is generated from pipeline/config/doc.go (the config
# package's documentation); make test fails while the committed page differs.
docs:
	go test -count=1 ./docs -run TestConfigurationPage -update
