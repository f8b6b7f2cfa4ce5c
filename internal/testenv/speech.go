package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

// SpokenWAV writes a 48 kHz mono WAV of text spoken by espeak-ng between silences,
// for Chromium's fake microphone, and returns its path. Chromium loops the file, so
// the words come back once per loop, each time a turn of their own: the silence
// before lets the worker subscribe to the microphone before they start, the silence
// after gives the assistant time to answer. espeak-ng's Klatt voice at 150 words a
// minute is the one pocketsphinx's model recognizes best (see pipeline/stt's tests).
func SpokenWAV(t testing.TB, text string, before, after time.Duration) string {
	t.Helper()
	out, err := exec.Command("espeak-ng", "--stdout", "-v", "en-us+klatt", "-s", "150", text).Output()
	if err != nil {
		t.Fatalf("espeak-ng: %v", err)
	}
	c, err := audio.DecodeWAV(out)
	if err != nil {
		t.Fatal(err)
	}
	const rate = 48000
	q := audio.Resample(audio.Trim(c, 300), rate)
	samples := make([]int16, int(before.Seconds()*rate), int((before+after).Seconds()*rate)+len(q.Samples))
	samples = append(samples, q.Samples...)
	q.Samples = append(samples, make([]int16, int(after.Seconds()*rate))...)
	path := filepath.Join(t.TempDir(), "spoken.wav")
	if err := os.WriteFile(path, audio.EncodeWAV(q), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
