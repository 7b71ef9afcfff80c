package digest

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// parsed is an e-mail taken apart with the standard library's MIME
// readers, not ours.
type parsed struct {
	Header  mail.Header
	Subject string
	Parts   []part
}

type part struct {
	ContentType string
	Body        string
}

func parseMail(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	out := parsed{Header: m.Header, Subject: subj}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		out.Parts = append(out.Parts, part{ContentType: p.Header.Get("Content-Type"), Body: string(b)})
	}
	return out
}

func TestBuildMessage(t *testing.T) {
	text := "Hello Ümit,\nline two with a very long line " + strings.Repeat("x", 200) + "\n"
	html := `<p>Hello <a href="https://ym.example/console/cases/C1?a=1&amp;b=2">case</a></p>`
	raw, err := BuildMessage(Message{From: "Yardmaster <ym@example.com>", To: []string{"Ümit Öz <umit@example.com>"},
		Subject: "Digest: 3 cases — Größe", Text: text, HTML: html, MessageID: "run1.d1@example.com",
		Date: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), Headers: map[string]string{"X-Yardmaster-Digest": "run1"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line %d longer than RFC 5322 allows (%d)", i, len(line))
		}
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("bare LF in message")
	}
	m := parseMail(t, raw)
	if m.Subject != "Digest: 3 cases — Größe" {
		t.Errorf("subject = %q", m.Subject)
	}
	if got := m.Header.Get("Message-Id"); got != "<run1.d1@example.com>" {
		t.Errorf("message-id = %q", got)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Ümit Öz" || to[0].Address != "umit@example.com" {
		t.Errorf("to = %v, %v", to, err)
	}
	if m.Header.Get("Auto-Submitted") != "auto-generated" || m.Header.Get("Mime-Version") != "1.0" {
		t.Errorf("headers: %v", m.Header)
	}
	if len(m.Parts) != 2 || !strings.HasPrefix(m.Parts[0].ContentType, "text/plain") || !strings.HasPrefix(m.Parts[1].ContentType, "text/html") {
		t.Fatalf("parts = %+v", m.Parts)
	}
	if strings.ReplaceAll(m.Parts[0].Body, "\r\n", "\n") != text {
		t.Errorf("text part round trip:\n%q\nwant\n%q", m.Parts[0].Body, text)
	}
	if m.Parts[1].Body != html {
		t.Errorf("html part = %q", m.Parts[1].Body)
	}
}

