// Package worker is the assistant's worker process: it joins a LiveKit room as an
// ordinary participant with server-sdk-go, decodes every participant's audio to 16 kHz
// mono PCM through media-sdk, publishes its own voice track and speaks through a
// text-to-speech provider. For now the worker serves one configured room; the
// dispatcher issue turns rooms into jobs assigned to a pool of workers.
//
// Goroutines: Run owns the rejoin loop; each session owns its speaker goroutine and
// stops it before returning; media-sdk's decoders end when their track is closed,
// which the session does on unsubscribe and on leave.
package worker
