package tts

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

// StreamSynthesizer delivers audio as it is produced.
//
// SynthesizeStream speaks text and calls onAudio, from the calling
// goroutine and one call at a time, with consecutive mono 16-bit chunks at
// the provider's native sample rate, each typically 20 to 100 ms long (the
// last may be shorter). onAudio may keep the chunks it is given. If onAudio
// returns an error, synthesis stops and SynthesizeStream returns that error
// unchanged. Implementations must be safe for concurrent use and honour
// ctx as Synthesizer does.
type StreamSynthesizer interface {
	SynthesizeStream(ctx context.Context, text string, onAudio func(audio.Clip) error) error
}

var (
	_ StreamSynthesizer = (*Espeak)(nil)
	_ StreamSynthesizer = (*OpenAI)(nil)
)

// Chunk lengths used by the streaming providers.
const (
	// minStreamChunk is the shortest chunk delivered before the end of the
	// audio; shorter reads from the network wait for more.
	minStreamChunk = 20 * time.Millisecond
	// maxStreamChunk is the longest chunk delivered.
	maxStreamChunk = 100 * time.Millisecond
)

// samplesPer returns how many samples at rate make up d, at least one.
func samplesPer(d time.Duration, rate int) int {
	return max(1, int(int64(rate)*int64(d)/int64(time.Second)))
}

// SynthesizeStream runs espeak-ng as Synthesize does, then hands the clip
// to onAudio in 100 ms chunks at EspeakSampleRate, checking ctx between
// them. espeak-ng is fast enough (tens of times real time) that waiting for
// the whole clip costs little.
func (e *Espeak) SynthesizeStream(ctx context.Context, text string, onAudio func(audio.Clip) error) error {
	clip, err := e.Synthesize(ctx, text)
	if err != nil {
		return err
	}
	size := samplesPer(maxStreamChunk, clip.SampleRate)
	for start := 0; start < len(clip.Samples); start += size {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("espeak-ng: %w", err)
		}
		end := min(start+size, len(clip.Samples))
		// The capacity limit keeps an append to one chunk from
		// overwriting the next.
		if err := onAudio(audio.Clip{SampleRate: clip.SampleRate, Samples: clip.Samples[start:end:end]}); err != nil {
			return err
		}
	}
	return nil
}

// audioStream decodes audio that arrives in pieces cut anywhere.
type audioStream interface {
	// write adds p to the stream and delivers every whole chunk now
	// available.
	write(p []byte, deliver func(audio.Clip) error) error
	// flush delivers what remains at the end of the stream.
	flush(deliver func(audio.Clip) error) error
}

var (
	_ audioStream = (*pcmChunker)(nil)
	_ audioStream = (*wavStream)(nil)
)

// pcmChunker turns a byte stream of 16-bit little-endian mono PCM, cut
// anywhere (even inside a sample), into chunks of minStreamChunk to
// maxStreamChunk.
type pcmChunker struct {
	rate     int
	minBytes int
	maxBytes int
	pending  []byte // received, not yet delivered; may end in half a sample
}

// newPCMChunker returns a chunker for PCM at rate.
func newPCMChunker(rate int) *pcmChunker {
	return &pcmChunker{
		rate:     rate,
		minBytes: 2 * samplesPer(minStreamChunk, rate),
		maxBytes: 2 * samplesPer(maxStreamChunk, rate),
	}
}

// write adds p to the stream and delivers every whole chunk now available.
func (c *pcmChunker) write(p []byte, deliver func(audio.Clip) error) error {
	c.pending = append(c.pending, p...)
	return c.drain(c.minBytes, deliver)
}

// flush delivers whatever whole samples remain at the end of the stream. A
// trailing odd byte, half a sample, is dropped.
func (c *pcmChunker) flush(deliver func(audio.Clip) error) error {
	return c.drain(2, deliver)
}

