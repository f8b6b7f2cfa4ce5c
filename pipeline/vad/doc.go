// Package vad finds where speech starts and stops in a stream of 16-bit mono
// PCM: voice activity detection for the voice pipeline, in plain Go.
//
// A Detector takes samples in chunks of any size, buffers them into fixed
// analysis frames (20ms by default) and makes one voiced/unvoiced decision
// per frame. Process returns SpeechStart and SpeechEnd events, which always
// alternate, starting with SpeechStart. It is synchronous and does no I/O;
// callers add concurrency.
//
// # Approach
//
// This is an energy detector with an adaptive noise floor, chosen because it
// is cheap (a few floating-point operations per sample, about a microsecond
// per 20ms frame), predictable and needs no model files:
//
//   - Each frame is passed through a first-order DC-blocking high-pass filter
//     (corner 100 Hz), which removes a microphone's DC offset and weakens
//     mains hum; the frame's RMS level is then measured in dBFS.
//   - A frame is voiced when its level exceeds the noise floor by
//     Config.MarginDB and also exceeds Config.MinLevelDBFS. Inside a
//     confirmed speech run both thresholds are lowered by half the margin:
//     this hysteresis keeps quiet phonemes (in noise, or from a quiet talker)
//     from ending the run early or splitting it, while onsets still need the
//     full margin.
//   - The noise floor starts at the first frame's level and learns only from
//     unvoiced frames outside speech: it rises with time constant
//     Config.NoiseAdapt and falls twenty times faster, so it tracks a room
//     that gets quieter almost at once and one that gets louder slowly.
//     Single silent frames (packet loss, digital silence) cannot drag it far,
//     and it is kept at or above MinLevelDBFS - MarginDB, below which it
//     would change no decision.
//   - Speech is confirmed once Config.MinSpeech of voiced frames has been
//     seen, counted from the first voiced frame (the onset) and within twice
//     MinSpeech of it: at least half of the frames from the onset must be
//     voiced, which rejects clicks, pops and sparse taps such as typing. The
//     onset slides forward to the next voiced frame when it lies further
//     back, and a candidate is dropped after MinSilence without a voiced
//     frame.
//   - Speech ends after Config.MinSilence of unvoiced frames; shorter gaps
//     (stop consonants, short breaths) stay inside the run. SpeechEnd's time
//     is the end of the last voiced frame, at least MinSilence before the
//     moment it is reported.
//   - A stretch of four seconds with no unvoiced frame at all is taken for a
//     step in the background (a fan switched on, a steady tone) rather than
//     speech, which dips between syllables and words: the floor jumps to the
//     quietest frame of that stretch, and the run ends after MinSilence. Without
//     this a background that got louder by more than MarginDB at once would
//     read as endless speech, since the floor does not adapt during speech.
//     A step smaller than MarginDB is simply absorbed by the floor.
//
// SpeechStart carries Config.PrePad of audio from before the onset plus the
// audio up to confirmation, kept in a fixed ring buffer, so a recognizer
// started on SpeechStart hears the first phoneme. Process allocates only the
// events it returns and their audio.
//
// # Limits
//
// The floor starts at the first frame's level, so a stream that opens in the
// middle of speech loses its first words until a pause lets the floor fall.
// An energy detector cannot tell speech from other sounds as loud and as
// varied as speech: music, a second talker, loud typing close to the
// microphone. No zero-crossing or spectral guard is applied: on the test
// material (espeak-ng speech, white noise, noise steps, clicks) it was not
// needed, and such guards reject real fricatives and whispered speech. A
// model-based detector can replace this one behind the same events.
package vad
