package tts

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

// pcmBytes returns samples as 16-bit little-endian PCM.
func pcmBytes(samples []int16) []byte {
	var b []byte
	for _, v := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// feed writes data to s in pieces of the given size and flushes it.
func feed(s audioStream, data []byte, size int, c *collector) error {
	for len(data) > 0 {
		n := min(size, len(data))
		if err := s.write(data[:n], c.onAudio); err != nil {
			return err
		}
		data = data[n:]
	}
	return s.flush(c.onAudio)
}

func TestPCMChunkerSplits(t *testing.T) {
	samples := audio.Sine(OpenAIPCMSampleRate, 440, 330*time.Millisecond, 0.5).Samples
	data := pcmBytes(samples)
	for _, size := range []int{1, 2, 3, 7, 959, 960, 961, 4799, 4800, 4801, 9999, len(data)} {
		var got collector
		if err := feed(newPCMChunker(OpenAIPCMSampleRate), data, size, &got); err != nil {
			t.Fatalf("reads of %d bytes: error %v", size, err)
		}
		if !slices.Equal(got.samples(), samples) {
			t.Errorf("reads of %d bytes: got %d samples back, want the %d sent, unchanged", size, len(got.samples()), len(samples))
		}
		checkChunks(t, got.chunks, OpenAIPCMSampleRate)
	}
}

func TestPCMChunkerTrailingHalfSample(t *testing.T) {
	var got collector
	data := append(pcmBytes([]int16{1, -2, 3}), 0x7f)
	if err := feed(newPCMChunker(OpenAIPCMSampleRate), data, 1, &got); err != nil {
		t.Fatalf("feed error: %v", err)
	}
	if !slices.Equal(got.samples(), []int16{1, -2, 3}) {
		t.Errorf("got %v, want [1 -2 3] with the trailing half sample dropped", got.samples())
	}
}

func TestPCMChunkerChunksIndependent(t *testing.T) {
	var got collector
	data := pcmBytes(audio.Sine(OpenAIPCMSampleRate, 440, 300*time.Millisecond, 0.5).Samples)
	if err := feed(newPCMChunker(OpenAIPCMSampleRate), data, 4801, &got); err != nil {
		t.Fatalf("feed error: %v", err)
	}
	first := slices.Clone(got.chunks[0].Samples)
	for i := range got.chunks[1].Samples {
		got.chunks[1].Samples[i] = 0
	}
	if !slices.Equal(got.chunks[0].Samples, first) {
		t.Errorf("chunks share memory: clearing chunk 1 changed chunk 0")
	}
}

func TestParseWAVStreamHeader(t *testing.T) {
	openAI := streamedWAVHeader(24000)
	withList := append(slices.Clone(openAI[:36]), "LIST\x03\x00\x00\x00abc\x00"...) // odd size, pad byte
	withList = append(withList, openAI[36:]...)
	stereo := slices.Clone(openAI)
	binary.LittleEndian.PutUint16(stereo[22:24], 2)
	eightBit := slices.Clone(openAI)
	binary.LittleEndian.PutUint16(eightBit[34:36], 8)
	dataFirst := append([]byte("RIFF\xff\xff\xff\xffWAVE"), openAI[36:]...)
	tests := []struct {
		name      string
		buf       []byte
		rate      int
		dataStart int
		wantErr   string
	}{
		{"openai header", openAI, 24000, 44, ""},
		{"with samples after", append(slices.Clone(openAI), 1, 2, 3), 24000, 44, ""},
		{"list chunk first", withList, 24000, 56, ""},
		{"22.05 kHz", streamedWAVHeader(22050), 22050, 44, ""},
		{"empty", nil, 0, 0, ""},
		{"riff only", openAI[:4], 0, 0, ""},
		{"fmt cut short", openAI[:30], 0, 0, ""},
		{"data id without size", openAI[:40], 0, 0, ""},
		{"not riff", []byte("ID3\x04"), 0, 0, "not a riff/wave"},
		{"not wave", []byte("RIFF\x00\x00\x00\x00AVI "), 0, 0, "not a riff/wave"},
		{"stereo", stereo, 0, 0, "2 channels"},
		{"8-bit", eightBit, 0, 0, "8 bits"},
		{"data before fmt", dataFirst, 0, 0, "no fmt chunk"},
		{"no data chunk in 64 KiB", append(append(slices.Clone(openAI[:36]), "junk\xf0\xff\x00\x00"...), make([]byte, maxWAVHeaderBytes)...), 0, 0, "no wav data chunk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate, dataStart, err := parseWAVStreamHeader(tt.buf)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseWAVStreamHeader() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || rate != tt.rate || dataStart != tt.dataStart {
				t.Errorf("parseWAVStreamHeader() = %d Hz, data at %d, %v; want %d Hz, data at %d", rate, dataStart, err, tt.rate, tt.dataStart)
			}
		})
	}
}