// drain delivers chunks of at most maxBytes while at least least bytes are
// pending.
func (c *pcmChunker) drain(least int, deliver func(audio.Clip) error) error {
	off := 0
	for len(c.pending)-off >= least {
		n := min(len(c.pending)-off, c.maxBytes) &^ 1
		samples := make([]int16, n/2)
		for i := range samples {
			samples[i] = int16(binary.LittleEndian.Uint16(c.pending[off+2*i:]))
		}
		off += n
		if err := deliver(audio.Clip{SampleRate: c.rate, Samples: samples}); err != nil {
			return err
		}
	}
	c.pending = c.pending[:copy(c.pending, c.pending[off:])]
	return nil
}

// maxWAVHeaderBytes bounds how much of a WAV stream is buffered while
// looking for its "data" chunk.
const maxWAVHeaderBytes = 64 << 10

// wavStream decodes a streamed WAV file: it buffers the header until the
// "data" chunk starts, learns the sample rate from it, then streams the
// samples through a pcmChunker. The data chunk's declared size is ignored,
// because streaming servers cannot know it when they write the header and
// put a placeholder there (OpenAI writes 0xFFFFFFFF).
type wavStream struct {
	header []byte
	pcm    *pcmChunker // nil until the header is complete
}

// write adds p to the stream and delivers every whole chunk now available.
func (w *wavStream) write(p []byte, deliver func(audio.Clip) error) error {
	if w.pcm != nil {
		return w.pcm.write(p, deliver)
	}
	w.header = append(w.header, p...)
	rate, dataStart, err := parseWAVStreamHeader(w.header)
	if err != nil || dataStart == 0 {
		return err
	}
	w.pcm = newPCMChunker(rate)
	rest := w.header[dataStart:]
	w.header = nil
	return w.pcm.write(rest, deliver)
}

// flush delivers the remaining samples at the end of the stream.
func (w *wavStream) flush(deliver func(audio.Clip) error) error {
	if w.pcm == nil {
		return fmt.Errorf("wav stream ended after %d bytes, before its data chunk", len(w.header))
	}
	return w.pcm.flush(deliver)
}

// parseWAVStreamHeader looks for the start of the "data" chunk in the
// first bytes of a WAV stream. It returns dataStart 0 while more bytes are
// needed; once the data chunk's header is in buf it returns the sample rate
// and the offset of the first sample. The format must be 16-bit PCM mono.
func parseWAVStreamHeader(buf []byte) (rate, dataStart int, err error) {
	if len(buf) >= 4 && string(buf[:4]) != "RIFF" || len(buf) >= 12 && string(buf[8:12]) != "WAVE" {
		return 0, 0, errors.New("audio stream is not a riff/wave file")
	}
	var channels uint16
	haveFmt := false
	for off := 12; off+8 <= len(buf); {
		id, size := string(buf[off:off+4]), int64(binary.LittleEndian.Uint32(buf[off+4:off+8]))
		body := off + 8
		if id == "data" {
			if !haveFmt {
				return 0, 0, errors.New("wav stream has no fmt chunk before its data")
			}
			// DecodeWAV validates the format; the header alone decodes to
			// an empty clip at the stream's rate.
			clip, err := audio.DecodeWAV(buf[:body])
			if err != nil {
				return 0, 0, fmt.Errorf("wav stream header: %w", err)
			}
			if channels != 1 {
				return 0, 0, fmt.Errorf("wav stream has %d channels, want mono", channels)
			}
			return clip.SampleRate, body, nil
		}
		next := int64(body) + size + size&1
		if next > int64(len(buf)) {
			break // the chunk's body has not all arrived yet
		}
		if id == "fmt " && !haveFmt && size >= 4 {
			channels, haveFmt = binary.LittleEndian.Uint16(buf[body+2:body+4]), true
		}
		off = int(next)
	}
	if len(buf) > maxWAVHeaderBytes {
		return 0, 0, fmt.Errorf("no wav data chunk in the first %d bytes", maxWAVHeaderBytes)
	}
	return 0, 0, nil
}
