package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
)

// e2eResult is what web/e2e/control-plane.mjs prints.
type e2eResult struct {
	Error      string `json:"error"`
	Link       string `json:"link"`
	Password   string `json:"password"`
	Retrieved  string `json:"retrieved"`
	BlurError  string `json:"blurError"`
	Answer     string `json:"answer"`
	Transcript []struct {
		Speaker, Role, Text string
		Final               bool
	} `json:"transcript"`
	Audio []struct {
		Participant string  `json:"participant"`
		Playing     bool    `json:"playing"`
		Time        float64 `json:"time"`
	} `json:"audio"`
	States []string `json:"states"`
	People []string `json:"people"`
}

var firstAdminRE = regexp.MustCompile(`first platform admin (\S+), password (\S+)`)

// The whole product through a browser: `attendant dev` (PostgreSQL, Redis, LiveKit
// sending webhooks, a dispatcher, a worker with the offline providers, the control
// plane) and Playwright driving Debian's Chromium through the admin pages and a
// participant's magic link, with a fake microphone asking what the uploaded
// document answers. SCREENSHOTS=DIR keeps the pages' screenshots there
// (docs/screenshots in the repository).
func TestControlPlaneEndToEnd(t *testing.T) {
	testenv.Integration(t)
	root := testenv.ModuleRoot()
	dataDir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() {
		if target, err := os.Readlink(filepath.Join(dataDir, "postgres")); err == nil {
			os.RemoveAll(target)
		}
	})
	dev := startDev(t, dataDir, true)
	m := firstAdminRE.FindStringSubmatch(dev.output())
	if m == nil {
		t.Fatalf("attendant dev printed no first admin:\n%s", dev.output())
	}
	base := strings.TrimSuffix(dev.joinURL, "/")

	dir := t.TempDir()
	doc := filepath.Join(dir, "visitors.md")
	if err := os.WriteFile(doc, []byte("# Visitors\n\nVisitors park for free in the garage behind the clinic. "+
		"The clinic opens at eight in the morning.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(dir, "shots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "web", "e2e", "control-plane.mjs"))
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(), "BASE="+base, "EMAIL="+m[1], "PASSWORD="+m[2], "DOC="+doc, "SHOTS="+shots,
		"QUESTION_WAV="+testenv.SpokenWAV(t, "Where do visitors park?", 2*time.Second, 14*time.Second))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res e2eResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("the browser script printed no result (%v, %v):\n%s\n%s\n%s", err, jerr, out, stderr.String(), dev.output())
	}
	if err != nil || res.Error != "" {
		t.Fatalf("the browser script failed: %v %s\n%s\nattendant dev:\n%s", err, res.Error, stderr.String(), dev.output())
	}
	if !strings.HasPrefix(res.Link, base+"/join/") || !regexp.MustCompile(`^\d{8}$`).MatchString(res.Password) {
		t.Errorf("invitation link %q, password %q", res.Link, res.Password)
	}
	if res.BlurError != "is not an email address" {
		t.Errorf("the email field's check on leaving it showed %q", res.BlurError)
	}
	if !strings.Contains(res.Retrieved, "garage") {
		t.Errorf("the admin's search showed %q; want the document's passage", res.Retrieved)
	}
	if a := strings.ToLower(res.Answer); !strings.Contains(a, "garage") {
		t.Errorf("the assistant's captioned answer %q does not come from the document", res.Answer)
	}
	heard := slices.ContainsFunc(res.Transcript, func(e struct {
		Speaker, Role, Text string
		Final               bool
	}) bool {
		return e.Role == "self" && e.Final && strings.TrimSpace(e.Text) != ""
	})
	if !heard {
		t.Errorf("no caption of the participant's own question: %+v", res.Transcript)
	}
	if !slices.ContainsFunc(res.People, func(p string) bool { return strings.Contains(p, "Harbour Helper") }) {
		t.Errorf("the assistant does not appear under the name its entity gave it: %q", res.People)
	}
	if !slices.Contains(res.States, "speaking") {
		t.Errorf("the page never showed the assistant speaking: %v", res.States)
	}
	played := slices.ContainsFunc(res.Audio, func(a struct {
		Participant string  `json:"participant"`
		Playing     bool    `json:"playing"`
		Time        float64 `json:"time"`
	}) bool {
		return a.Participant == "assistant" && a.Time > 0
	})
	if !played {
		t.Errorf("the assistant's voice did not play in the page: %+v", res.Audio)
	}
	t.Logf("answer: %q; the page heard the participant and played the assistant's voice", res.Answer)
}