func TestWAVStreamSplits(t *testing.T) {
	samples := audio.Sine(16000, 440, 250*time.Millisecond, 0.5).Samples
	data := append(streamedWAVHeader(16000), pcmBytes(samples)...)
	for _, size := range []int{1, 3, 43, 44, 45, 641, len(data)} {
		var got collector
		if err := feed(&wavStream{}, data, size, &got); err != nil {
			t.Fatalf("reads of %d bytes: error %v", size, err)
		}
		if !slices.Equal(got.samples(), samples) {
			t.Errorf("reads of %d bytes: got %d samples back, want the %d sent, unchanged", size, len(got.samples()), len(samples))
		}
		checkChunks(t, got.chunks, 16000)
	}
}

func FuzzWAVStream(f *testing.F) {
	f.Add(append(streamedWAVHeader(24000), 1, 2, 3, 4, 5), 7)
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"), 1)
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"), 3)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		size = max(1, size%512)
		var got collector
		if err := feed(&wavStream{}, data, size, &got); err != nil {
			return
		}
		// A stream that decodes yields the whole samples after its header.
		rate, start, err := parseWAVStreamHeader(data)
		if err != nil || start == 0 {
			t.Fatalf("wavStream accepted %d bytes that parseWAVStreamHeader rejects: %d Hz, data at %d, %v", len(data), rate, start, err)
		}
		if want := (len(data) - start) / 2; len(got.samples()) != want {
			t.Errorf("decoded %d samples, want %d", len(got.samples()), want)
		}
	})
}

func TestEspeakSynthesizeStream(t *testing.T) {
	e := newTestEspeak(t)
	const text = "Hello Alice, welcome to the meeting."
	want, err := e.Synthesize(context.Background(), text)
	if err != nil {
		t.Fatalf("Synthesize() error: %v", err)
	}
	var got collector
	if err := e.SynthesizeStream(context.Background(), text, got.onAudio); err != nil {
		t.Fatalf("SynthesizeStream() error: %v", err)
	}
	if !slices.Equal(got.samples(), want.Samples) {
		t.Errorf("SynthesizeStream() delivered %d samples, want the %d Synthesize returns", len(got.samples()), len(want.Samples))
	}
	for i, c := range got.chunks {
		if c.SampleRate != EspeakSampleRate || (i < len(got.chunks)-1 && c.Duration() != maxStreamChunk) {
			t.Errorf("chunk %d of %d is %v at %d Hz, want %v at %d Hz", i, len(got.chunks), c.Duration(), c.SampleRate, maxStreamChunk, EspeakSampleRate)
		}
	}
	// Chunks are capped, so appending to one cannot overwrite the next.
	next := got.chunks[1].Samples[0]
	_ = append(got.chunks[0].Samples, 12345)
	if got.chunks[1].Samples[0] != next {
		t.Errorf("appending to chunk 0 overwrote chunk 1")
	}
}

func TestEspeakSynthesizeStreamStops(t *testing.T) {
	e := newTestEspeak(t)
	errStop := errors.New("listener left")
	calls := 0
	err := e.SynthesizeStream(context.Background(), "Hello Alice, welcome to the meeting.", func(audio.Clip) error {
		calls++
		return errStop
	})
	if err != errStop || calls != 1 {
		t.Errorf("SynthesizeStream() = %v after %d calls, want onAudio's error unchanged after 1", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls = 0
	err = e.SynthesizeStream(ctx, "Hello Alice, welcome to the meeting.", func(audio.Clip) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("SynthesizeStream() = %v after %d calls, want context.Canceled after 1", err, calls)
	}

	if err := e.SynthesizeStream(context.Background(), " ", (&collector{}).onAudio); !errors.Is(err, ErrEmptyText) {
		t.Errorf("SynthesizeStream(blank) error = %v, want ErrEmptyText", err)
	}
}
