# gotransfer: two commands do everything on a fresh machine.
#   make run    set-up, then the main job
#   make test   set-up, then every test (Go and Python, against real TensorFlow);
#               fails first if go.mod and go.sum are not tidy
# Set-up (scripts/setup.sh) is idempotent: it skips what is already done.

CONFIG ?= configs/default.yaml

.PHONY: setup run test bench

setup:
	@bash scripts/setup.sh

run: setup
	go run ./pipeline -config $(CONFIG)

test: setup
	go mod tidy -diff
	go vet ./...
	go test -count=1 ./...

bench: setup
	go run ./pipeline/bench
