package audio

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// MaxWAVBytes is the largest input DecodeWAV accepts (64 MiB).
const MaxWAVBytes = 64 << 20

// MaxSampleRate is the highest sample rate DecodeWAV accepts, in Hz.
const MaxSampleRate = 384000

const (
	wavFormatPCM        = 0x0001
	wavFormatExtensible = 0xFFFE

	riffHeaderSize = 12 // "RIFF", size, "WAVE"
	chunkHeaderLen = 8  // id, size
	fmtMinSize     = 16 // PCM fmt chunk body
	fmtExtSize     = 40 // WAVE_FORMAT_EXTENSIBLE fmt chunk body
	wavHeaderSize  = riffHeaderSize + chunkHeaderLen + fmtMinSize + chunkHeaderLen
)

// pcmSubFormatTail is bytes 2..15 of the KSDATAFORMAT_SUBTYPE_PCM GUID as
// stored in a WAVE_FORMAT_EXTENSIBLE fmt chunk; bytes 0..1 hold the format
// code (1 for PCM).
var pcmSubFormatTail = []byte{
	0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
}

// wavFormat is the part of a "fmt " chunk that DecodeWAV needs.
type wavFormat struct {
	code       uint16
	channels   uint16
	sampleRate uint32
	bits       uint16
}

// DecodeWAV parses a RIFF/WAVE file holding 16-bit PCM with one or two
// channels and returns it as a mono clip; stereo is downmixed by averaging
// the two channels.
//
// Chunks are walked in order (odd-sized chunks carry one pad byte) and
// unknown chunks are skipped. The "fmt " chunk must describe PCM (format 1,
// or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format) at 1..MaxSampleRate Hz.
// A "data" chunk whose declared size runs past the end of the input, as
// written by streaming encoders such as espeak-ng --stdout, is read up to the
// last whole sample frame present.
//
// Errors wrap ErrNotWAV, ErrUnsupportedFormat, ErrTruncated or ErrTooLarge.
// DecodeWAV never panics, whatever the input.
func DecodeWAV(data []byte) (Clip, error) {
	if len(data) > MaxWAVBytes {
		return Clip{}, fmt.Errorf("%w: %d bytes exceeds limit of %d", ErrTooLarge, len(data), MaxWAVBytes)
	}
	if len(data) < riffHeaderSize {
		if len(data) >= 4 && string(data[:4]) == "RIFF" {
			return Clip{}, fmt.Errorf("%w: riff header is %d bytes, want %d", ErrTruncated, len(data), riffHeaderSize)
		}
		return Clip{}, fmt.Errorf("%w: input is %d bytes", ErrNotWAV, len(data))
	}
	if string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return Clip{}, fmt.Errorf("%w: missing riff/wave magic", ErrNotWAV)
	}

	var (
		format    wavFormat
		haveFmt   bool
		body      []byte
		haveData  bool
		remaining = data[riffHeaderSize:]
	)
	for len(remaining) >= chunkHeaderLen && !(haveFmt && haveData) {
		id := string(remaining[0:4])
		size := uint64(binary.LittleEndian.Uint32(remaining[4:8]))
		remaining = remaining[chunkHeaderLen:]
		present := min(size, uint64(len(remaining)))
		chunk := remaining[:present]

		switch id {
		case "fmt ":
			if !haveFmt { // keep the first fmt chunk
				f, err := parseFmt(chunk, size)
				if err != nil {
					return Clip{}, err
				}
				format, haveFmt = f, true
			}
		case "data":
			if !haveData {
				body, haveData = chunk, true
			}
		}

		// Skip the chunk body and its pad byte; stop when it runs off the end.
		next := size + size&1
		if next >= uint64(len(remaining)) {
			remaining = nil
			break
		}
		remaining = remaining[next:]
	}
	if !haveFmt {
		return Clip{}, fmt.Errorf("%w: no fmt chunk", ErrTruncated)
	}
	if !haveData {
		return Clip{}, fmt.Errorf("%w: no data chunk", ErrTruncated)
	}

	rate := int(format.sampleRate)
	samples := decodePCM16(body, int(format.channels))
	return Clip{SampleRate: rate, Samples: samples}, nil
}

