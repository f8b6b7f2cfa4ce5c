// Package turn decides when the user has finished speaking, and whether a
// short utterance during the assistant's reply is only an acknowledgement.
//
// A Detector watches the voice activity (from package vad) and the
// transcript as audio time advances, and reports the end of each turn once.
// Silence, the detector provided here, ends a turn after a fixed silence
// following speech; a smarter one, for example a model that reads the
// transcript and waits for an unfinished sentence, can replace it behind the
// same interface. Detectors are synchronous and keep no clock of their own:
// time is whatever the caller passes in, normally stream time, so tests and
// replays are deterministic.
//
// IsBackchannel classifies an utterance such as "mm-hm" or "okay, got it" as
// a listener's acknowledgement, which should not interrupt the assistant,
// rather than an attempt to take the turn ("wait", "okay so what is the
// budget"), which should.
package turn
