package audio

import "errors"

// Sentinel errors returned (wrapped) by DecodeWAV. Match them with errors.Is.
var (
	// ErrNotWAV means the input does not start with a RIFF/WAVE header.
	ErrNotWAV = errors.New("not a riff/wave file")
	// ErrUnsupportedFormat means the input is a WAV file, but not 16-bit PCM
	// with one or two channels at a supported sample rate.
	ErrUnsupportedFormat = errors.New("unsupported wav format")
	// ErrTruncated means the header is cut short or a required chunk
	// ("fmt " or "data") is missing.
	ErrTruncated = errors.New("truncated wav file")
	// ErrTooLarge means the input is larger than MaxWAVBytes.
	ErrTooLarge = errors.New("wav file too large")
)
