// Package stt defines the speech-to-text interface used by the voice
// pipeline and provides two recognizers: OpenAI, which sends each utterance
// to an OpenAI-compatible /audio/transcriptions endpoint, and Pocketsphinx,
// which decodes offline with Debian's libpocketsphinx and its US English
// model.
//
// A Recognizer transcribes one whole utterance at a time: the pipeline's
// voice activity detector decides where an utterance starts and ends, and
// hands over 16 kHz mono 16-bit PCM.
package stt