func TestBuildMessageRejects(t *testing.T) {
	for _, m := range []Message{
		{From: "not an address", To: []string{"a@example.com"}},
		{From: "a@example.com"},
		{From: "a@example.com", To: []string{"nope"}},
	} {
		if _, err := BuildMessage(m); err == nil {
			t.Errorf("BuildMessage(%+v) accepted", m)
		}
	}
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    SMTPConfig
		wantErr string
	}{
		{raw: "smtp://mail.example.com", want: SMTPConfig{Addr: "mail.example.com:587", Host: "mail.example.com", TLS: TLSStartOptional}},
		{raw: "smtp://u%40x:p%3Ass@mail.example.com:2525?starttls=true&helo=ym.example", want: SMTPConfig{Addr: "mail.example.com:2525",
			Host: "mail.example.com", TLS: TLSStartRequired, Username: "u@x", Password: "p:ss", HeloName: "ym.example"}},
		{raw: "smtp://127.0.0.1:25?starttls=false", want: SMTPConfig{Addr: "127.0.0.1:25", Host: "127.0.0.1", TLS: TLSNone}},
		{raw: "smtps://u:p@[::1]", want: SMTPConfig{Addr: "[::1]:465", Host: "::1", TLS: TLSImplicit, Username: "u", Password: "p"}},
		{raw: "http://mail.example.com", wantErr: "scheme"},
		{raw: "smtp://", wantErr: "no host"},
		{raw: "smtp://mail.example.com?starttls=maybe", wantErr: "starttls must be"},
		{raw: "smtps://mail.example.com?starttls=true", wantErr: "does not apply"},
		{raw: "smtp://mail.example.com?tls=1", wantErr: "unknown parameter"},
		{raw: "::", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseSMTPURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSMTPURL = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func sendTestMail(t *testing.T, m *SMTPMailer, to string) error {
	t.Helper()
	raw, err := BuildMessage(Message{From: "ym@example.com", To: []string{to}, Subject: "s", Text: "t", HTML: "<p>h</p>", Date: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Send(ctx, "ym@example.com", []string{to}, raw)
}

func TestSMTPMailer(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	t.Run("plain", func(t *testing.T) {
		sink := newMailSink(t)
		cfg, _ := ParseSMTPURL("smtp://" + sink.addr)
		if err := sendTestMail(t, &SMTPMailer{Config: cfg}, "a@example.com"); err != nil {
			t.Fatal(err)
		}
		if got := sink.To("a@example.com"); len(got) != 1 || got[0].From != "ym@example.com" {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("starttls required, with auth", func(t *testing.T) {
		sink := &mailSink{t: t, addr: "127.0.0.1:0", tls: srvTLS, user: "ym", pass: "secret"}
		sink.Start()
		t.Cleanup(sink.Stop)
		cfg, _ := ParseSMTPURL("smtp://ym:secret@" + sink.addr + "?starttls=true")
		if err := sendTestMail(t, &SMTPMailer{Config: cfg, TLSConfig: cliTLS}, "b@example.com"); err != nil {
			t.Fatal(err)
		}
		if len(sink.To("b@example.com")) != 1 {
			t.Fatal("not received")
		}
		bad, _ := ParseSMTPURL("smtp://ym:wrong@" + sink.addr + "?starttls=true")
		err := sendTestMail(t, &SMTPMailer{Config: bad, TLSConfig: cliTLS}, "b@example.com")
		if err == nil || !IsPermanent(err) {
			t.Fatalf("wrong password: %v (permanent %v)", err, IsPermanent(err))
		}
	})
	t.Run("starttls required but not offered", func(t *testing.T) {
		sink := newMailSink(t)
		cfg, _ := ParseSMTPURL("smtp://" + sink.addr + "?starttls=true")
		err := sendTestMail(t, &SMTPMailer{Config: cfg}, "c@example.com")
		if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("starttls with an untrusted certificate", func(t *testing.T) {
		sink := &mailSink{t: t, addr: "127.0.0.1:0", tls: srvTLS}
		sink.Start()
		t.Cleanup(sink.Stop)
		cfg, _ := ParseSMTPURL("smtp://" + sink.addr)
		if err := sendTestMail(t, &SMTPMailer{Config: cfg}, "d@example.com"); err == nil {
			t.Fatal("sent over a TLS connection whose certificate nobody trusts")
		}
	})
	t.Run("implicit tls", func(t *testing.T) {
		sink := &mailSink{t: t, addr: "127.0.0.1:0", tls: srvTLS, implicit: true, user: "ym", pass: "secret"}
		sink.Start()
		t.Cleanup(sink.Stop)
		cfg, _ := ParseSMTPURL("smtps://ym:secret@" + sink.addr)
		if err := sendTestMail(t, &SMTPMailer{Config: cfg, TLSConfig: cliTLS}, "e@example.com"); err != nil {
			t.Fatal(err)
		}
		if len(sink.To("e@example.com")) != 1 {
			t.Fatal("not received")
		}
	})
	t.Run("rejected recipient is permanent", func(t *testing.T) {
		sink := newMailSink(t)
		cfg, _ := ParseSMTPURL("smtp://" + sink.addr)
		err := sendTestMail(t, &SMTPMailer{Config: cfg}, "bounce@example.com")
		if err == nil || !IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("server down is temporary", func(t *testing.T) {
		sink := newMailSink(t)
		sink.Stop()
		cfg, _ := ParseSMTPURL("smtp://" + sink.addr)
		err := sendTestMail(t, &SMTPMailer{Config: cfg}, "f@example.com")
		if err == nil || IsPermanent(err) {
			t.Fatalf("err = %v (permanent %v)", err, IsPermanent(err))
		}
	})
}
