package odoo

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/yardmaster/yardmaster/internal/config"
)

// Connector is the Odoo side of one process: one client (one rate limit,
// one circuit breaker for every worker), the mirror and the executors.
type Connector struct {
	Client   *Client
	Mirror   *Mirror
	Executor *Executor
}

// Enabled reports whether the configuration turns the connector on.
func Enabled(cfg config.Config) bool { return cfg.OdooURL != "" }

// ClientOptionsFrom maps YARDMASTER_ODOO_* settings to client options.
func ClientOptionsFrom(cfg config.Config, log *slog.Logger) Options {
	burst := int(cfg.OdooRateLimit)
	if burst < 1 {
		burst = 1
	}
	return Options{
		URL: cfg.OdooURL, DB: cfg.OdooDB, Login: cfg.OdooUser, APIKey: cfg.OdooAPIKey, Protocol: cfg.OdooProtocol,
		Timeout: cfg.OdooTimeout, Limiter: rate.NewLimiter(rate.Limit(cfg.OdooRateLimit), burst), Logger: log,
	}
}

func clientOptions(cfg config.Config, log *slog.Logger, now func() time.Time) Options {
	o := ClientOptionsFrom(cfg, log)
	o.Now = now
	return o
}

// NewConnector builds the client, mirror and executor from the
// configuration. It does no I/O.
func NewConnector(cfg config.Config, mirrorDB MirrorOptions, log *slog.Logger, now func() time.Time) (*Connector, error) {
	if !Enabled(cfg) {
		return nil, fmt.Errorf("%w: YARDMASTER_ODOO_URL is not set", ErrInvalid)
	}
	if now == nil {
		now = time.Now
	}
	c, err := New(clientOptions(cfg, log, now))
	if err != nil {
		return nil, fmt.Errorf("YARDMASTER_ODOO_*: %w", err)
	}
	mo := mirrorDB
	mo.Client, mo.Now, mo.Logger = c, now, log
	m, err := NewMirror(mo)
	if err != nil {
		return nil, err
	}
	x, err := NewExecutor(ExecutorOptions{Client: c, Preview: m.Resolver(mo.DB.Read), TicketProjectID: int64(cfg.OdooTicketProjectID), Now: now, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Connector{Client: c, Mirror: m, Executor: x}, nil
}

// Health reports the client's state (for the console and /readyz).
func (c *Connector) Health() Health { return c.Client.Health() }

// LastSync is the oldest last successful sync over the mirrored models
// (zero before the first complete sync): the mirror is at least that fresh.
func (c *Connector) LastSync(ctx context.Context) (time.Time, error) {
	st, err := c.Mirror.Status(ctx, c.Mirror.o.DB.Read)
	if err != nil {
		return time.Time{}, err
	}
	var oldest time.Time
	for _, s := range st {
		if s.LastSuccessAt == nil {
			return time.Time{}, nil
		}
		if oldest.IsZero() || s.LastSuccessAt.Before(oldest) {
			oldest = *s.LastSuccessAt
		}
	}
	return oldest, nil
}