// parseFmt validates a "fmt " chunk. chunk holds the bytes present and size
// is the declared chunk size.
func parseFmt(chunk []byte, size uint64) (wavFormat, error) {
	if size < fmtMinSize {
		return wavFormat{}, fmt.Errorf("%w: fmt chunk is %d bytes, want at least %d", ErrTruncated, size, fmtMinSize)
	}
	if len(chunk) < fmtMinSize {
		return wavFormat{}, fmt.Errorf("%w: fmt chunk cut short at %d bytes", ErrTruncated, len(chunk))
	}
	f := wavFormat{
		code:       binary.LittleEndian.Uint16(chunk[0:2]),
		channels:   binary.LittleEndian.Uint16(chunk[2:4]),
		sampleRate: binary.LittleEndian.Uint32(chunk[4:8]),
		bits:       binary.LittleEndian.Uint16(chunk[14:16]),
	}
	switch f.code {
	case wavFormatPCM:
	case wavFormatExtensible:
		if size < fmtExtSize {
			return wavFormat{}, fmt.Errorf("%w: extensible fmt chunk is %d bytes, want %d", ErrTruncated, size, fmtExtSize)
		}
		if len(chunk) < fmtExtSize {
			return wavFormat{}, fmt.Errorf("%w: extensible fmt chunk cut short at %d bytes", ErrTruncated, len(chunk))
		}
		guid := chunk[24:40]
		if binary.LittleEndian.Uint16(guid[0:2]) != wavFormatPCM || !bytes.Equal(guid[2:], pcmSubFormatTail) {
			return wavFormat{}, fmt.Errorf("%w: extensible sub-format is not pcm", ErrUnsupportedFormat)
		}
	default:
		return wavFormat{}, fmt.Errorf("%w: format code %#04x, want pcm", ErrUnsupportedFormat, f.code)
	}
	if f.bits != 16 {
		return wavFormat{}, fmt.Errorf("%w: %d bits per sample, want 16", ErrUnsupportedFormat, f.bits)
	}
	if f.channels != 1 && f.channels != 2 {
		return wavFormat{}, fmt.Errorf("%w: %d channels, want 1 or 2", ErrUnsupportedFormat, f.channels)
	}
	if f.sampleRate < 1 || f.sampleRate > MaxSampleRate {
		return wavFormat{}, fmt.Errorf("%w: sample rate %d Hz, want 1..%d", ErrUnsupportedFormat, f.sampleRate, MaxSampleRate)
	}
	return f, nil
}

// decodePCM16 converts interleaved little-endian 16-bit frames to mono,
// ignoring any trailing partial frame.
func decodePCM16(body []byte, channels int) []int16 {
	frameBytes := 2 * channels
	n := len(body) / frameBytes
	out := make([]int16, n)
	for i := range out {
		off := i * frameBytes
		left := int16(binary.LittleEndian.Uint16(body[off:]))
		if channels == 1 {
			out[i] = left
			continue
		}
		right := int16(binary.LittleEndian.Uint16(body[off+2:]))
		out[i] = int16((int32(left) + int32(right)) / 2)
	}
	return out
}

// EncodeWAV returns c as a canonical mono 16-bit PCM WAV file with a 44-byte
// header. It round-trips with DecodeWAV when c.SampleRate is in
// 1..MaxSampleRate and the result is at most MaxWAVBytes.
func EncodeWAV(c Clip) []byte {
	dataLen := 2 * len(c.Samples)
	out := make([]byte, wavHeaderSize, wavHeaderSize+dataLen)
	le := binary.LittleEndian
	copy(out[0:4], "RIFF")
	le.PutUint32(out[4:8], uint32(wavHeaderSize-8+dataLen))
	copy(out[8:12], "WAVE")
	copy(out[12:16], "fmt ")
	le.PutUint32(out[16:20], fmtMinSize)
	le.PutUint16(out[20:22], wavFormatPCM)
	le.PutUint16(out[22:24], 1) // channels
	le.PutUint32(out[24:28], uint32(c.SampleRate))
	le.PutUint32(out[28:32], uint32(c.SampleRate)*2) // byte rate
	le.PutUint16(out[32:34], 2)                      // block align
	le.PutUint16(out[34:36], 16)                     // bits per sample
	copy(out[36:40], "data")
	le.PutUint32(out[40:44], uint32(dataLen))
	for _, s := range c.Samples {
		out = le.AppendUint16(out, uint16(s))
	}
	return out
}
