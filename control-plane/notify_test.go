package controlplane

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/attendant/attendant/internal/config"
)

// testCert is a self-signed certificate for 127.0.0.1 and a pool trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attendant smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// received is a message an SMTP test server accepted.
type received struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

// mailbox is an SMTP server (go-smtp) on loopback that keeps what it receives.
type mailbox struct {
	addr  string
	port  int
	roots *x509.CertPool

	mu   sync.Mutex
	msgs []received
	// user and pass, when set, are required (AUTH PLAIN, offered only over TLS).
	user, pass string
}

type mailboxOptions struct {
	startTLS, implicitTLS bool
	user, pass            string
}

func startMailbox(t *testing.T, o mailboxOptions) *mailbox {
	t.Helper()
	cert, roots := testCert(t)
	box := &mailbox{roots: roots, user: o.user, pass: o.pass}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &mailSession{box: box, conn: c}, nil
	}))
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.startTLS {
		srv.TLSConfig = tlsCfg
	}
	var ln net.Listener
	var err error
	if o.implicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	box.addr = ln.Addr().String()
	box.port = ln.Addr().(*net.TCPAddr).Port
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return box
}

func (b *mailbox) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs)
}

// mailSession is one SMTP connection to a mailbox.
type mailSession struct {
	box  *mailbox
	conn *gosmtp.Conn
	user string
	from string
	to   []string
}

var _ gosmtp.AuthSession = (*mailSession)(nil)

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if s.box.user == "" || user != s.box.user || pass != s.box.pass {
			return errors.New("invalid credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.box.user != "" && s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, received{from: s.from, to: s.to, data: data, tls: isTLS, user: s.user})
	s.box.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// notifierFor returns a Notifier sending through box (and trusting its
// certificate) and to hook, either of which may be empty.
func notifierFor(t *testing.T, box *mailbox, user, pass, hook, token string) *Notifier {
	t.Helper()
	cp := config.ControlPlane{MessageWebhook: hook, MessageWebhookToken: token}
	if box != nil {
		cp.SMTPHost, cp.SMTPPort, cp.SMTPUsername, cp.SMTPPassword = "127.0.0.1", box.port, user, pass
		cp.SMTPFrom = "Attendant <noreply@example.org>"
	}
	n, err := NewNotifier(cp, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if box != nil {
		n.tls = &tls.Config{RootCAs: box.roots}
	}
	return n
}

var (
	testSecret = InvitationSecret{Link: "https://meet.example.org/join/tok-4f9a2c", Password: "48213579"}
	testAt     = time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
)

// parsedMail is an email as a reader sees it: its headers and decoded text.
type parsedMail struct {
	header mail.Header
	raw    string // the header block as sent
	text   string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, data)
	}
	if m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", m.Header.Get("Content-Transfer-Encoding"))
	}
	text, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("the body is not quoted-printable: %v", err)
	}
	raw, _, _ := strings.Cut(string(data), "\r\n\r\n")
	return parsedMail{header: m.Header, raw: raw, text: string(text)}
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	d, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("header %q does not decode: %v", v, err)
	}
	return d
}

