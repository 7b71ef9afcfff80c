package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// cannedServer answers each request read from a connection with the next
// of responses, verbatim, and reports the requests it read.
func cannedServer(t *testing.T, responses ...string) (addr string, requests <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, len(responses))
	next := 0
	// serve answers requests on c until it closes or responses run out.
	serve := func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		for next < len(responses) {
			var head strings.Builder
			length := 0
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && strings.EqualFold(k, "Content-Length") {
					length, _ = strconv.Atoi(strings.TrimSpace(v))
				}
				if line == "\r\n" {
					break
				}
			}
			body := make([]byte, length)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			got <- head.String() + string(body)
			resp := responses[next]
			next++
			_, _ = io.WriteString(c, resp)
			if strings.Contains(resp, "Connection: close") {
				return
			}
		}
	}
	go func() {
		for next < len(responses) {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
		}
	}()
	return ln.Addr().String(), got
}

func TestWirePosterSpeaksHTTP(t *testing.T) {
	addr, reqs := cannedServer(t,
		"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
		"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}",
		"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
	)
	newPoster, err := newPosterFactory("http://"+addr+"/v1/webhooks/lt", 1)
	if err != nil {
		t.Fatal(err)
	}
	p := newPoster()
	defer p.close()

	status, body, err := p.post([]byte(`{"a":1}`), "c2ln")
	if err != nil || status != 202 || string(body) != `{"ok":true}` {
		t.Fatalf("first post: %d %q %v", status, body, err)
	}
	req := <-reqs
	for _, want := range []string{"POST /v1/webhooks/lt HTTP/1.1\r\n", "Host: " + addr + "\r\n", "Aftership-Hmac-Sha256: c2ln\r\n",
		"Content-Type: application/json\r\n", "Content-Length: 7\r\n", "\r\n\r\n{\"a\":1}"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q:\n%s", want, req)
		}
	}

	// Same connection; the answer asks to close it.
	status, body, err = p.post([]byte(`{}`), "x")
	if err != nil || status != 401 || string(body) != "{}" {
		t.Fatalf("second post: %d %q %v", status, body, err)
	}
	<-reqs
	if wp := p.(*wirePoster); wp.conn != nil {
		t.Fatal("Connection: close in the answer did not close the connection")
	}

	// A new connection is dialled; a chunked answer is refused, not misread.
	if _, _, err = p.post([]byte(`{}`), "x"); !errors.Is(err, errWireResponse) {
		t.Fatalf("chunked answer: err %v, want errWireResponse", err)
	}
}

func TestPosterFactoryRefusesOtherSchemes(t *testing.T) {
	if _, err := newPosterFactory("ftp://127.0.0.1/x", 1); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Fatalf("ftp URL: %v", err)
	}
	f, err := newPosterFactory("https://127.0.0.1/x", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f().(*stdPoster); !ok {
		t.Fatal("https should go through net/http")
	}
}

// TestLoadtestSelfStoresEveryAcceptedEvent runs the real command against
// the real server it starts: every request it counts as accepted was
// answered 202 by the service and every event counted as stored was new.
func TestLoadtestSelfStoresEveryAcceptedEvent(t *testing.T) {
	res := runCLI(t, cleanEnv("YARDMASTER_DATA_DIR="+t.TempDir()), "loadtest", "--self", "--duration", "1s", "--warmup", "200ms",
		"--concurrency", "8", "--checkpoints", "2", "--exceptions", "0.2", "--json")
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	var rep LoadtestReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, res.stdout)
	}
	if rep.Requests == 0 || rep.OK != rep.Requests || len(rep.Errors) != 0 {
		t.Fatalf("requests %d, accepted %d, errors %v", rep.Requests, rep.OK, rep.Errors)
	}
	if rep.EventsStored != 2*rep.OK {
		t.Fatalf("%d events stored for %d webhooks of 2 checkpoints", rep.EventsStored, rep.OK)
	}
	if rep.WithCase == 0 {
		t.Fatal("no event opened a case although 20% of webhooks end in an exception")
	}
	// Every batch holds at least one delivery; the window's batches are
	// its webhooks' and at most one more per sender straddling its start.
	if rep.Batches == 0 || rep.Batches > uint64(rep.OK+8) || rep.BatchEvents < 1 || rep.BatchMS <= 0 {
		t.Fatalf("%d batches of %.1f events, %.2f ms, for %d webhooks", rep.Batches, rep.BatchEvents, rep.BatchMS, rep.OK)
	}
}

// With a pool of tracking numbers most webhooks update a stored shipment;
// each still carries a checkpoint not seen before, so each is stored.
func TestLoadtestSelfWithShipmentPool(t *testing.T) {
	res := runCLI(t, cleanEnv("YARDMASTER_DATA_DIR="+t.TempDir()), "loadtest", "--self", "--duration", "1s", "--warmup", "200ms",
		"--concurrency", "8", "--shipments", "5", "--json")
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	var rep LoadtestReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, res.stdout)
	}
	if rep.Shipments != 5 || rep.OK <= 10 || rep.OK != rep.Requests || rep.EventsStored != rep.OK {
		t.Fatalf("pool %d: requests %d, accepted %d, events stored %d, errors %v", rep.Shipments, rep.Requests, rep.OK, rep.EventsStored, rep.Errors)
	}
}
