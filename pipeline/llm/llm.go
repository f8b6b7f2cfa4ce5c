package llm

import (
	"context"
	"encoding/json"
)

// Role says who wrote a message.
type Role string

// Roles of conversation messages.
const (
	// RoleSystem carries instructions and retrieved knowledge.
	RoleSystem Role = "system"
	// RoleUser is something a participant said.
	RoleUser Role = "user"
	// RoleAssistant is something the assistant said, or the tools it called.
	RoleAssistant Role = "assistant"
	// RoleTool is the result of a tool call.
	RoleTool Role = "tool"
)

// Message is one turn of the conversation.
type Message struct {
	// Role says who wrote the message.
	Role Role
	// Content is the text of the message.
	Content string
	// Name identifies the speaker of a user message in a meeting with
	// several participants.
	Name string
	// ToolCalls are the tools an assistant message called.
	ToolCalls []ToolCall
	// ToolCallID links a tool message to the call it answers.
	ToolCallID string
	// Interrupted marks an assistant answer that a participant cut off; the
	// model sees it as Content + " [interrupted]".
	Interrupted bool
}

// ToolCall is one call of a tool by the model.
type ToolCall struct {
	// ID identifies the call; the tool message with its result carries it
	// as ToolCallID.
	ID string
	// Name is the tool's name.
	Name string
	// Arguments is the call's arguments as a JSON object.
	Arguments string
}

// Tool is a function the model may call.
type Tool struct {
	// Name is the tool's name, as the model will call it.
	Name string
	// Description tells the model what the tool does and when to use it.
	Description string
	// Parameters is the JSON schema of the arguments; empty means none.
	Parameters json.RawMessage
}

// Request is what to answer.
type Request struct {
	// Messages is the conversation so far, oldest first.
	Messages []Message
	// Tools are the tools the model may call.
	Tools []Tool
	// MaxTokens caps the answer's length; zero leaves it to the provider.
	MaxTokens int
	// Temperature sets the sampling temperature; nil leaves it to the
	// provider.
	Temperature *float32
}

// Delta is one piece of a streamed answer.
type Delta struct {
	// Text is the next piece of the answer's text.
	Text string
	// ToolCalls are complete tool calls, delivered once each is assembled.
	ToolCalls []ToolCall
}

// Model streams an answer. Stream calls onDelta for every piece as it
// arrives and returns when the answer is complete, ctx ends (returns
// ctx.Err()), or the provider fails. An error from onDelta stops the answer
// and is returned as is. Implementations are safe for concurrent use.
type Model interface {
	// Stream answers req, calling onDelta for each piece in order.
	Stream(ctx context.Context, req Request, onDelta func(Delta) error) error
	// Name describes the model for logs and metrics.
	Name() string
}
