package tts

import "errors"

// Sentinel errors returned (wrapped) by this package. Match them with
// errors.Is.
var (
	// ErrProviderUnavailable means the provider cannot run on this machine,
	// for example because its binary is not installed.
	ErrProviderUnavailable = errors.New("tts provider unavailable")
	// ErrInvalidConfig means a provider configuration value is out of range.
	ErrInvalidConfig = errors.New("invalid tts config")
	// ErrEmptyText means the text to speak is empty or only whitespace.
	ErrEmptyText = errors.New("empty text")
	// ErrTextTooLong means the text to speak exceeds the provider's limit.
	ErrTextTooLong = errors.New("text too long")
	// ErrSynthesisFailed means the provider ran but produced no usable audio.
	ErrSynthesisFailed = errors.New("speech synthesis failed")
)
