package controlplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attendant/attendant/internal/config"
)

// Channel is a way an invitation travels.
type Channel string

const (
	// ChannelEmail sends an invitation by email (control_plane.smtp_*).
	ChannelEmail Channel = "email"
	// ChannelMessageWebhook sends an invitation to a phone through a WhatsApp or
	// SMS gateway (control_plane.message_webhook).
	ChannelMessageWebhook Channel = "message_webhook"
)

// ErrNoChannel is an invitation that nothing here can send: it has no email
// address while SMTP is configured, and no phone while a message webhook is.
var ErrNoChannel = errors.New("no way to send this invitation: email needs control_plane.smtp_host, a phone needs control_plane.message_webhook")

// DeliveryError is an invitation that some channel it should have gone by did not
// carry: Failed holds each such channel's error, Sent the channels that carried
// both messages.
type DeliveryError struct {
	Sent   []Channel
	Failed map[Channel]error
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	for _, c := range []Channel{ChannelEmail, ChannelMessageWebhook} {
		if err := e.Failed[c]; err != nil {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "not sent by %s: %v", c, err)
		}
	}
	for _, c := range e.Sent {
		fmt.Fprintf(&b, "; sent by %s", c)
	}
	return b.String()
}

// Unwrap returns the channels' errors.
func (e *DeliveryError) Unwrap() []error {
	var errs []error
	for _, c := range []Channel{ChannelEmail, ChannelMessageWebhook} {
		if err := e.Failed[c]; err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Notifier sends invitations. The link and the password always travel in two
// messages on the same channel, the password second, so that one intercepted
// message does not let anyone in.
type Notifier struct {
	smtpHost             string
	smtpPort             int
	smtpUser, smtpSecret string
	from                 *mail.Address
	// smtpImplicitTLS speaks TLS from the first byte (port 465); otherwise STARTTLS
	// is used whenever the server offers it.
	smtpImplicitTLS bool
	// tls is the base of the TLS configuration (nil: the system's roots).
	tls *tls.Config

	hook, hookToken string
	http            *http.Client
	log             *slog.Logger
}

// NewNotifier returns a Notifier sending by the SMTP server and the message
// webhook of cp; either may be unset.
func NewNotifier(cp config.ControlPlane, log *slog.Logger) (*Notifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		smtpHost: cp.SMTPHost, smtpPort: cp.SMTPPort, smtpUser: cp.SMTPUsername, smtpSecret: cp.SMTPPassword,
		smtpImplicitTLS: cp.SMTPPort == 465,
		hook:            cp.MessageWebhook, hookToken: cp.MessageWebhookToken,
		http: &http.Client{Timeout: 15 * time.Second},
		log:  log.With("component", "notifier"),
	}
	if n.smtpHost != "" {
		from, err := mail.ParseAddress(cp.SMTPFrom)
		if err != nil {
			return nil, fmt.Errorf("control_plane.smtp_from %q: %w", cp.SMTPFrom, err)
		}
		if n.smtpPort == 0 {
			n.smtpPort = 587
		}
		n.from = from
	}
	return n, nil
}

// Channels returns the channels SendInvitation sends inv by: email when inv has
// an address and SMTP is configured, the message webhook when inv has a phone and
// the webhook is configured.
func (n *Notifier) Channels(inv Invitation) []Channel {
	var cs []Channel
	if inv.Email != "" && n.smtpHost != "" {
		cs = append(cs, ChannelEmail)
	}
	if inv.Phone != "" && n.hook != "" {
		cs = append(cs, ChannelMessageWebhook)
	}
	return cs
}

// SendInvitation sends inv's link and then, in a second message, its password, by
// each of its Channels. roomTitle names the meeting and at is when it takes place
// (zero: not said).
//
// With no channel to use the error is ErrNoChannel; when a channel fails it is a
// *DeliveryError naming the channels that failed, with their errors, and those
// that carried the invitation.
func (n *Notifier) SendInvitation(ctx context.Context, inv Invitation, secret InvitationSecret, roomTitle string, at time.Time) error {
	channels := n.Channels(inv)
	if len(channels) == 0 {
		return ErrNoChannel
	}
	log := n.log.With("room", inv.Room, "invitation", inv.ID)
	link, password := invitationMessages(inv.Name, roomTitle, at, secret)
	d := &DeliveryError{Failed: map[Channel]error{}}
	for _, c := range channels {
		var err error
		switch c {
		case ChannelEmail:
			if err = n.sendEmail(ctx, inv, link, password); err != nil {
				err = fmt.Errorf("email to %s: %w", inv.Email, err)
			}
		case ChannelMessageWebhook:
			if err = n.sendWebhook(ctx, inv, link, password); err != nil {
				err = fmt.Errorf("message to %s: %w", inv.Phone, err)
			}
		}
		if err != nil {
			log.Warn("invitation not sent", "channel", c, "err", err)
			d.Failed[c] = err
			continue
		}
		log.Info("invitation sent", "channel", c)
		d.Sent = append(d.Sent, c)
	}
	if len(d.Failed) > 0 {
		return d
	}
	return nil
}

// message is one of an invitation's two messages.
type message struct {
	kind    string // invitation_link or invitation_password
	subject string
	text    string
}

// invitationMessages writes the link's message and the password's.
func invitationMessages(name, title string, at time.Time, secret InvitationSecret) (link, password message) {
	name, title = oneLine(name, 100), oneLine(title, 200)
	meeting, subject := "a meeting", "a meeting"
	if title != "" {
		meeting, subject = "the meeting \u201c"+title+"\u201d", title
	}
	when := ""
	if !at.IsZero() {
		when = " on " + at.Format("Monday 2 January 2006 at 15:04 (MST)")
	}
	link = message{kind: "invitation_link", subject: "Invitation to " + subject,
		text: fmt.Sprintf("Hello %s,\n\nYou are invited to %s%s.\n\nJoin it from this link, which is for you only:\n%s\n\n"+
			"You will need a password, which comes in a separate message.\n", name, meeting, when, secret.Link)}
	password = message{kind: "invitation_password", subject: "Password for " + subject,
		text: fmt.Sprintf("Hello %s,\n\nThe password to join %s is: %s\n\n"+
			"The link to the meeting comes in a separate message.\n", name, meeting, secret.Password)}
	return link, password
}

// oneLine makes s one line of at most max characters: line breaks and other
// control characters become spaces, so that nothing put in a header can start
// another one.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max])
	}
	return s
}

