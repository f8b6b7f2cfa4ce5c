package openaifake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Speech audio shape.
const (
	// SpeechPerChar is how much audio the fake speaks per character of input
	// at speed 1.
	SpeechPerChar = 60 * time.Millisecond
	// MaxSpeech caps the length of one speech answer.
	MaxSpeech = 30 * time.Second
	// SpeechChunk is the length of audio in each streamed chunk.
	SpeechChunk = 50 * time.Millisecond
	// maxSpeechInput is OpenAI's limit on the input text, in characters.
	maxSpeechInput = 4096
)

// speechRequest holds the fields of a speech request the fake reads.
type speechRequest struct {
	Model          string  `json:"model"`
	Input          string  `json:"input"`
	Voice          string  `json:"voice"`
	ResponseFormat string  `json:"response_format"`
	Speed          float64 `json:"speed"`
}

func (req *speechRequest) validate() error {
	switch {
	case req.Model == "":
		return errors.New("model is required")
	case strings.TrimSpace(req.Input) == "":
		return errors.New("input is required")
	case utf8.RuneCountInString(req.Input) > maxSpeechInput:
		return fmt.Errorf("input is longer than %d characters", maxSpeechInput)
	case req.Voice == "":
		return errors.New("voice is required")
	case req.ResponseFormat != "pcm" && req.ResponseFormat != "wav":
		// OpenAI's default is mp3; the fake makes no compressed audio.
		return fmt.Errorf("response_format %q: openaifake serves only pcm and wav", req.ResponseFormat)
	case req.Speed != 0 && (req.Speed < 0.25 || req.Speed > 4):
		return fmt.Errorf("speed %g is outside 0.25..4.0", req.Speed)
	}
	return nil
}

// handleSpeech serves POST /v1/audio/speech.
func (s *Server) handleSpeech(w http.ResponseWriter, r *http.Request) {
	var req speechRequest
	opts, ok := s.admit(w, r, EndpointSpeech, func(r *http.Request) (map[string]any, error) {
		record, err := readJSON(r, &req)
		if err != nil {
			return record, err
		}
		return record, req.validate()
	})
	if !ok {
		return
	}
	speed := req.Speed
	if speed == 0 {
		speed = 1
	}
	rate := opts.SpeechRate
	length := min(time.Duration(float64(utf8.RuneCountInString(req.Input))*float64(SpeechPerChar)/speed), MaxSpeech)
	total := int(int64(length) * int64(rate) / int64(time.Second))
	perChunk := max(int(int64(SpeechChunk)*int64(rate)/int64(time.Second)), 1)

	if req.ResponseFormat == "wav" {
		w.Header().Set("Content-Type", "audio/wav")
	} else {
		w.Header().Set("Content-Type", "audio/pcm")
	}
	w.WriteHeader(http.StatusOK)
	st := s.newStreamer(r.Context(), w, opts)
	if req.ResponseFormat == "wav" {
		st.prefix(wavHeader(rate))
	}
	buf := make([]byte, 0, 2*perChunk)
	for start := 0; start < total; start += perChunk {
		buf = buf[:0]
		for i := start; i < min(start+perChunk, total); i++ {
			buf = binary.LittleEndian.AppendUint16(buf, uint16(toneSample(i, rate)))
		}
		if !st.token(buf) {
			return
		}
	}
	st.end(nil)
}

// toneSample is sample i of the fake's voice at the given rate: a 150 Hz
// tone with two harmonics, its loudness swinging three times a second
// between 20% and 100%, peaking at -3 dBFS. It is deterministic and never
// silent for long.
func toneSample(i, rate int) int16 {
	t := float64(i) / float64(rate)
	tone := 0.5*math.Sin(2*math.Pi*150*t) + 0.25*math.Sin(2*math.Pi*300*t) + 0.125*math.Sin(2*math.Pi*450*t)
	envelope := 0.6 + 0.4*math.Sin(2*math.Pi*3*t)
	return int16(math.Round(0.8 * math.MaxInt16 * envelope * tone))
}

// wavHeader is the header of a streamed mono 16-bit WAV at rate, with the
// RIFF and data sizes set to 0xFFFFFFFF as streaming encoders (OpenAI's
// included) write them.
func wavHeader(rate int) []byte {
	le := binary.LittleEndian
	h := make([]byte, 0, 44)
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, math.MaxUint32)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, 1) // PCM
	h = le.AppendUint16(h, 1) // mono
	h = le.AppendUint32(h, uint32(rate))
	h = le.AppendUint32(h, uint32(rate*2))
	h = le.AppendUint16(h, 2)  // block align
	h = le.AppendUint16(h, 16) // bits per sample
	h = append(h, "data"...)
	return le.AppendUint32(h, math.MaxUint32)
}

// transcription is the verbose_json answer (json has only the text).
type transcription struct {
	Task     string    `json:"task,omitempty"`
	Language string    `json:"language,omitempty"`
	Duration *float64  `json:"duration,omitempty"`
	Text     string    `json:"text"`
	Segments []segment `json:"segments,omitempty"`
}

type segment struct {
	ID    int     `json:"id"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

// handleTranscriptions serves POST /v1/audio/transcriptions.
func (s *Server) handleTranscriptions(w http.ResponseWriter, r *http.Request) {
	var (
		format, language string
		seconds          float64
	)
	opts, ok := s.admit(w, r, EndpointTranscriptions, func(r *http.Request) (map[string]any, error) {
		if err := r.ParseMultipartForm(maxBodyBytes); err != nil {
			return nil, fmt.Errorf("body is not a multipart form: %w", err)
		}
		defer r.MultipartForm.RemoveAll()
		record := make(map[string]any, len(r.MultipartForm.Value)+2)
		for k, v := range r.MultipartForm.Value {
			if len(v) > 0 {
				record[k] = v[0]
			}
		}
		file, hdr, err := r.FormFile("file")
		if err != nil {
			return record, fmt.Errorf("file is required: %w", err)
		}
		defer file.Close()
		data, err := io.ReadAll(file)
		if err != nil {
			return record, fmt.Errorf("reading file: %w", err)
		}
		record["file_name"], record["file_size"] = hdr.Filename, int64(len(data))
		seconds = wavSeconds(data)
		format, language = r.FormValue("response_format"), r.FormValue("language")
		switch {
		case r.FormValue("model") == "":
			return record, errors.New("model is required")
		case len(data) == 0:
			return record, errors.New("file is empty")
		case format != "" && format != "json" && format != "text" && format != "verbose_json":
			return record, fmt.Errorf("response_format %q: openaifake serves json, text and verbose_json", format)
		}
		return record, nil
	})
	if !ok {
		return
	}
	switch format {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, opts.Transcript+"\n")
	case "verbose_json":
		if language == "" {
			language = "english"
		}
		writeJSON(w, http.StatusOK, transcription{
			Task: "transcribe", Language: language, Duration: &seconds, Text: opts.Transcript,
			Segments: []segment{{Start: 0, End: seconds, Text: opts.Transcript}},
		})
	default:
		writeJSON(w, http.StatusOK, transcription{Text: opts.Transcript})
	}
}

// wavSeconds returns the length of a canonical PCM WAV file, or 0 when data
// does not look like one.
func wavSeconds(data []byte) float64 {
	const headerLen = 44
	if len(data) < headerLen || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return 0
	}
	byteRate := binary.LittleEndian.Uint32(data[28:32])
	if byteRate == 0 {
		return 0
	}
	return float64(len(data)-headerLen) / float64(byteRate)
}
