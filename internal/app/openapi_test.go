package app_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/web"
)

// Every route under /api or /v1 of the fully wired process is in the
// OpenAPI document, with the same method.
func TestEveryAPIRouteIsDocumented(t *testing.T) {
	a, err := app.Open(context.Background(), app.Options{Config: apptest.TestConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(a.Web.API.Spec(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	undocumented := func() (missing []string, checked int) {
		for _, r := range a.Web.App.GetRoutes(true) {
			if r.Method == "HEAD" || !(strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Path, "/v1/")) {
				continue
			}
			checked++
			if _, ok := doc.Paths[web.OpenAPIPath(r.Path)][strings.ToLower(r.Method)]; !ok {
				missing = append(missing, r.Method+" "+r.Path)
			}
		}
		sort.Strings(missing)
		return missing, checked
	}
	missing, checked := undocumented()
	if len(missing) > 0 {
		t.Fatalf("routes missing from /api/openapi.json (register them with web.Router.Op):\n%s", strings.Join(missing, "\n"))
	}
	if checked < 5 {
		t.Fatalf("only %d API routes found; the check is not seeing the routes", checked)
	}
	// The check notices a route added behind the router's back.
	a.Web.App.Get("/api/v1/undocumented-probe/:id", func(c *fiber.Ctx) error { return nil })
	if m, _ := undocumented(); len(m) != 1 || m[0] != "GET /api/v1/undocumented-probe/:id" {
		t.Fatalf("undocumented probe route not reported: %v", m)
	}
	// Every component schema is a valid JSON Schema (OpenAPI 3.1 uses 2020-12).
	c := jsonschema.NewCompiler()
	for name, raw := range doc.Components.Schemas {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		if err := c.AddResource("urn:test:"+name, v); err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
	}
}
