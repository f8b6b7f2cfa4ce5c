package audio

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"
)

// wavBuilder assembles RIFF/WAVE files chunk by chunk for tests.
type wavBuilder struct {
	chunks []byte
}

// chunk appends a chunk with the given id and body, adding the pad byte for
// odd sizes. declared overrides the size field when non-negative.
func (b *wavBuilder) chunk(id string, body []byte, declared int64) *wavBuilder {
	size := uint32(len(body))
	if declared >= 0 {
		size = uint32(declared)
	}
	b.chunks = append(b.chunks, id...)
	b.chunks = binary.LittleEndian.AppendUint32(b.chunks, size)
	b.chunks = append(b.chunks, body...)
	if len(body)%2 == 1 && declared < 0 {
		b.chunks = append(b.chunks, 0)
	}
	return b
}

func (b *wavBuilder) fmtPCM(channels, rate, bits int) *wavBuilder {
	return b.chunk("fmt ", fmtBody(wavFormatPCM, channels, rate, bits), -1)
}

func (b *wavBuilder) bytes() []byte {
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(b.chunks)))
	out = append(out, "WAVE"...)
	return append(out, b.chunks...)
}

// fmtBody returns a 16-byte fmt chunk body.
func fmtBody(code, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, uint16(code))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	return le.AppendUint16(b, uint16(bits))
}

// extensibleBody returns a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk body with
// the given sub-format code.
func extensibleBody(channels, rate, subFormat int) []byte {
	le := binary.LittleEndian
	b := fmtBody(wavFormatExtensible, channels, rate, 16)
	b = le.AppendUint16(b, 22) // cbSize
	b = le.AppendUint16(b, 16) // valid bits
	b = le.AppendUint32(b, 0)  // channel mask
	b = le.AppendUint16(b, uint16(subFormat))
	return append(b, pcmSubFormatTail...)
}

