package embed

import "errors"

// Sentinel errors returned (wrapped) by this package. Match them with
// errors.Is.
var (
	// ErrInvalidConfig means an embedder's configuration is out of range.
	ErrInvalidConfig = errors.New("invalid embedder config")
	// ErrEmptyText means a text has nothing to embed: it is empty or only
	// white space, or (for Hashing) has no letters or digits. A zero
	// vector has no direction, so no vector is made for it.
	ErrEmptyText = errors.New("nothing to embed")
	// ErrProvider means a remote embedding API failed, for example with an
	// error status; the message leads with the HTTP status when there was
	// one.
	ErrProvider = errors.New("embedding provider failed")
	// ErrBadResponse means a remote embedding API answered, but not with
	// one usable vector of the configured length per input.
	ErrBadResponse = errors.New("bad embedding response")
)
