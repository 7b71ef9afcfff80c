package digest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/secretbox"
)

// clock is an injectable clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// berlin returns a wall-clock time in Europe/Berlin.
func berlin(t *testing.T, y int, m time.Month, d, hh, mm int) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return time.Date(y, m, d, hh, mm, 0, 0, loc)
}

// caseStore stands in for triage at the CaseSource boundary: it answers
// from a fixed list the way triage's query must (cases of the customers
// that exist by Until).
type caseStore struct {
	mu    sync.Mutex
	cases []Case
	calls int
}

func (c *caseStore) CustomerCases(_ context.Context, q CaseQuery) ([]Case, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	var out []Case
	for _, k := range c.cases {
		if slices.Contains(q.Customers, k.CustomerID) && k.OpenedAt.Before(q.Until) {
			out = append(out, k)
		}
	}
	return out, nil
}

// directory stands in for the Odoo mirror.
type directory struct {
	byEmail map[string][]Customer
	byTeam  map[string][]Customer
	all     map[string]Customer
}

func (d *directory) CustomersOf(_ context.Context, a Account) ([]Customer, error) {
	var out []Customer
	for _, e := range a.Emails {
		out = append(out, d.byEmail[e]...)
	}
	out = append(out, d.byTeam[a.Team]...)
	return out, nil
}

func (d *directory) Customers(_ context.Context, ids []string) ([]Customer, error) {
	var out []Customer
	for _, id := range ids {
		if c, ok := d.all[id]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// feed stands in for triage's escalation history: escalations become
// visible when the clock reaches their time.
type feed struct {
	mu       sync.Mutex
	now      func() time.Time
	items    []Escalation
	resolved map[string]bool
}

func (f *feed) EscalationsAfter(_ context.Context, cursor string, limit int) ([]Escalation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sort.SliceStable(f.items, func(i, j int) bool { return f.items[i].Cursor < f.items[j].Cursor })
	var out []Escalation
	for _, e := range f.items {
		if e.Cursor > cursor && !e.At.After(f.now()) {
			out = append(out, e)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func (f *feed) CursorAt(time.Time) string { return "" }

func (f *feed) StillEscalated(_ context.Context, ids []string) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = !f.resolved[id]
	}
	return out, nil
}

// mailSink is a real SMTP server (emersion/go-smtp) that keeps what it
// receives; it can be stopped and started again on the same address.
type mailSink struct {
	t        testing.TB
	mu       sync.Mutex
	msgs     []sunk
	addr     string
	srv      *smtp.Server
	ln       net.Listener
	tls      *tls.Config // non-nil: offer STARTTLS (or implicit TLS)
	implicit bool
	user     string
	pass     string
}

type sunk struct {
	From string
	To   []string
	Data []byte
}

func newMailSink(t testing.TB) *mailSink {
	t.Helper()
	m := &mailSink{t: t, addr: "127.0.0.1:0"}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

func (m *mailSink) Start() {
	m.t.Helper()
	s := smtp.NewServer(m)
	s.Domain = "localhost"
	s.AllowInsecureAuth = m.tls == nil
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if !m.implicit {
		s.TLSConfig = m.tls
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		m.t.Fatalf("smtp sink listen: %v", err)
	}
	if m.implicit {
		ln = tls.NewListener(ln, m.tls)
	}
	m.addr = ln.Addr().String()
	m.srv, m.ln = s, ln
	go func() { _ = s.Serve(ln) }()
}

func (m *mailSink) Stop() {
	if m.srv != nil {
		// Close the listener too: Serve may not have registered it yet.
		_ = m.ln.Close()
		_ = m.srv.Close()
		m.srv, m.ln = nil, nil
	}
}

func (m *mailSink) Messages() []sunk {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

func (m *mailSink) To(rcpt string) []sunk {
	var out []sunk
	for _, s := range m.Messages() {
		if slices.Contains(s.To, rcpt) {
			out = append(out, s)
		}
	}
	return out
}

func (m *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{m: m}, nil }

type sinkSession struct {
	m      *mailSink
	authed bool
	from   string
	to     []string
}

func (s *sinkSession) AuthMechanisms() []string {
	if s.m.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.m.user || pass != s.m.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "invalid credentials"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.user != "" && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "bounce@example.com" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, sunk{From: s.from, To: slices.Clone(s.to), Data: bytes.Clone(b)})
	s.m.mu.Unlock()
	return nil
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }

// selfSigned returns a server TLS config for 127.0.0.1 and a client config
// that trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
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
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// testBox returns a secret box with a fresh key.
func testBox(t testing.TB) *secretbox.Box {
	t.Helper()
	k, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// addUser creates a console user and returns its principal.
func addUser(t testing.TB, d *db.DB, name string, role auth.Role, email, team string) auth.Principal {
	t.Helper()
	u, err := auth.CreateUser(context.Background(), d, time.Now(), auth.UserSpec{Username: name, DisplayName: name, Email: email,
		Team: team, Role: role, Password: "a long enough password"})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u.Principal()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