func pcmBytes(samples ...int16) []byte {
	var b []byte
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func TestWAVRoundTrip(t *testing.T) {
	for _, rate := range []int{1, 8000, 16000, 22050, 44100, 48000, MaxSampleRate} {
		in := Sine(rate, 440, 50*time.Millisecond, 0.8)
		in.Samples = append(in.Samples, -32768, 32767, 0) // extremes survive too
		data := EncodeWAV(in)
		if got, want := len(data), 44+2*len(in.Samples); got != want {
			t.Errorf("rate %d: EncodeWAV length = %d, want %d", rate, got, want)
		}
		out, err := DecodeWAV(data)
		if err != nil {
			t.Fatalf("rate %d: DecodeWAV(EncodeWAV) error: %v", rate, err)
		}
		if out.SampleRate != rate {
			t.Errorf("rate %d: decoded rate = %d", rate, out.SampleRate)
		}
		if !slices.Equal(out.Samples, in.Samples) {
			t.Errorf("rate %d: decoded %d samples differ from the %d encoded", rate, len(out.Samples), len(in.Samples))
		}
	}
}

func TestEncodeWAVEmpty(t *testing.T) {
	out, err := DecodeWAV(EncodeWAV(Clip{SampleRate: 16000}))
	if err != nil {
		t.Fatalf("DecodeWAV(empty clip) error: %v", err)
	}
	if out.SampleRate != 16000 || len(out.Samples) != 0 {
		t.Errorf("got rate %d with %d samples, want 16000 with 0", out.SampleRate, len(out.Samples))
	}
}

func TestDecodeWAVStereoDownmix(t *testing.T) {
	// Interleaved L/R pairs and their expected averages.
	data := new(wavBuilder).fmtPCM(2, 44100, 16).
		chunk("data", pcmBytes(100, 300, -100, -300, 32767, 32767, -32768, -32768, 32767, -32768, 7, 0), -1).
		bytes()
	want := []int16{200, -200, 32767, -32768, 0, 3}
	got, err := DecodeWAV(data)
	if err != nil {
		t.Fatalf("DecodeWAV(stereo) error: %v", err)
	}
	if got.SampleRate != 44100 {
		t.Errorf("rate = %d, want 44100", got.SampleRate)
	}
	if !slices.Equal(got.Samples, want) {
		t.Errorf("downmix = %v, want %v", got.Samples, want)
	}
}

func TestDecodeWAVPlaceholderDataSize(t *testing.T) {
	// espeak-ng --stdout streams with 0x7FFFF000-style placeholder sizes and
	// the stream may end in the middle of a sample.
	for _, declared := range []int64{0x7FFFF000, 0x7FFFFFFF, 0xFFFFFFFF} {
		body := append(pcmBytes(1, 2, 3, -4), 0x55) // odd trailing byte
		b := new(wavBuilder).fmtPCM(1, 22050, 16).chunk("data", body, declared).bytes()
		binary.LittleEndian.PutUint32(b[4:8], 0x7FFFFFFF) // placeholder RIFF size too
		got, err := DecodeWAV(b)
		if err != nil {
			t.Fatalf("declared %#x: DecodeWAV error: %v", declared, err)
		}
		if want := []int16{1, 2, 3, -4}; !slices.Equal(got.Samples, want) {
			t.Errorf("declared %#x: samples = %v, want %v", declared, got.Samples, want)
		}
	}
}

func TestDecodeWAVOddChunkPadding(t *testing.T) {
	// A LIST chunk with an odd size (padded by one byte) and an odd-sized
	// unknown chunk sit between fmt and data.
	list := []byte("INFOISFT\x05\x00\x00\x00test\x00") // 17 bytes
	data := new(wavBuilder).
		chunk("junk", []byte{1, 2, 3}, -1).
		fmtPCM(1, 16000, 16).
		chunk("LIST", list, -1).
		chunk("data", pcmBytes(10, -10, 20), -1).
		chunk("id3 ", []byte("trailer"), -1).
		bytes()
	got, err := DecodeWAV(data)
	if err != nil {
		t.Fatalf("DecodeWAV error: %v", err)
	}
	if want := []int16{10, -10, 20}; !slices.Equal(got.Samples, want) || got.SampleRate != 16000 {
		t.Errorf("got %d Hz %v, want 16000 Hz %v", got.SampleRate, got.Samples, want)
	}
}

func TestDecodeWAVExtensible(t *testing.T) {
	data := new(wavBuilder).
		chunk("fmt ", extensibleBody(2, 48000, wavFormatPCM), -1).
		chunk("data", pcmBytes(2, 4, -2, -4), -1).
		bytes()
	got, err := DecodeWAV(data)
	if err != nil {
		t.Fatalf("DecodeWAV(extensible pcm) error: %v", err)
	}
	if want := []int16{3, -3}; !slices.Equal(got.Samples, want) || got.SampleRate != 48000 {
		t.Errorf("got %d Hz %v, want 48000 Hz %v", got.SampleRate, got.Samples, want)
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	valid := EncodeWAV(Clip{SampleRate: 8000, Samples: []int16{1, 2, 3}})
	withRIFF := func(b *wavBuilder) []byte { return b.bytes() }
	dataChunk := func(b *wavBuilder) *wavBuilder { return b.chunk("data", pcmBytes(1, 2), -1) }

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, ErrNotWAV},
		{"empty", []byte{}, ErrNotWAV},
		{"short garbage", []byte("hello"), ErrNotWAV},
		{"riff only", []byte("RIFF"), ErrTruncated},
		{"riff cut in size", []byte("RIFF\x00\x00\x00\x00WAV"), ErrTruncated},
		{"not riff", append([]byte("RIFX"), valid[4:]...), ErrNotWAV},
		{"not wave", append(append([]byte{}, valid[:8]...), append([]byte("AVI "), valid[12:]...)...), ErrNotWAV},
		{"header only", valid[:12], ErrTruncated},
		{"cut in fmt chunk header", valid[:18], ErrTruncated},
		{"cut in fmt body", valid[:30], ErrTruncated},
		{"cut before data", valid[:36], ErrTruncated},
		{"no fmt", withRIFF(dataChunk(new(wavBuilder))), ErrTruncated},
		{"no data", withRIFF(new(wavBuilder).fmtPCM(1, 8000, 16)), ErrTruncated},
		{"data before cut fmt", withRIFF(dataChunk(new(wavBuilder)).chunk("fmt ", fmtBody(1, 1, 8000, 16)[:10], 16)), ErrTruncated},
		{"fmt too small", withRIFF(dataChunk(new(wavBuilder).chunk("fmt ", fmtBody(1, 1, 8000, 16)[:14], -1))), ErrTruncated},
		{"extensible too small", withRIFF(dataChunk(new(wavBuilder).chunk("fmt ", extensibleBody(1, 8000, 1)[:18], -1))), ErrTruncated},
		{"float", withRIFF(dataChunk(new(wavBuilder).chunk("fmt ", fmtBody(3, 1, 8000, 32), -1))), ErrUnsupportedFormat},
		{"mu-law", withRIFF(dataChunk(new(wavBuilder).chunk("fmt ", fmtBody(7, 1, 8000, 8), -1))), ErrUnsupportedFormat},
		{"extensible float", withRIFF(dataChunk(new(wavBuilder).chunk("fmt ", extensibleBody(1, 8000, 3), -1))), ErrUnsupportedFormat},
		{"8 bit", withRIFF(dataChunk(new(wavBuilder).fmtPCM(1, 8000, 8))), ErrUnsupportedFormat},
		{"24 bit", withRIFF(dataChunk(new(wavBuilder).fmtPCM(1, 8000, 24))), ErrUnsupportedFormat},
		{"zero channels", withRIFF(dataChunk(new(wavBuilder).fmtPCM(0, 8000, 16))), ErrUnsupportedFormat},
		{"three channels", withRIFF(dataChunk(new(wavBuilder).fmtPCM(3, 8000, 16))), ErrUnsupportedFormat},
		{"zero rate", withRIFF(dataChunk(new(wavBuilder).fmtPCM(1, 0, 16))), ErrUnsupportedFormat},
		{"rate too high", withRIFF(dataChunk(new(wavBuilder).fmtPCM(1, MaxSampleRate+1, 16))), ErrUnsupportedFormat},
		{"too large", make([]byte, MaxWAVBytes+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWAV(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeWAV() error = %v, want errors.Is(err, %v)", err, tt.want)
			}
			if got.SampleRate != 0 || got.Samples != nil {
				t.Errorf("DecodeWAV() returned clip %+v alongside error, want zero clip", got)
			}
		})
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(EncodeWAV(Sine(16000, 440, 10*time.Millisecond, 0.5)))
	f.Add(EncodeWAV(Clip{SampleRate: 8000}))
	f.Add(new(wavBuilder).fmtPCM(2, 44100, 16).chunk("LIST", []byte("abc"), -1).chunk("data", pcmBytes(1, 2, 3, 4), -1).bytes())
	f.Add(new(wavBuilder).fmtPCM(1, 22050, 16).chunk("data", pcmBytes(5, 6, 7), 0x7FFFF000).bytes())
	f.Add(new(wavBuilder).chunk("fmt ", extensibleBody(1, 48000, 1), -1).chunk("data", pcmBytes(9), -1).bytes())
	f.Add(new(wavBuilder).chunk("fmt ", extensibleBody(1, 48000, 3), -1).chunk("data", pcmBytes(9), -1).bytes())
	f.Add(new(wavBuilder).fmtPCM(1, 8000, 8).bytes())
	f.Add([]byte("RIFF"))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		clip, err := DecodeWAV(data)
		if err != nil {
			return
		}
		if clip.SampleRate < 1 || clip.SampleRate > MaxSampleRate {
			t.Fatalf("decoded sample rate %d outside 1..%d", clip.SampleRate, MaxSampleRate)
		}
		again, err := DecodeWAV(EncodeWAV(clip))
		if err != nil {
			t.Fatalf("re-encoded clip does not decode: %v", err)
		}
		if again.SampleRate != clip.SampleRate || !slices.Equal(again.Samples, clip.Samples) {
			t.Fatalf("re-encode changed clip: %d Hz/%d samples, want %d Hz/%d samples",
				again.SampleRate, len(again.Samples), clip.SampleRate, len(clip.Samples))
		}
	})
}
