package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"time"
)

// poster sends one signed webhook and returns the status and response body
// (valid until the next call). Each sender goroutine owns one.
type poster interface {
	post(body []byte, signature string) (int, []byte, error)
	close()
}

// newPosterFactory picks the client for target. Plain http:// targets get
// wirePoster: with --self the client shares the two cores with the server it
// measures, and net/http's client (two goroutines and header maps per
// connection, ~25 % of the process's CPU in a PostgreSQL profile) would be
// counted against the server. https:// targets use net/http.
func newPosterFactory(target string, conc int) (func() poster, error) {
	u, err := neturl.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	switch u.Scheme {
	case "http":
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		return func() poster { return &wirePoster{addr: addr, host: u.Host, path: u.RequestURI()} }, nil
	case "https":
		tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute}
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		return func() poster { return &stdPoster{client: client, target: target} }, nil
	default:
		return nil, fmt.Errorf("--url must start with http:// or https:// (e.g. http://127.0.0.1:8080), not %q", target)
	}
}

type stdPoster struct {
	client *http.Client
	target string
}

func (p *stdPoster) post(body []byte, signature string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, p.target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aftership-hmac-sha256", signature)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (p *stdPoster) close() {}

// wirePoster speaks just enough HTTP/1.1 over one kept-alive connection:
// a hand-built request, and a response read by its Content-Length. A
// response it cannot read that way (chunked, no length) is an error, and
// the connection is dropped and redialled on the next post.
type wirePoster struct {
	addr, host, path string
	conn             net.Conn
	r                *bufio.Reader
	req, resp        []byte
}

var errWireResponse = errors.New("loadtest: response not readable by Content-Length")

func (p *wirePoster) post(body []byte, signature string) (int, []byte, error) {
	if p.conn == nil {
		c, err := net.DialTimeout("tcp", p.addr, 10*time.Second)
		if err != nil {
			return 0, nil, err
		}
		p.conn, p.r = c, bufio.NewReaderSize(c, 4096)
	}
	_ = p.conn.SetDeadline(time.Now().Add(30 * time.Second))
	b := append(p.req[:0], "POST "...)
	b = append(b, p.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, p.host...)
	b = append(b, "\r\nUser-Agent: yardmaster-loadtest\r\nContent-Type: application/json\r\nAftership-Hmac-Sha256: "...)
	b = append(b, signature...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	p.req = b
	if _, err := p.conn.Write(b); err != nil {
		p.close()
		return 0, nil, err
	}
	status, err := p.readResponse()
	if err != nil {
		p.close()
		return 0, nil, err
	}
	return status, p.resp, nil
}

// readResponse reads one response into p.resp. Connection: close in the
// answer closes the connection after reading it.
func (p *wirePoster) readResponse() (int, error) {
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 202 Accepted\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("loadtest: bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("loadtest: bad status line %q", line)
	}
	length, closeAfter := -1, false
	for {
		h, err := p.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("loadtest: bad header line %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, fmt.Errorf("loadtest: bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, errWireResponse
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closeAfter = true
		}
	}
	if length < 0 {
		return 0, errWireResponse
	}
	if cap(p.resp) < length {
		p.resp = make([]byte, length)
	}
	p.resp = p.resp[:length]
	if _, err := io.ReadFull(p.r, p.resp); err != nil {
		return 0, err
	}
	if closeAfter {
		p.close()
	}
	return status, nil
}

func (p *wirePoster) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn, p.r = nil, nil
	}
}
