// Package agent is the conversation side of a room session: the history kept within a
// token budget, the knowledge the assistant is grounded in (behind ContextSource, which
// the retrieval issue implements), and the rules for rendering both into a model
// request. The session loop that drives VAD → STT → turn → LLM → TTS through it is
// being built in the voice pipeline issue.
package agent
