# Attendant: `make run` starts the whole stack locally; `make test` runs every test.
# Both install what they need first (make deps), skipping what is already there.

GO        ?= go
BIN       := bin
ATTENDANT := $(BIN)/attendant
export CGO_ENABLED := 1

.PHONY: all deps build run test test-short check bench-join bench-assistant-join bench-pipeline bench-dispatch fuzz clean

all: build

## deps: install Debian packages, pgvector, livekit-server, npm packages and Go tools
deps:
	@bash deploy/local/deps.sh

## build: build bin/attendant
build:
	$(GO) build -o $(ATTENDANT) ./cmd/attendant

## run: the whole stack locally with a demo room; prints the join URL
run: deps build
	$(ATTENDANT) dev

## test: unit and integration tests against the real services, with the race detector
test: deps
	$(GO) test -race -count=1 -timeout 25m ./...

## test-short: unit tests only (integration tests skip under -short)
test-short:
	$(GO) test -short -count=1 ./...

## check: formatting, vet, staticcheck and go.mod drift
check: deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(GO) mod tidy -diff

## bench-join: joining by magic link, 200 invitations (bench/results/join.json)
bench-join: deps build
	@mkdir -p bench/results
	$(ATTENDANT) bench join --invites 200 --out bench/results/join.json

## bench-assistant-join: the assistant's join time over 20 joins (bench/results/assistant-join.json)
bench-assistant-join: deps build
	@mkdir -p bench/results
	$(ATTENDANT) bench assistant-join --n 20 --out bench/results/assistant-join.json

## bench-pipeline: 50 voice turns with barge-in through LiveKit (bench/results/pipeline.json)
bench-pipeline: deps build
	@mkdir -p bench/results
	$(ATTENDANT) bench pipeline --turns 50 --out bench/results/pipeline.json

## bench-dispatch: three dispatcher processes, 20 simulated workers, 5000 jobs per phase (single, batched, at 5000/s), 20 leader kills
bench-dispatch: build
	@mkdir -p bench/results
	$(ATTENDANT) bench dispatch --nodes 3 --workers 20 --jobs 5000 --kills 20 --out bench/results/dispatch.json

## fuzz: a bounded run of every fuzz target (fixed execution counts, so load cannot flake it)
FUZZ_EXECS ?= 200000x
# File parsers are slower per input.
FUZZ_EXECS_SLOW ?= 20000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeWAV$$' -fuzztime $(FUZZ_EXECS) ./pipeline/audio
	$(GO) test -run '^$$' -fuzz '^FuzzProcess$$' -fuzztime $(FUZZ_EXECS) ./pipeline/vad
	$(GO) test -run '^$$' -fuzz '^FuzzIsBackchannel$$' -fuzztime $(FUZZ_EXECS) ./pipeline/turn
	$(GO) test -run '^$$' -fuzz '^FuzzChunker$$' -fuzztime $(FUZZ_EXECS) -fuzzminimizetime 5s ./pipeline/chunker
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_EXECS) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzValidateName$$' -fuzztime $(FUZZ_EXECS) ./web
	$(GO) test -run '^$$' -fuzz '^FuzzWAVStream$$' -fuzztime $(FUZZ_EXECS) ./pipeline/tts
	$(GO) test -run '^$$' -fuzz '^FuzzExtractText$$' -fuzztime $(FUZZ_EXECS_SLOW) ./retrieval/extract
	$(GO) test -run '^$$' -fuzz '^FuzzExtractMarkdown$$' -fuzztime $(FUZZ_EXECS_SLOW) ./retrieval/extract
	$(GO) test -run '^$$' -fuzz '^FuzzExtractHTML$$' -fuzztime $(FUZZ_EXECS_SLOW) ./retrieval/extract
	$(GO) test -run '^$$' -fuzz '^FuzzExtractDOCX$$' -fuzztime $(FUZZ_EXECS_SLOW) ./retrieval/extract
	$(GO) test -run '^$$' -fuzz '^FuzzExtractPDF$$' -fuzztime $(FUZZ_EXECS_SLOW) ./retrieval/extract
	$(GO) test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZ_EXECS) ./retrieval/chunk
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeWorkerMessage$$' -fuzztime $(FUZZ_EXECS) ./dispatcher
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(FUZZ_EXECS) ./dispatcher
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeResults$$' -fuzztime $(FUZZ_EXECS) ./dispatcher
	$(GO) test -run '^$$' -fuzz '^FuzzValidID$$' -fuzztime $(FUZZ_EXECS) ./dispatcher
	$(GO) test -run '^$$' -fuzz '^FuzzLinkToken$$' -fuzztime $(FUZZ_EXECS) ./control-plane
	$(GO) test -run '^$$' -fuzz '^FuzzWebhookEvent$$' -fuzztime $(FUZZ_EXECS_SLOW) ./control-plane
	$(GO) test -run '^$$' -fuzz '^FuzzWebhookUnsigned$$' -fuzztime $(FUZZ_EXECS_SLOW) ./control-plane
	$(GO) test -run '^$$' -fuzz '^FuzzNotifyEmailHeaders$$' -fuzztime $(FUZZ_EXECS_SLOW) ./control-plane
	$(GO) test -run '^$$' -fuzz '^FuzzForms$$' -fuzztime $(FUZZ_EXECS_SLOW) ./control-plane

clean:
	rm -rf $(BIN)/attendant
