// Package openaifake is a test double for paid OpenAI-compatible APIs: an
// HTTP server on 127.0.0.1 that speaks the real wire protocol of the
// endpoints Attendant uses, so the code under test runs its real client
// (go-openai or plain HTTP) against it.
//
// Endpoints, all under Server.URL (which ends in /v1):
//
//   - POST /chat/completions: with "stream": true, a text/event-stream of
//     chat.completion.chunk objects (one per word of Options.Reply, then
//     Options.ToolCalls as tool_calls deltas) ending in "data: [DONE]";
//     otherwise one chat.completion object.
//   - POST /audio/transcriptions: a multipart form (file, model, optional
//     language and response_format json, text or verbose_json) answered with
//     Options.Transcript ("text" adds a newline, as OpenAI does).
//   - POST /audio/speech: a JSON request answered with a deterministic,
//     clearly non-silent tone as raw 16-bit little-endian PCM ("pcm") or a
//     streaming WAV ("wav"), sent in 50 ms chunks with chunked transfer.
//   - POST /embeddings: deterministic unit vectors (feature-hashed words, so
//     texts sharing words are similar) of the requested dimensions.
//
// Every request needs an "Authorization: Bearer <key>" header with a
// non-empty key (401 otherwise). Options add latency (FirstByteDelay,
// TokenDelay), failures (FailFirst, FailStatus) and broken connections
// (BreakAfterTokens); Requests reports what was received.
//
// The package has no dependency on the testing package, so end-to-end tests
// and benchmarks can use it as well as unit tests. A Server is safe for
// concurrent use. Streaming handlers stop as soon as the client goes away or
// the server is closed.
package openaifake
