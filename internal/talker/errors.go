package talker

import "errors"

var (
	// ErrConfig means the Config lacks something Join needs.
	ErrConfig = errors.New("talker config")
	// ErrJoin means the room could not be joined or the microphone not published.
	ErrJoin = errors.New("talker join")
	// ErrClosed means the talker was closed, so nothing more will be sent or received.
	ErrClosed = errors.New("talker closed")
)
