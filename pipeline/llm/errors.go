package llm

import "errors"

// Sentinel errors returned (wrapped) by this package. Match them with
// errors.Is.
var (
	// ErrInvalidConfig means a configuration value is missing or out of
	// range.
	ErrInvalidConfig = errors.New("invalid llm config")
	// ErrInvalidRequest means a Request cannot be sent: no messages, an
	// unknown role, or parameters the model does not accept.
	ErrInvalidRequest = errors.New("invalid llm request")
	// ErrProvider means the provider failed: an HTTP error status (given in
	// the message; the go-openai error is wrapped too), a broken connection
	// or a malformed stream.
	ErrProvider = errors.New("llm provider failed")
	// ErrTimeout means the provider sent no first token within the first
	// token timeout, or did not finish within the overall timeout.
	ErrTimeout = errors.New("llm timed out")
)
