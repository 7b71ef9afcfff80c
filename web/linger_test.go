package web_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/web"
)

// TestOversizedBodyGetsItsAnswer is a client sending a body larger than the
// limit: the server answers 413 as soon as it has read the headers, while
// the client is still sending. The client must be able to finish sending
// and read the answer: a server that closes with the body unread makes the
// kernel answer the rest with a reset, and a client still writing (Go's own
// http.Client among them) reports "connection reset by peer" instead of the
// 413 it was sent.
func TestOversizedBodyGetsItsAnswer(t *testing.T) {
	const limit = 16 << 10
	s := web.New(web.Options{DB: testenv.DB(t), Now: func() time.Time { return now }, MaxBodyBytes: limit})
	ready := make(chan net.Addr, 1)
	go func() { _ = s.Listen("127.0.0.1:0", ready) }()
	addr := (<-ready).String()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

	body := bytes.Repeat([]byte("x"), 4*limit)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /api/v1/tokens HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no early answer: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 413 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%d %s %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	// The client goes on sending what it announced, then waits for the end.
	if _, err := conn.Write(body); err != nil {
		t.Fatalf("the rest of the body was refused: %v", err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("connection ended with %q, %v; want a clean end", rest, err)
	}
}
