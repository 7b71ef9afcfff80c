package digest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Message is one e-mail: a plain-text and an HTML alternative.
type Message struct {
	From      string
	To        []string
	Subject   string
	Text      string
	HTML      string
	MessageID string // without angle brackets; generated when empty
	Date      time.Time
	// Headers are extra headers (e.g. X-Yardmaster-Digest).
	Headers map[string]string
}

// BuildMessage renders m as an RFC 5322 message with a
// multipart/alternative body (text/plain first, then text/html, both UTF-8
// quoted-printable), CRLF line endings and RFC 2047 encoded headers.
func BuildMessage(m Message) ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("from address %q: %w", m.From, err)
	}
	if len(m.To) == 0 {
		return nil, errors.New("message has no recipient")
	}
	to := make([]string, 0, len(m.To))
	for _, t := range m.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", t, err)
		}
		to = append(to, a.String())
	}
	if m.MessageID == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		m.MessageID = hex.EncodeToString(b) + "@" + domainOf(from.Address)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("From", from.String())
	h.Set("To", strings.Join(to, ", "))
	h.Set("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	h.Set("Date", m.Date.Format(time.RFC1123Z))
	h.Set("Message-ID", "<"+m.MessageID+">")
	h.Set("MIME-Version", "1.0")
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	for k, v := range m.Headers {
		h.Set(k, mime.QEncoding.Encode("utf-8", oneLine(v)))
	}
	var out bytes.Buffer
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&out, "%s: %s\r\n", k, h.Get(k))
	}
	out.WriteString("\r\n")
	for _, part := range []struct{ ct, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		ph := textproto.MIMEHeader{}
		ph.Set("Content-Type", part.ct)
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mw.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	out.Write(buf.Bytes())
	return out.Bytes(), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "yardmaster.invalid"
}

// Mailer sends a built message to envelope recipients.
type Mailer interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// TLS modes of an SMTP connection.
const (
	TLSImplicit      = "implicit"      // smtps://: TLS from the first byte
	TLSStartRequired = "starttls"      // STARTTLS, refuse to send without it
	TLSStartOptional = "starttls-auto" // STARTTLS when offered
	TLSNone          = "none"          // plain text (local relays only)
)

// SMTPConfig is a parsed YARDMASTER_SMTP_URL.
type SMTPConfig struct {
	Addr     string // host:port
	Host     string
	TLS      string
	Username string
	Password string
	HeloName string
}

// ParseSMTPURL reads smtp://[user:pass@]host[:port][?starttls=auto|true|false&helo=name]
// (port 587; STARTTLS when offered by default, required with starttls=true,
// never with starttls=false) or smtps://[user:pass@]host[:port] (port 465,
// implicit TLS).
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, errors.New("not a URL")
	}
	var c SMTPConfig
	port := ""
	switch u.Scheme {
	case "smtp":
		port, c.TLS = "587", TLSStartOptional
	case "smtps":
		port, c.TLS = "465", TLSImplicit
	default:
		return c, fmt.Errorf("scheme must be smtp or smtps, not %q", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return c, errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	c.Addr = net.JoinHostPort(c.Host, port)
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if k != "starttls" && k != "helo" {
			return c, fmt.Errorf("unknown parameter %q (known: starttls, helo)", k)
		}
	}
	switch v := q.Get("starttls"); v {
	case "", "auto":
	case "true", "required":
		if c.TLS == TLSImplicit {
			return c, errors.New("starttls does not apply to smtps:// (TLS is implicit)")
		}
		c.TLS = TLSStartRequired
	case "false", "never":
		if c.TLS == TLSImplicit {
			return c, errors.New("starttls does not apply to smtps:// (TLS is implicit)")
		}
		c.TLS = TLSNone
	default:
		return c, fmt.Errorf("starttls must be auto, true or false, not %q", v)
	}
	c.HeloName = q.Get("helo")
	return c, nil
}

