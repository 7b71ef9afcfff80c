package web

import (
	"io"
	"net"
	"sync"
	"time"
)

// A lingering close, as Apache and net/http do and fasthttp does not: when
// the server ends a connection while the client is still sending (a body
// over the limit answered 413 from its headers, a request refused before
// its body was read), closing the socket with unread bytes makes the kernel
// send a reset, and the reset destroys the answer the client has not read
// yet. So a connection is closed for writing first (the answer, then FIN),
// and what the client still sends is read and discarded, up to a bound, until
// it closes its side.
const (
	lingerBytes = 8 << 20
	lingerWait  = 2 * time.Second
)

type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &lingerConn{TCPConn: tc}, nil
	}
	return c, nil
}

type lingerConn struct {
	*net.TCPConn
	once sync.Once
}

// Close returns at once; the drain runs on its own goroutine so a server
// worker is not held by a slow client, and ends by lingerWait at the latest.
func (c *lingerConn) Close() error {
	var err error
	c.once.Do(func() {
		if err = c.TCPConn.CloseWrite(); err != nil {
			err = c.TCPConn.Close()
			return
		}
		go func() {
			_ = c.TCPConn.SetReadDeadline(time.Now().Add(lingerWait))
			_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytes)
			_ = c.TCPConn.Close()
		}()
	})
	return err
}
