package openaifake

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/attendant/attendant/pipeline/audio"
)

func TestTranscription(t *testing.T) {
	wav := append(wavHeader(16000), make([]byte, 32000)...) // one second at 16 kHz
	tests := []struct {
		name   string
		format openai.AudioResponseFormat
		want   string
	}{
		{"default", "", "turn on the lights"},
		{"json", openai.AudioResponseFormatJSON, "turn on the lights"},
		{"text", openai.AudioResponseFormatText, "turn on the lights\n"},
		{"verbose json", openai.AudioResponseFormatVerboseJSON, "turn on the lights"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Transcript: "turn on the lights"})
			defer s.Close()
			resp, err := newClient(s, "k").CreateTranscription(context.Background(), openai.AudioRequest{
				Model: openai.Whisper1, FilePath: "a.wav", Reader: bytes.NewReader(wav), Format: tt.format,
			})
			if err != nil {
				t.Fatalf("CreateTranscription: %v", err)
			}
			if resp.Text != tt.want {
				t.Errorf("text = %q; want %q", resp.Text, tt.want)
			}
			if tt.format == openai.AudioResponseFormatVerboseJSON {
				if resp.Duration != 1 || resp.Task != "transcribe" || len(resp.Segments) != 1 {
					t.Errorf("verbose answer duration %v task %q segments %d; want 1 s, transcribe, 1 segment",
						resp.Duration, resp.Task, len(resp.Segments))
				}
			}
		})
	}
}

func TestTranscriptionRejects(t *testing.T) {
	tests := []struct {
		name string
		req  openai.AudioRequest
		want string
	}{
		{"no model", openai.AudioRequest{FilePath: "a.wav", Reader: strings.NewReader("x")}, "model is required"},
		{"empty file", openai.AudioRequest{Model: "m", FilePath: "a.wav", Reader: strings.NewReader("")}, "file is empty"},
		{"srt", openai.AudioRequest{Model: "m", FilePath: "a.wav", Reader: strings.NewReader("x"), Format: openai.AudioResponseFormatSRT}, "srt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Transcript: "x"})
			defer s.Close()
			_, err := newClient(s, "k").CreateTranscription(context.Background(), tt.req)
			var apiErr *openai.APIError
			if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, tt.want) {
				t.Errorf("error = %v; want a 400 mentioning %q", err, tt.want)
			}
		})
	}
}

// speak fetches speech and returns the audio bytes.
func speak(t *testing.T, s *Server, req openai.CreateSpeechRequest) []byte {
	t.Helper()
	resp, err := newClient(s, "k").CreateSpeech(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateSpeech: %v", err)
	}
	defer resp.Close()
	body, err := io.ReadAll(resp)
	if err != nil {
		t.Fatalf("reading speech: %v", err)
	}
	return body
}