// An invitation by email is two messages over STARTTLS and AUTH PLAIN: the link,
// then the password, each alone; names and titles with line breaks start no
// header of their own.
func TestNotifyEmailSendsLinkThenPassword(t *testing.T) {
	box := startMailbox(t, mailboxOptions{startTLS: true, user: "mailer", pass: "mail-secret"})
	n := notifierFor(t, box, "mailer", "mail-secret", "", "")
	tests := []struct {
		name, title           string
		wantName, wantSubject string
	}{
		{"Ann Example", "Weekly review", "Ann Example", "Weekly review"},
		{"Ann\r\nBcc: evil@example.net", "Review\r\nX-Injected: yes", "Ann Bcc: evil@example.net", "Review X-Injected: yes"},
		{"Zoë\nBcc: evil@example.net", "Réunion\n\nX-Injected: yes", "Zoë Bcc: evil@example.net", "Réunion X-Injected: yes"},
		{"Bob\r\n.\r\nQUIT", "", "Bob . QUIT", "a meeting"},
	}
	for i, tc := range tests {
		inv := Invitation{ID: int64(i + 1), Room: "weekly", Name: tc.name, Email: "ann@example.org"}
		if err := n.SendInvitation(t.Context(), inv, testSecret, tc.title, testAt); err != nil {
			t.Fatalf("%q: SendInvitation: %v", tc.name, err)
		}
		got := box.received()
		if len(got) != 2*(i+1) {
			t.Fatalf("%q: %d messages received in all; want %d (two per invitation)", tc.name, len(got), 2*(i+1))
		}
		for k, msg := range got[2*i:] {
			if msg.from != "noreply@example.org" || !slices.Equal(msg.to, []string{"ann@example.org"}) || !msg.tls || msg.user != "mailer" {
				t.Errorf("%q message %d: from %q to %q, tls %v, user %q; want from noreply@, to ann@ only, over TLS, as mailer",
					tc.name, k+1, msg.from, msg.to, msg.tls, msg.user)
			}
			m := parseMail(t, msg.data)
			for _, h := range []string{"Bcc", "X-Injected", "Quit"} {
				if v, ok := m.header[h]; ok {
					t.Errorf("%q message %d: injected header %s: %q\n%s", tc.name, k+1, h, v, m.raw)
				}
			}
			if len(m.header) != 8 {
				t.Errorf("%q message %d: %d headers; want 8\n%s", tc.name, k+1, len(m.header), m.raw)
			}
			from, err := m.header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "noreply@example.org" {
				t.Errorf("%q message %d: From %v, %v", tc.name, k+1, from, err)
			}
			to, err := m.header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != "ann@example.org" || to[0].Name != tc.wantName {
				t.Errorf("%q message %d: To %v, %v; want %q <ann@example.org>", tc.name, k+1, to, err, tc.wantName)
			}
			if _, err := m.header.Date(); err != nil || m.header.Get("Message-Id") == "" {
				t.Errorf("%q message %d: Date %v, Message-ID %q", tc.name, k+1, err, m.header.Get("Message-Id"))
			}
			if ct := m.header.Get("Content-Type"); ct != `text/plain; charset="utf-8"` {
				t.Errorf("%q message %d: Content-Type %q", tc.name, k+1, ct)
			}
			subject := decodeHeader(t, m.header.Get("Subject"))
			hasLink, hasPassword := strings.Contains(m.text, testSecret.Link), strings.Contains(m.text, testSecret.Password)
			switch k {
			case 0:
				if subject != "Invitation to "+tc.wantSubject || !hasLink || hasPassword {
					t.Errorf("%q first message: subject %q, link %v, password %v; want the invitation with the link only\n%s",
						tc.name, subject, hasLink, hasPassword, m.text)
				}
				if !strings.Contains(m.text, "Monday 7 December 2026 at 10:30") {
					t.Errorf("%q first message does not say when:\n%s", tc.name, m.text)
				}
			case 1:
				if subject != "Password for "+tc.wantSubject || hasLink || !hasPassword {
					t.Errorf("%q second message: subject %q, link %v, password %v; want the password only\n%s",
						tc.name, subject, hasLink, hasPassword, m.text)
				}
			}
		}
	}
}

// Without credentials and without STARTTLS on offer the messages go in the clear;
// over implicit TLS (port 465) they go encrypted from the first byte.
func TestNotifyEmailPlainAndImplicitTLS(t *testing.T) {
	inv := Invitation{ID: 1, Room: "r", Name: "Ann", Email: "ann@example.org"}

	plain := startMailbox(t, mailboxOptions{})
	if err := notifierFor(t, plain, "", "", "", "").SendInvitation(t.Context(), inv, testSecret, "Review", time.Time{}); err != nil {
		t.Fatalf("plain SMTP: %v", err)
	}
	if got := plain.received(); len(got) != 2 || got[0].tls {
		t.Errorf("plain SMTP: %d messages (first over TLS: %v); want 2 in the clear", len(got), len(got) > 0 && got[0].tls)
	}

	implicit := startMailbox(t, mailboxOptions{implicitTLS: true, user: "mailer", pass: "mail-secret"})
	n := notifierFor(t, implicit, "mailer", "mail-secret", "", "")
	n.smtpImplicitTLS = true
	if err := n.SendInvitation(t.Context(), inv, testSecret, "Review", time.Time{}); err != nil {
		t.Fatalf("implicit TLS: %v", err)
	}
	if got := implicit.received(); len(got) != 2 || !got[0].tls || !got[1].tls {
		t.Errorf("implicit TLS: %d messages; want 2 over TLS", len(got))
	}
}

