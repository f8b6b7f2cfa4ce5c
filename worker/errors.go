package worker

import "errors"

var (
	// ErrJoin means the room could not be joined or the voice track not published.
	ErrJoin = errors.New("join room")
	// ErrDisconnected means the connection to the room was lost.
	ErrDisconnected = errors.New("disconnected from room")
)
