package vad

import "errors"

// ErrInvalidConfig means a Config value is out of range; the wrapped message
// names each bad field and the range it must lie in. Match it with errors.Is.
var ErrInvalidConfig = errors.New("invalid vad config")
