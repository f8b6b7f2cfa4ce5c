package config

import "errors"

// ErrInvalid marks a configuration that cannot be used; the message says what to change.
var ErrInvalid = errors.New("invalid configuration")
