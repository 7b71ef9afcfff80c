package ai

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

func TestReasonsMatchReferenceMapping(t *testing.T) {
	raw, err := os.ReadFile("../../../shared/reference/carrier-mappings.json")
	if err != nil {
		t.Skipf("reference mapping not available: %v", err)
	}
	var ref struct {
		Canonical struct {
			Reasons []struct{ Code, Category string } `json:"reasons"`
		} `json:"canonical"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, r := range ref.Canonical.Reasons {
		want = append(want, r.Code+"/"+r.Category)
	}
	for _, r := range reasons {
		got = append(got, string(r.Code)+"/"+r.Category)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasons differ from the reference mapping (-want +got):\n%s", diff)
	}
}

func TestSchemaEnumsMatchVocabulary(t *testing.T) {
	var s struct {
		Properties struct {
			LikelyCause struct {
				Enum []string `json:"enum"`
			} `json:"likely_cause"`
			NextStep struct {
				Properties struct {
					Action struct {
						Enum []string `json:"enum"`
					} `json:"action"`
				} `json:"properties"`
				Required []string `json:"required"`
			} `json:"next_step"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		t.Fatal(err)
	}
	var causes []string
	for _, r := range reasons {
		causes = append(causes, string(r.Code))
	}
	causes = append(causes, CauseUnknown)
	if diff := cmp.Diff(causes, s.Properties.LikelyCause.Enum); diff != "" {
		t.Errorf("likely_cause enum (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ActionTypes, s.Properties.NextStep.Properties.Action.Enum); diff != "" {
		t.Errorf("action enum (-want +got):\n%s", diff)
	}
}

// TestSchemaIsStrictModeCompatible checks the rules of OpenAI strict mode on
// every object of both wire schemas: all properties required, no
// additional properties.
func TestSchemaIsStrictModeCompatible(t *testing.T) {
	for name, raw := range map[string][]byte{"bounded": boundedWireSchema, "portable": portableWireSchema} {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			obj, ok := v.(map[string]any)
			if !ok {
				return
			}
			if obj["type"] == "object" {
				props, _ := obj["properties"].(map[string]any)
				req, _ := obj["required"].([]any)
				if len(req) != len(props) {
					t.Errorf("%s %s: %d properties, %d required", name, path, len(props), len(req))
				}
				if obj["additionalProperties"] != false {
					t.Errorf("%s %s: additionalProperties must be false", name, path)
				}
				for k, p := range props {
					walk(path+"/"+k, p)
				}
			}
			if it, ok := obj["items"]; ok {
				walk(path+"/items", it)
			}
		}
		walk("", m)
		for _, k := range []string{`"$schema"`, `"$id"`, `"title"`} {
			if strings.Contains(string(raw), k) {
				t.Errorf("%s wire schema keeps %s", name, k)
			}
		}
	}
	for k := range boundKeywords {
		if strings.Contains(string(portableWireSchema), `"`+k+`"`) {
			t.Errorf("portable schema keeps %s", k)
		}
	}
}

func TestValidateSchemaReportsEveryProblem(t *testing.T) {
	bad := `{"summary":"short","likely_cause":"nope","cause_confidence":"sure","evidence":["X1"],"next_step":{"action":"none"},"customer_message":"","extra":1}`
	err := validateSchema([]byte(bad))
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	got := strings.Join(se.Problems, "\n")
	for _, want := range []string{"/summary", "/likely_cause", "/cause_confidence", "/evidence/0", "/next_step", "/customer_message", "extra"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %s:\n%s", want, got)
		}
	}
	if err := validateSchema([]byte(validAnswer)); err != nil {
		t.Errorf("valid answer rejected: %v", err)
	}
}

func TestStripFences(t *testing.T) {
	for in, want := range map[string]string{
		"```json\n{\"a\":1}\n```": `{"a":1}`,
		"```\n{\"a\":1}```":       `{"a":1}`,
		"```{\"a\":1}```":         `{"a":1}`,
		"  {\"a\":1}  ":           `{"a":1}`,
	} {
		if got := stripFences(in); got != want {
			t.Errorf("stripFences(%q) = %q", in, got)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		h      map[string]string
		want   time.Duration
		wantOK bool
	}{
		{map[string]string{"Retry-After": "5"}, 5 * time.Second, true},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{map[string]string{"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{map[string]string{"Retry-After": t0.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{map[string]string{"Retry-After-Ms": "1500", "Retry-After": "9"}, 1500 * time.Millisecond, true},
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{map[string]string{"Retry-After": "-3"}, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.h {
			h.Set(k, v)
		}
		got, ok := retryAfter(h, t0)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("retryAfter(%v) = %v, %v; want %v, %v", tt.h, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBudgetSlidingHour(t *testing.T) {
	c := &clock{t: t0}
	b := NewBudget(3, c.now)
	for i := 0; i < 3; i++ {
		if !b.Take() {
			t.Fatalf("call %d refused", i+1)
		}
		c.add(10 * time.Minute)
	}
	if b.Take() || b.Remaining() != 0 {
		t.Fatalf("fourth call within the hour allowed")
	}
	c.add(30*time.Minute + time.Second) // the first call is now older than an hour
	if !b.Take() {
		t.Fatalf("call after the window slid was refused")
	}
	if b.Take() {
		t.Fatalf("window holds 3 calls again")
	}
	if !NewBudget(0, c.now).Take() || NewBudget(-1, c.now).Remaining() != -1 {
		t.Errorf("a non-positive limit must mean unlimited")
	}
}

func TestLRUEvictsOldest(t *testing.T) {
	c := newLRU(2)
	c.put(CachedAnswer{Key: "a"})
	c.put(CachedAnswer{Key: "b"})
	c.get("a")
	c.put(CachedAnswer{Key: "c"})
	if _, ok := c.get("b"); ok {
		t.Errorf("b should be evicted")
	}
	if _, ok := c.get("a"); !ok || c.len() != 2 {
		t.Errorf("a should stay; len %d", c.len())
	}
}
