// Package tts defines the text-to-speech provider interface used by the
// voice pipeline and provides an offline implementation backed by the
// espeak-ng command-line synthesizer.
//
// Providers turn text into an audio.Clip. Streaming providers (for example
// OpenAI-compatible HTTP services) can build on the same interface.
package tts