// SMTPMailer sends through one SMTP server: one connection per message,
// TLS per the configuration, AUTH PLAIN or LOGIN when credentials are set
// (never over an unencrypted connection to a non-loopback host).
type SMTPMailer struct {
	Config SMTPConfig
	// TLSConfig overrides the TLS settings (tests trust their own CA).
	TLSConfig *tls.Config
	// Timeout bounds the whole exchange (default 60s).
	Timeout time.Duration
}

// PermanentError marks a failure retrying cannot fix (a 5xx SMTP reply, a
// 4xx HTTP answer other than 408/429, a refused Odoo write).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Send delivers msg to the recipients.
func (m *SMTPMailer) Send(ctx context.Context, from string, to []string, msg []byte) error {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	envFrom, err := mail.ParseAddress(from)
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("from address %q: %w", from, err)}
	}
	rcpts := make([]string, 0, len(to))
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return &PermanentError{Err: fmt.Errorf("recipient %q: %w", t, err)}
		}
		rcpts = append(rcpts, a.Address)
	}
	tcfg := m.TLSConfig
	if tcfg == nil {
		tcfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tcfg = tcfg.Clone()
	if tcfg.ServerName == "" {
		tcfg.ServerName = m.Config.Host
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("smtp connect %s: %w", m.Config.Addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// Cancelling ctx aborts a blocked read or write at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if m.Config.TLS == TLSImplicit {
		conn = tls.Client(conn, tcfg)
	}
	c, err := smtp.NewClient(conn, m.Config.Host)
	if err != nil {
		conn.Close()
		return smtpErr("greeting", err)
	}
	defer c.Close()
	if m.Config.HeloName != "" {
		if err := c.Hello(m.Config.HeloName); err != nil {
			return smtpErr("hello", err)
		}
	}
	if m.Config.TLS == TLSStartRequired || m.Config.TLS == TLSStartOptional {
		ok, _ := c.Extension("STARTTLS")
		switch {
		case ok:
			if err := c.StartTLS(tcfg); err != nil {
				return smtpErr("starttls", err)
			}
		case m.Config.TLS == TLSStartRequired:
			return &PermanentError{Err: fmt.Errorf("smtp server %s does not offer STARTTLS (required by starttls=true)", m.Config.Addr)}
		}
	}
	if m.Config.Username != "" {
		_, encrypted := c.TLSConnectionState()
		if !encrypted && !isLoopback(m.Config.Host) {
			return &PermanentError{Err: fmt.Errorf("smtp server %s offers no TLS; refusing to send the password in clear text", m.Config.Addr)}
		}
		_, mechs := c.Extension("AUTH")
		var a smtp.Auth
		switch {
		case hasWord(mechs, "PLAIN"):
			a = plainAuth{user: m.Config.Username, pass: m.Config.Password}
		case hasWord(mechs, "LOGIN"):
			a = &loginAuth{user: m.Config.Username, pass: m.Config.Password}
		default:
			return &PermanentError{Err: fmt.Errorf("smtp server %s supports neither AUTH PLAIN nor LOGIN (offers %q)", m.Config.Addr, mechs)}
		}
		if err := c.Auth(a); err != nil {
			return smtpErr("auth", err)
		}
	}
	if err := c.Mail(envFrom.Address); err != nil {
		return smtpErr("mail from", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return smtpErr("rcpt to "+r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr("data", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("data", err)
	}
	// The message was accepted at the final dot; a failed QUIT does not
	// undo that.
	_ = c.Quit()
	return nil
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// plainAuth is SASL PLAIN (RFC 4616). Send checks the connection is
// encrypted (or local) before using it.
type plainAuth struct{ user, pass string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge during AUTH PLAIN")
	}
	return nil, nil
}

// loginAuth is the LOGIN mechanism some servers offer instead of PLAIN.
type loginAuth struct {
	user, pass string
	step       int
}

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected server challenge during AUTH LOGIN")
}

func smtpErr(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &PermanentError{Err: fmt.Errorf("smtp %s: %w", step, err)}
	}
	return fmt.Errorf("smtp %s: %w", step, err)
}
