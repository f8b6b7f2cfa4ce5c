package stt

import "errors"

// Sentinel errors returned (wrapped) by this package. Match them with
// errors.Is.
var (
	// ErrInvalidConfig means a recognizer configuration value is out of
	// range.
	ErrInvalidConfig = errors.New("invalid stt config")
	// ErrProviderUnavailable means the recognizer cannot run on this
	// machine, for example because its model files are not installed.
	ErrProviderUnavailable = errors.New("stt provider unavailable")
	// ErrInvalidAudio means the utterance cannot be transcribed as given:
	// it is empty, has no usable sample rate or is too large.
	ErrInvalidAudio = errors.New("invalid utterance audio")
	// ErrProvider means the recognizer ran but failed, for example because
	// the remote API answered with an error status.
	ErrProvider = errors.New("stt provider failed")
	// ErrClosed means the recognizer has been closed.
	ErrClosed = errors.New("stt recognizer closed")
)
