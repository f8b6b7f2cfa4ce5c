// Package llm is the language-model stage of the voice pipeline: it streams
// an answer to a conversation, piece by piece, so that speech can start
// before the answer is complete.
//
// Model is the interface the pipeline uses. Two implementations:
//
//   - OpenAI talks to any OpenAI-compatible chat completions API (OpenAI,
//     vLLM, Ollama, LocalAI, ...) with streaming, tools, timeouts and safe
//     retries.
//   - Extractive needs no model at all: for `attendant dev` it answers the
//     last question with the most relevant sentences of the instructions and
//     retrieved knowledge given as system messages. It is an extractive
//     responder, not a language model.
package llm