// A refused sign-in to the SMTP server sends nothing and says so, naming the
// channel.
func TestNotifyEmailAuthRefused(t *testing.T) {
	box := startMailbox(t, mailboxOptions{startTLS: true, user: "mailer", pass: "mail-secret"})
	n := notifierFor(t, box, "mailer", "wrong", "", "")
	err := n.SendInvitation(t.Context(), Invitation{ID: 1, Room: "r", Name: "Ann", Email: "ann@example.org"}, testSecret, "Review", testAt)
	var de *DeliveryError
	if !errors.As(err, &de) || de.Failed[ChannelEmail] == nil || len(de.Sent) != 0 || !strings.Contains(err.Error(), "email") {
		t.Fatalf("SendInvitation with a wrong SMTP password = %v; want a DeliveryError for email", err)
	}
	if got := box.received(); len(got) != 0 {
		t.Errorf("%d messages delivered after a refused sign-in", len(got))
	}
}

// gateway is a message webhook test server keeping the posts it receives.
type gateway struct {
	srv    *httptest.Server
	mu     sync.Mutex
	posts  []webhookMessage
	auths  []string
	status int // answered to every post
}

func startGateway(t *testing.T, status int) *gateway {
	t.Helper()
	g := &gateway{status: status}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhookMessage
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.posts = append(g.posts, m)
		g.auths = append(g.auths, r.Header.Get("Authorization"))
		g.mu.Unlock()
		if g.status != http.StatusOK {
			http.Error(w, "gateway unavailable", g.status)
		}
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) received() ([]webhookMessage, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.posts), slices.Clone(g.auths)
}

// An invitation to a phone is two posts to the message webhook, with the bearer
// token: the link, then the password.
func TestNotifyWebhookSendsLinkThenPassword(t *testing.T) {
	g := startGateway(t, http.StatusOK)
	n := notifierFor(t, nil, "", "", g.srv.URL+"/send", "gateway-token")
	inv := Invitation{ID: 9, Room: "weekly", Name: "Ann\r\nX: y", Phone: "+31612345678"}
	if err := n.SendInvitation(t.Context(), inv, testSecret, "Weekly review", testAt); err != nil {
		t.Fatalf("SendInvitation: %v", err)
	}
	posts, auths := g.received()
	if len(posts) != 2 {
		t.Fatalf("%d posts; want 2", len(posts))
	}
	for i, p := range posts {
		if auths[i] != "Bearer gateway-token" {
			t.Errorf("post %d: Authorization %q; want the bearer token", i+1, auths[i])
		}
		if p.To != inv.Phone || p.Room != "weekly" || p.Invitation != 9 || p.Name != "Ann X: y" {
			t.Errorf("post %d = %+v; want to %s, room weekly, invitation 9, name on one line", i+1, p, inv.Phone)
		}
	}
	if p := posts[0]; p.Kind != "invitation_link" || !strings.Contains(p.Text, testSecret.Link) || strings.Contains(p.Text, testSecret.Password) {
		t.Errorf("first post = %+v; want the link only", p)
	}
	if p := posts[1]; p.Kind != "invitation_password" || strings.Contains(p.Text, testSecret.Link) || !strings.Contains(p.Text, testSecret.Password) {
		t.Errorf("second post = %+v; want the password only", p)
	}

	// Without a token no Authorization header is sent.
	n = notifierFor(t, nil, "", "", g.srv.URL+"/send", "")
	if err := n.SendInvitation(t.Context(), inv, testSecret, "Weekly review", testAt); err != nil {
		t.Fatal(err)
	}
	if _, auths := g.received(); auths[2] != "" || auths[3] != "" {
		t.Errorf("Authorization without a token: %q; want none", auths[2:])
	}
}

