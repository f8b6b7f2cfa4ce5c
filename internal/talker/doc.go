// Package talker is a scripted human participant for tests and benchmarks: it joins a
// LiveKit room, speaks clips on a published microphone, and records, at the
// participant, what it hears from the assistant (its decoded audio as a timeline of
// 10 ms levels) and every caption published on "lk.transcription".
//
// # Timing
//
// Both ends are measured on this process's clock (time.Now, with its monotonic
// reading), so a talker and the times it reports can be compared with any other
// time.Time taken in the same process.
//
// Sending. The microphone is media-sdk's PCMLocalTrack, which plays queued audio in
// real time in 10 ms frames and sends silence when nothing is queued. Say queues a
// clip and reports when its first and last sample are expected to be sent: now, or
// when what was queued before ends, plus the clip's duration. The track takes queued
// audio at its next 10 ms tick, so the real send of the first sample is up to 10 ms
// after Spoken.Start.
//
// Receiving. The assistant's track is decoded by media-sdk's PCMRemoteTrack (Opus,
// jitter buffer, resampling to 16 kHz mono), which hands over decoded audio in chunks
// of variable length, sometimes several at once after the jitter buffer held them.
// Each chunk is stamped with the time it arrived and cut into 10 ms windows of the
// continuous stream; a window's receive time is when its last sample arrived: the
// arrival time of its chunk less the duration of the samples after it in that chunk.
// The last window of a chunk therefore carries the arrival time and earlier ones are
// proportionally earlier, so a long chunk does not push onsets and offsets late.
// Receive times never go backwards: a window computed earlier than the one before it
// (a burst of chunks) takes the earlier window's time.
//
// A window is loud when its RMS level is above the caller's threshold in dBFS, and
// silent otherwise. A change from silence to sound lies somewhere in the first loud
// window, and SoundAfter reports that window's receive time; a change from sound to
// silence lies in the last loud window, and SilenceAfter reports when the first silent
// window began to arrive, which is the end of that last loud window. Both are thus at
// most one window (10 ms) late, and a gap measured between them is unbiased.
//
// Goroutines: Join starts none of its own. The LiveKit SDK runs the room, its
// callbacks and one goroutine per incoming text stream; media-sdk runs the
// microphone's pacing loop and one decoder per subscribed assistant track. Close
// leaves the room and closes the tracks, which ends them all.
package talker