// sendEmail sends the two messages to inv.Email over one SMTP connection.
func (n *Notifier) sendEmail(ctx context.Context, inv Invitation, msgs ...message) error {
	to, err := mail.ParseAddress(inv.Email)
	if err != nil {
		return fmt.Errorf("address: %w", err)
	}
	to.Name = oneLine(inv.Name, 100)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	addr := net.JoinHostPort(n.smtpHost, strconv.Itoa(n.smtpPort))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// Ending ctx ends the conversation wherever it is.
	raw := conn
	defer context.AfterFunc(ctx, func() { raw.Close() })()
	if n.smtpImplicitTLS {
		conn = tls.Client(conn, n.tlsConfig())
	}
	c, err := smtp.NewClient(conn, n.smtpHost)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !n.smtpImplicitTLS {
		if err := c.StartTLS(n.tlsConfig()); err != nil {
			return fmt.Errorf("starttls with %s: %w", addr, err)
		}
	}
	if n.smtpUser != "" {
		// PlainAuth refuses to send the password over a connection that is not
		// encrypted, unless the server is on loopback.
		if err := c.Auth(smtp.PlainAuth("", n.smtpUser, n.smtpSecret, n.smtpHost)); err != nil {
			return fmt.Errorf("smtp auth as %s: %w", n.smtpUser, err)
		}
	}
	for _, m := range msgs {
		if err := n.sendOne(c, to, m); err != nil {
			return fmt.Errorf("%s message: %w", m.kind, err)
		}
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}

func (n *Notifier) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if n.tls != nil {
		cfg = n.tls.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = n.smtpHost
	}
	return cfg
}

// sendOne sends m to to in one mail transaction on c.
func (n *Notifier) sendOne(c *smtp.Client, to *mail.Address, m message) error {
	body, err := n.emailBody(to, m, time.Now())
	if err != nil {
		return err
	}
	if err := c.Mail(n.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		w.Close()
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// emailBody writes m as a plain-text email (RFC 5322) with a quoted-printable
// UTF-8 body. Every header value is one line: names and titles pass through
// oneLine, and non-ASCII ones are encoded (RFC 2047).
// addressHeader writes a for a From or To header. net/mail quotes an ASCII name,
// but writes a name with other characters as a Q-encoded word that leaves
// characters such as a backslash bare, which readers (net/mail among them) refuse
// in a phrase; such a name is B-encoded instead, which is safe there.
func addressHeader(a *mail.Address) string {
	for _, r := range a.Name {
		if r >= utf8.RuneSelf {
			return mime.BEncoding.Encode("utf-8", a.Name) + " <" + a.Address + ">"
		}
	}
	return a.String()
}

func (n *Notifier) emailBody(to *mail.Address, m message, now time.Time) ([]byte, error) {
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := n.from.Address[strings.LastIndexByte(n.from.Address, '@')+1:]
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", addressHeader(n.from)},
		{"To", addressHeader(to)},
		{"Subject", mime.QEncoding.Encode("utf-8", oneLine(m.subject, 250))},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `text/plain; charset="utf-8"`},
		{"Content-Transfer-Encoding", "quoted-printable"},
	} {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(m.text, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// webhookMessage is the JSON body of one POST to the message webhook: the gateway
// sends text to the phone number in to.
type webhookMessage struct {
	To         string `json:"to"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Text       string `json:"text"`
	Room       string `json:"room"`
	Invitation int64  `json:"invitation"`
}

// sendWebhook posts the two messages to the message webhook, the second only once
// the first is accepted.
func (n *Notifier) sendWebhook(ctx context.Context, inv Invitation, msgs ...message) error {
	for _, m := range msgs {
		body, err := json.Marshal(webhookMessage{To: inv.Phone, Name: oneLine(inv.Name, 100), Kind: m.kind, Text: m.text,
			Room: inv.Room, Invitation: inv.ID})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.hook, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s message: %w", m.kind, err)
		}
		req.Header.Set("Content-Type", "application/json")
		if n.hookToken != "" {
			req.Header.Set("Authorization", "Bearer "+n.hookToken)
		}
		resp, err := n.http.Do(req)
		if err != nil {
			return fmt.Errorf("%s message: %w", m.kind, err)
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("%s message: the gateway answered %s: %s", m.kind, resp.Status, strings.TrimSpace(string(answer)))
		}
	}
	return nil
}
