// Package audio holds the audio plumbing shared by the worker and the voice
// pipeline: a small in-memory clip type for 16-bit signed mono PCM, a
// tolerant WAV decoder and a canonical WAV encoder, level measurement,
// sample-rate conversion, tone generation for tests, and fixed-size framing
// for pacing audio into a track.
//
// All sample data is 16-bit signed little-endian PCM with a single channel;
// stereo input is downmixed to mono when it is decoded.
package audio
