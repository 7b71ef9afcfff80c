package digest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// Sign returns the Standard Webhooks signature header value
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" for key.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ErrPrivateAddress is returned when a webhook would connect to a
// non-public address and the sender does not allow it.
var ErrPrivateAddress = errors.New("webhook address is not public (loopback, private network or link-local); set YARDMASTER_DIGEST_WEBHOOK_PRIVATE=true to allow")

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicIP reports whether ip is a public unicast address.
func publicIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!cgnat.Contains(ip) && !(ip.Is4() && ip.As4()[0] == 0)
}

// NewWebhookSender returns a sender with a 30 s timeout that never follows
// redirects (3xx is a failure) and, unless allowPrivate, refuses to connect
// to non-public addresses — checked on the resolved address when the
// connection is made, so a DNS answer cannot smuggle one in.
func NewWebhookSender(userAgent string, allowPrivate bool) *WebhookSender {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !publicIP(ap.Addr()) {
				return ErrPrivateAddress
			}
			return nil
		}
	}
	tr := &http.Transport{Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true, MaxIdleConns: 20,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	return &WebhookSender{UserAgent: userAgent, Client: &http.Client{Timeout: 30 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// WebhookSender posts signed JSON.
type WebhookSender struct {
	Client *http.Client
	// UserAgent identifies Yardmaster to receivers.
	UserAgent string
}

// maxWebhookAnswer bounds how much of an answer is read (for the error).
const maxWebhookAnswer = 4 << 10

// Post sends body to url with the Standard Webhooks headers: id (the same
// on every retry of one delivery, so receivers can deduplicate), the
// attempt's timestamp and the signature. 2xx is success; 408, 429 and 5xx
// are retried; other answers (3xx included, as the spec says) fail
// permanently.
func (w *WebhookSender) Post(ctx context.Context, url string, key []byte, id string, now time.Time, body []byte) (string, error) {
	if strings.Contains(id, ".") {
		return "", &PermanentError{Err: fmt.Errorf("webhook id %q must not contain '.'", id)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", &PermanentError{Err: fmt.Errorf("webhook request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.UserAgent)
	req.Header.Set(HeaderWebhookID, id)
	req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderWebhookSignature, Sign(key, id, now, body))
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, ErrPrivateAddress) {
			return "", &PermanentError{Err: fmt.Errorf("webhook post: %w", err)}
		}
		return "", fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxWebhookAnswer))
	status := resp.Status
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return status, nil
	}
	err = fmt.Errorf("webhook answered %s: %s", status, truncate(strings.TrimSpace(string(answer)), 300))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return status, err
	default:
		return status, &PermanentError{Err: err}
	}
}