// A gateway answering 5xx is reported as the webhook channel's failure, and the
// password is not sent after a link that did not go.
func TestNotifyWebhookServerErrorReported(t *testing.T) {
	g := startGateway(t, http.StatusBadGateway)
	box := startMailbox(t, mailboxOptions{startTLS: true})
	n := notifierFor(t, box, "", "", g.srv.URL, "tok")
	inv := Invitation{ID: 3, Room: "r", Name: "Ann", Email: "ann@example.org", Phone: "+31612345678"}
	err := n.SendInvitation(t.Context(), inv, testSecret, "Review", testAt)
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("SendInvitation with the gateway failing = %v; want a *DeliveryError", err)
	}
	if !slices.Equal(de.Sent, []Channel{ChannelEmail}) || de.Failed[ChannelMessageWebhook] == nil || de.Failed[ChannelEmail] != nil {
		t.Errorf("delivery: sent %v, failed %v; want sent by email, failed by message webhook", de.Sent, de.Failed)
	}
	if msg := err.Error(); !strings.Contains(msg, "502") || !strings.Contains(msg, string(ChannelMessageWebhook)) || !strings.Contains(msg, "sent by email") {
		t.Errorf("error %q should name the failed channel, the gateway's status and the channel that worked", msg)
	}
	if posts, _ := g.received(); len(posts) != 1 || posts[0].Kind != "invitation_link" {
		t.Errorf("posts = %+v; want the link's only (no password after a failed link)", posts)
	}
	if got := box.received(); len(got) != 2 {
		t.Errorf("%d emails; want 2", len(got))
	}
}

// Each channel is used only when the invitation has its address and it is
// configured; with none the invitation cannot be sent.
func TestNotifyChannels(t *testing.T) {
	box := startMailbox(t, mailboxOptions{})
	g := startGateway(t, http.StatusOK)
	both := notifierFor(t, box, "", "", g.srv.URL, "")
	emailOnly := notifierFor(t, box, "", "", "", "")
	hookOnly := notifierFor(t, nil, "", "", g.srv.URL, "")
	tests := []struct {
		name string
		n    *Notifier
		inv  Invitation
		want []Channel
	}{
		{"email and phone, both configured", both, Invitation{Email: "a@example.org", Phone: "+1"}, []Channel{ChannelEmail, ChannelMessageWebhook}},
		{"email and phone, SMTP only", emailOnly, Invitation{Email: "a@example.org", Phone: "+1"}, []Channel{ChannelEmail}},
		{"email and phone, webhook only", hookOnly, Invitation{Email: "a@example.org", Phone: "+1"}, []Channel{ChannelMessageWebhook}},
		{"phone, SMTP only", emailOnly, Invitation{Phone: "+1"}, nil},
		{"email, webhook only", hookOnly, Invitation{Email: "a@example.org"}, nil},
	}
	for _, tc := range tests {
		tc.inv.Name, tc.inv.Room = "Ann", "r"
		if got := tc.n.Channels(tc.inv); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Channels = %v; want %v", tc.name, got, tc.want)
		}
		err := tc.n.SendInvitation(t.Context(), tc.inv, testSecret, "Review", testAt)
		if tc.want == nil && !errors.Is(err, ErrNoChannel) {
			t.Errorf("%s: SendInvitation = %v; want ErrNoChannel", tc.name, err)
		}
		if tc.want != nil && err != nil {
			t.Errorf("%s: SendInvitation = %v", tc.name, err)
		}
	}
}

// Whatever a name or title holds, an email's header block parses to exactly its
// eight headers, each on its own line.
func FuzzNotifyEmailHeaders(f *testing.F) {
	f.Add("Ann", "Weekly review")
	f.Add("Ann\r\nBcc: x@example.net", "T\r\n\r\nbody")
	f.Add("\"Q\" <q@example.org>", "=?utf-8?q?x?=\n")
	f.Add("Zoë\u2028Bcc: y", "Réunion\x00\x1b")
	n := &Notifier{from: &mail.Address{Name: "Attendant", Address: "noreply@example.org"}}
	f.Fuzz(func(t *testing.T, name, title string) {
		link, _ := invitationMessages(name, title, testAt, testSecret)
		to := &mail.Address{Name: oneLine(name, 100), Address: "ann@example.org"}
		data, err := n.emailBody(to, link, testAt)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("does not parse: %v\n%q", err, data)
		}
		if len(m.Header) != 8 {
			t.Fatalf("%d headers; want 8\n%q", len(m.Header), data)
		}
		addrs, err := m.Header.AddressList("To")
		if err != nil || len(addrs) != 1 || addrs[0].Address != "ann@example.org" {
			t.Fatalf("To = %v, %v; want one address ann@example.org\n%q", addrs, err, data)
		}
	})
}
