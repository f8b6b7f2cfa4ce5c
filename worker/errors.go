package worker

import "errors"

var (
	// ErrJoin means the room could not be joined or the voice track not published.
	ErrJoin = errors.New("join room")
	// ErrDisconnected means the connection to the room was lost.
	ErrDisconnected = errors.New("disconnected from room")
	// ErrReplaced means another participant joined the room with the assistant's
	// identity, and LiveKit sent this one away: another session has the room now
	// (the dispatcher moved it), so this one must not join again.
	ErrReplaced = errors.New("replaced in the room by another session with the same identity")
)
