// Package config reads Yardmaster's configuration from YARDMASTER_*
// environment variables (and flags, which cmd maps onto the same fields).
// Every field is declared once, with its variable, default, example and
// documentation in struct tags; the loader, the validation messages and the
// configuration reference in the README all come from those tags.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Prefix is the prefix of every environment variable.
const Prefix = "YARDMASTER_"

// Config is the whole configuration of one process.
type Config struct {
	Addr            string        `env:"ADDR" default:"127.0.0.1:8080" example:"0.0.0.0:8080" check:"hostport" doc:"HTTP listen address (host:port)."`
	PublicURL       string        `env:"PUBLIC_URL" example:"https://yardmaster.example.com" check:"url:http,https" doc:"External base URL used in links (digests, notifications). Default: http://ADDR."`
	DataDir         string        `env:"DATA_DIR" default:"./data" example:"/var/lib/yardmaster" doc:"Directory for the SQLite file and the generated secret key."`
	DatabaseURL     string        `env:"DATABASE_URL" example:"postgres://yardmaster@db:5432/yardmaster?sslmode=disable" check:"dburl" doc:"PostgreSQL URL (postgres://, postgresql://) or sqlite:///path/file.db. Empty: SQLite file yardmaster.db in DATA_DIR."`
	RedisURL        string        `env:"REDIS_URL" example:"redis://127.0.0.1:6379/0" check:"url:redis,rediss" doc:"Redis for the asynq queue. Empty: an embedded in-process Redis-protocol server (not durable across restarts; the outbox re-enqueues on start)."`
	SecretKey       string        `env:"SECRET_KEY" secret:"true" example:"(32 random bytes, base64: openssl rand -base64 32)" check:"secretkey" doc:"Key that encrypts stored secrets. Empty: generated once into DATA_DIR/secret.key."`
	Role            string        `env:"ROLE" default:"all" example:"api" check:"oneof:api,worker,all" doc:"What this process runs: api (HTTP), worker (asynq workers, scheduler, outbox), or all."`
	AutoMigrate     bool          `env:"AUTO_MIGRATE" default:"true" example:"false" doc:"Apply pending migrations when serve starts. When false, serve refuses to start on a stale schema."`
	LogLevel        string        `env:"LOG_LEVEL" default:"info" example:"debug" check:"oneof:debug,info,warn,error" doc:"Log level; logs are JSON on stderr."`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" default:"30s" example:"10s" check:"positive" doc:"Grace period on SIGTERM/SIGINT to drain requests and running jobs."`
	MaxBodyBytes    int           `env:"MAX_BODY_BYTES" default:"1048576" example:"2097152" check:"positive" doc:"Largest accepted request body in bytes (webhooks and API)."`
	Concurrency     int           `env:"WORKER_CONCURRENCY" default:"8" example:"20" check:"positive" doc:"Concurrent asynq job handlers per worker process."`
	AdminPassword   string        `env:"ADMIN_PASSWORD" secret:"true" example:"a long passphrase" doc:"Password for the first admin user created on first start. Empty: a one-time password is generated and printed once."`

	// Console.
	SessionIdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" default:"8h" example:"2h" check:"positive" doc:"Console sessions end after this long without a request."`
	SessionMaxAge      time.Duration `env:"SESSION_MAX_AGE" default:"72h" example:"24h" check:"positive" doc:"Console sessions end this long after sign-in, active or not."`
	SecureCookies      string        `env:"SECURE_COOKIES" default:"auto" example:"true" check:"oneof:auto,true,false" doc:"Mark console cookies Secure (HTTPS only). auto: when PUBLIC_URL is https."`
	LoginMaxFailures   int           `env:"LOGIN_MAX_FAILURES" default:"5" example:"10" check:"positive" doc:"Failed sign-ins for one user from one address before a lock (1 minute, doubling up to an hour)."`

	// Intake.
	DedupRetention      time.Duration `env:"DEDUP_RETENTION" default:"72h" example:"168h" check:"min:72h" doc:"How long provider event ids are remembered for deduplication (at least 72h)."`
	RawPayloadRetention time.Duration `env:"RAW_PAYLOAD_RETENTION" default:"720h" example:"2160h" check:"positive" doc:"How long raw webhook bodies are kept."`
	BatchMaxEvents      int           `env:"BATCH_MAX_EVENTS" default:"256" example:"512" check:"positive" doc:"Group commit: most events per transaction."`
	BatchMaxWait        time.Duration `env:"BATCH_MAX_WAIT" default:"2ms" example:"10ms" check:"positive" doc:"Group commit: longest wait to fill a batch."`
	BatchCommitters     int           `env:"BATCH_COMMITTERS" default:"0" example:"2" check:"nonnegative" doc:"Group commit: batches committing at once on PostgreSQL (SQLite always 1). 0: one per CPU, 2 to 4; at most 4."`
	SourceRateLimit     float64       `env:"SOURCE_RATE_LIMIT" default:"500" example:"2000" check:"positive" doc:"Default per-source request rate limit (requests/s, token bucket; burst = 2x)."`

	// Rules.
	RulesFourEyes        bool          `env:"RULES_FOUR_EYES" default:"false" example:"true" doc:"Publishing a ruleset needs approval by someone other than its author."`
	RulesRecordRetention time.Duration `env:"RULES_RECORD_RETENTION" default:"8760h" example:"17520h" check:"positive" doc:"How long the evaluation record of each event (and the Odoo context backtests replay) is kept."`

	// Triage.
	TriagePolicy string `env:"TRIAGE_POLICY" example:"/etc/yardmaster/triage.yaml" doc:"YAML file with the triage policy (SLA defaults, business-hours calendar, escalation, four-eyes action types, sweep thresholds, disruptions, priority weights; see docs/triage.md). Empty: the built-in defaults."`

	// Odoo.
	OdooURL             string        `env:"ODOO_URL" example:"https://acme.odoo.com" check:"url:http,https" doc:"Odoo base URL. Empty: the Odoo connector is off."`
	OdooDB              string        `env:"ODOO_DB" example:"acme" doc:"Odoo database name."`
	OdooUser            string        `env:"ODOO_USER" example:"yardmaster@acme.com" doc:"Odoo login of the integration user."`
	OdooAPIKey          string        `env:"ODOO_API_KEY" secret:"true" example:"(an Odoo API key)" doc:"Odoo API key (or password) of the integration user."`
	OdooProtocol        string        `env:"ODOO_PROTOCOL" default:"auto" example:"json2" check:"oneof:auto,xmlrpc,json2" doc:"xmlrpc (Odoo 17/18), json2 (Odoo 19+), or auto (chosen from version())."`
	OdooRateLimit       float64       `env:"ODOO_RATE_LIMIT" default:"10" example:"5" check:"positive" doc:"Most Odoo calls per second from one process."`
	OdooTimeout         time.Duration `env:"ODOO_TIMEOUT" default:"15s" example:"30s" check:"positive" doc:"Timeout of one Odoo call."`
	OdooTicketProjectID int           `env:"ODOO_TICKET_PROJECT_ID" default:"0" example:"7" doc:"project.project id for create_ticket when Helpdesk is not installed."`
	OdooSyncInterval    time.Duration `env:"ODOO_SYNC_INTERVAL" default:"5m" example:"1m" check:"positive" doc:"How often the Odoo mirror syncs incrementally."`

	// LLM.
	LLMBaseURL string `env:"LLM_BASE_URL" example:"http://127.0.0.1:8081/v1" check:"url:http,https" doc:"OpenAI-compatible endpoint including /v1. Empty: deterministic summaries only."`
	LLMModel   string `env:"LLM_MODEL" example:"gpt-4o-mini" doc:"Model name sent to the LLM endpoint."`
	LLMAPIKey  string `env:"LLM_API_KEY" secret:"true" example:"sk-..." doc:"API key for the LLM endpoint."`
	// LLM limits (triage/ai).
	LLMTimeout         time.Duration `env:"LLM_TIMEOUT" default:"60s" example:"20s" check:"positive" doc:"Timeout of one request to the LLM endpoint; a timed-out summary falls back to the deterministic one."`
	LLMMaxTokens       int           `env:"LLM_MAX_TOKENS" default:"800" example:"600" check:"positive" doc:"Most output tokens of one LLM call."`
	LLMTokenParam      string        `env:"LLM_TOKEN_PARAM" default:"auto" example:"max_tokens" check:"oneof:auto,max_tokens,max_completion_tokens" doc:"Request field that carries LLM_MAX_TOKENS: max_tokens (llama.cpp, Ollama, vLLM), max_completion_tokens (current OpenAI models), or auto (max_completion_tokens for api.openai.com, Azure OpenAI hosts and o1/o3/o4/gpt-5/gpt-6 models)."`
	LLMCallsPerHour    int           `env:"LLM_CALLS_PER_HOUR" default:"120" example:"600" check:"positive" doc:"LLM calls allowed per sliding hour in one process; over budget, summaries are deterministic."`
	LLMCostPer1KInput  float64       `env:"LLM_COST_PER_1K_INPUT" default:"0" example:"0.00015" check:"nonnegative" doc:"Price in USD per 1000 prompt tokens, for the cost metric."`
	LLMCostPer1KOutput float64       `env:"LLM_COST_PER_1K_OUTPUT" default:"0" example:"0.0006" check:"nonnegative" doc:"Price in USD per 1000 completion tokens, for the cost metric."`

	// ETA risk (triage/eta).
	ETARetrainInterval time.Duration `env:"ETA_RETRAIN_INTERVAL" default:"6h" example:"1h" check:"positive" doc:"How often the ETA-risk model is retrained from delivered shipments (a process with no stored model also trains once at start)."`
	ETAHistory         time.Duration `env:"ETA_HISTORY" default:"8760h" example:"2160h" check:"positive" doc:"How far back delivered shipments are learned from by the ETA-risk model."`

	// Email.
	SMTPURL  string `env:"SMTP_URL" secret:"true" example:"smtp://user:pass@mail.example.com:587?starttls=true" check:"url:smtp,smtps" doc:"SMTP server for digests: smtp:// (STARTTLS when offered or ?starttls=true) or smtps:// (implicit TLS)."`
	SMTPFrom string `env:"SMTP_FROM" example:"Yardmaster <yardmaster@example.com>" doc:"From address of digest emails."`
	// DigestWebhookPrivate lets digest webhooks reach non-public addresses.
	DigestWebhookPrivate bool `env:"DIGEST_WEBHOOK_PRIVATE" default:"false" example:"true" doc:"Let digest webhooks connect to loopback, private-network and link-local addresses (a relay on this host or the LAN). Off: subscribers choose webhook URLs, and digests must not become a way into the internal network."`
}