func TestSpeech(t *testing.T) {
	const input = "Hello, world." // 13 characters: 780 ms at speed 1
	tests := []struct {
		name        string
		format      openai.SpeechResponseFormat
		speed       float64
		rate        int
		wantSamples int
	}{
		{"pcm default rate", openai.SpeechResponseFormatPcm, 0, 0, 24000 * 780 / 1000},
		{"pcm 16 kHz", openai.SpeechResponseFormatPcm, 1, 16000, 16000 * 780 / 1000},
		{"pcm double speed", openai.SpeechResponseFormatPcm, 2, 0, 24000 * 390 / 1000},
		{"wav", openai.SpeechResponseFormatWav, 1, 22050, 22050 * 780 / 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{SpeechRate: tt.rate})
			defer s.Close()
			body := speak(t, s, openai.CreateSpeechRequest{
				Model: openai.TTSModel1, Input: input, Voice: openai.VoiceNova, ResponseFormat: tt.format, Speed: tt.speed,
			})
			var samples []int16
			wantRate := orDefault(tt.rate, DefaultSpeechRate)
			if tt.format == openai.SpeechResponseFormatWav {
				clip, err := audio.DecodeWAV(body)
				if err != nil {
					t.Fatalf("DecodeWAV: %v", err)
				}
				if clip.SampleRate != wantRate {
					t.Errorf("wav rate = %d; want %d", clip.SampleRate, wantRate)
				}
				samples = clip.Samples
			} else {
				if len(body)%2 != 0 {
					t.Fatalf("pcm body has %d bytes; want whole 16-bit samples", len(body))
				}
				samples = make([]int16, len(body)/2)
				for i := range samples {
					samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
				}
			}
			if len(samples) != tt.wantSamples {
				t.Errorf("got %d samples; want %d", len(samples), tt.wantSamples)
			}
			// Every 50 ms window must be clearly audible (above -30 dBFS).
			win := wantRate / 20
			for start := 0; start+win <= len(samples); start += win {
				if db := rmsDBFS(samples[start : start+win]); db < -30 {
					t.Errorf("window at sample %d is %.1f dBFS; want louder than -30", start, db)
				}
			}
		})
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func rmsDBFS(s []int16) float64 {
	var sum float64
	for _, x := range s {
		f := float64(x) / math.MaxInt16
		sum += f * f
	}
	return 10 * math.Log10(sum/float64(len(s)))
}

func TestSpeechIsDeterministicAndCapped(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	req := openai.CreateSpeechRequest{Model: "m", Input: "Same text.", Voice: "v", ResponseFormat: openai.SpeechResponseFormatPcm}
	a, b := speak(t, s, req), speak(t, s, req)
	if !bytes.Equal(a, b) {
		t.Error("two answers for the same input differ; want identical audio")
	}
	req.Input = strings.Repeat("long ", 800) // 4000 characters: 240 s uncapped
	long := speak(t, s, req)
	if want := 2 * int(MaxSpeech/time.Second) * DefaultSpeechRate; len(long) != want {
		t.Errorf("long input gave %d bytes; want the cap, %d", len(long), want)
	}
}

func TestSpeechStreamsInChunks(t *testing.T) {
	s := New(Options{BreakAfterTokens: 3})
	defer s.Close()
	resp, err := newClient(s, "k").CreateSpeech(context.Background(), openai.CreateSpeechRequest{
		Model: "m", Input: "A sentence long enough for many chunks.", Voice: "v", ResponseFormat: openai.SpeechResponseFormatPcm,
	})
	if err != nil {
		t.Fatalf("CreateSpeech: %v", err)
	}
	defer resp.Close()
	body, err := io.ReadAll(resp)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a broken stream: %v; want io.ErrUnexpectedEOF", err)
	}
	if want := 3 * 2 * DefaultSpeechRate / 20; len(body) != want {
		t.Errorf("got %d bytes before the break; want 3 chunks of 50 ms, %d bytes", len(body), want)
	}
}

func TestSpeechRejects(t *testing.T) {
	tests := []struct {
		name string
		req  openai.CreateSpeechRequest
		want string
	}{
		{"mp3", openai.CreateSpeechRequest{Model: "m", Input: "x", Voice: "v", ResponseFormat: openai.SpeechResponseFormatMp3}, "only pcm and wav"},
		{"default format", openai.CreateSpeechRequest{Model: "m", Input: "x", Voice: "v"}, "only pcm and wav"},
		{"no input", openai.CreateSpeechRequest{Model: "m", Input: " ", Voice: "v", ResponseFormat: "pcm"}, "input is required"},
		{"no voice", openai.CreateSpeechRequest{Model: "m", Input: "x", ResponseFormat: "pcm"}, "voice is required"},
		{"speed", openai.CreateSpeechRequest{Model: "m", Input: "x", Voice: "v", ResponseFormat: "pcm", Speed: 5}, "speed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			_, err := newClient(s, "k").CreateSpeech(context.Background(), tt.req)
			var apiErr *openai.APIError
			if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, tt.want) {
				t.Errorf("error = %v; want a 400 mentioning %q", err, tt.want)
			}
		})
	}
}