// Field describes one configuration variable, for documentation.
type Field struct {
	Env, Default, Example, Doc, Type string
	Secret                           bool
}

// Fields lists every variable in declaration order.
func Fields() []Field {
	t := reflect.TypeOf(Config{})
	out := make([]Field, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		out = append(out, Field{
			Env: Prefix + f.Tag.Get("env"), Default: f.Tag.Get("default"), Example: f.Tag.Get("example"),
			Doc: f.Tag.Get("doc"), Type: typeName(f.Type), Secret: f.Tag.Get("secret") == "true",
		})
	}
	return out
}

func typeName(t reflect.Type) string {
	if t == reflect.TypeOf(time.Duration(0)) {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Int:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	default:
		return "string"
	}
}

// Problem is one invalid setting.
type Problem struct {
	Env, Message, Example string
}

func (p Problem) String() string {
	s := p.Env + ": " + p.Message
	if p.Example != "" {
		s += " (example: " + p.Example + ")"
	}
	return s
}

// Error lists every problem found, one per line.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "invalid configuration: " + p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the configuration from lookup (os.LookupEnv in production),
// then applies overrides (flag values keyed by the variable name without the
// prefix, e.g. "ADDR"), then validates. It reports every problem at once.
func Load(lookup func(string) (string, bool), overrides map[string]string) (Config, error) {
	var c Config
	var probs []Problem
	v := reflect.ValueOf(&c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("env")
		raw, set := lookup(Prefix + name)
		if o, ok := overrides[name]; ok {
			raw, set = o, true
		}
		if !set || (raw == "" && f.Tag.Get("default") != "") {
			raw = f.Tag.Get("default")
		}
		if err := setField(v.Field(i), strings.TrimSpace(raw)); err != nil {
			probs = append(probs, Problem{Env: Prefix + name, Message: err.Error(), Example: f.Tag.Get("example")})
			continue
		}
		if msg := check(f.Tag.Get("check"), v.Field(i)); msg != "" {
			probs = append(probs, Problem{Env: Prefix + name, Message: msg, Example: f.Tag.Get("example")})
		}
	}
	probs = append(probs, c.crossChecks()...)
	if len(probs) > 0 {
		return c, &Error{Problems: probs}
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c, nil
}

func (c Config) crossChecks() []Problem {
	var probs []Problem
	if c.OdooURL != "" {
		for _, p := range []struct{ env, val string }{{"ODOO_DB", c.OdooDB}, {"ODOO_USER", c.OdooUser}, {"ODOO_API_KEY", c.OdooAPIKey}} {
			if p.val == "" {
				probs = append(probs, Problem{Env: Prefix + p.env, Message: "required when YARDMASTER_ODOO_URL is set"})
			}
		}
	}
	if c.LLMBaseURL != "" && c.LLMModel == "" {
		probs = append(probs, Problem{Env: Prefix + "LLM_MODEL", Message: "required when YARDMASTER_LLM_BASE_URL is set", Example: "gpt-4o-mini"})
	}
	if c.SMTPURL != "" && c.SMTPFrom == "" {
		probs = append(probs, Problem{Env: Prefix + "SMTP_FROM", Message: "required when YARDMASTER_SMTP_URL is set", Example: "Yardmaster <yardmaster@example.com>"})
	}
	return probs
}

func setField(v reflect.Value, raw string) error {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		if raw == "" {
			return nil
		}
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("%q is not a duration", raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int:
		if raw == "" {
			return nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		v.SetInt(int64(n))
	case reflect.Float64:
		if raw == "" {
			return nil
		}
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v.SetFloat(n)
	case reflect.Bool:
		if raw == "" {
			return nil
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("unsupported field kind %s", v.Kind())
	}
	return nil
}

func check(rule string, v reflect.Value) string {
	if rule == "" {
		return ""
	}
	name, arg, _ := strings.Cut(rule, ":")
	switch name {
	case "hostport":
		return checkHostPort(v.String())
	case "url":
		s := v.String()
		if s == "" {
			return ""
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return fmt.Sprintf("%q is not a URL", redactURL(s))
		}
		for _, sch := range strings.Split(arg, ",") {
			if u.Scheme == sch {
				return ""
			}
		}
		return fmt.Sprintf("unsupported scheme %q (want %s)", u.Scheme, strings.ReplaceAll(arg, ",", " or "))
	case "dburl":
		_, _, err := ParseDatabaseURL(v.String(), "")
		if err != nil {
			return err.Error()
		}
	case "oneof":
		s := fmt.Sprint(v.Interface())
		for _, o := range strings.Split(arg, ",") {
			if s == o {
				return ""
			}
		}
		return fmt.Sprintf("%q is not one of %s", s, strings.ReplaceAll(arg, ",", ", "))
	case "positive":
		switch v.Kind() {
		case reflect.Int, reflect.Int64:
			if v.Int() <= 0 {
				return "must be greater than zero"
			}
		case reflect.Float64:
			if v.Float() <= 0 {
				return "must be greater than zero"
			}
		}
	case "nonnegative":
		if (v.Kind() == reflect.Float64 && v.Float() < 0) || (v.Kind() == reflect.Int && v.Int() < 0) {
			return "must not be negative"
		}
	case "min":
		d, _ := time.ParseDuration(arg)
		if time.Duration(v.Int()) < d {
			return "must be at least " + arg
		}
	case "secretkey":
		if v.String() == "" {
			return ""
		}
		if err := checkSecretKey(v.String()); err != nil {
			return err.Error()
		}
	}
	return ""
}

func checkHostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("port %q is not a number from 0 to 65535", port)
	}
	_ = host
	return ""
}

// Dialect names a database engine.
type Dialect string

// Supported database engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ParseDatabaseURL returns the dialect and driver DSN of a database URL. An
// empty URL means the SQLite file in dataDir.
func ParseDatabaseURL(raw, dataDir string) (Dialect, string, error) {
	if raw == "" {
		if dataDir == "" {
			dataDir = "."
		}
		return SQLite, strings.TrimRight(dataDir, "/") + "/yardmaster.db", nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", "", fmt.Errorf("%q is not a URL", redactURL(raw))
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return Postgres, raw, nil
	case "sqlite", "sqlite3", "file":
		p := u.Path
		if u.Host != "" { // sqlite://relative/path.db
			p = u.Host + u.Path
		}
		if p == "" {
			return "", "", errors.New("sqlite URL has no file path (example: sqlite:///var/lib/yardmaster/yardmaster.db)")
		}
		return SQLite, p, nil
	default:
		return "", "", fmt.Errorf("unknown database scheme %q (want postgres://, postgresql:// or sqlite://)", u.Scheme)
	}
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// Redacted returns a copy safe to log: secrets replaced, passwords in URLs masked.
func (c Config) Redacted() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		val := fmt.Sprint(v.Field(i).Interface())
		if f.Tag.Get("secret") == "true" && val != "" {
			val = "(set)"
		} else if strings.Contains(val, "://") {
			val = redactURL(val)
		}
		out[Prefix+f.Tag.Get("env")] = val
	}
	return out
}
