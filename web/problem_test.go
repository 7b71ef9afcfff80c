package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/web"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

type probe struct {
	Name       string
	Method     string
	Path       string
	Body       string
	Header     map[string]string
	WantStatus int
	WantField  string // a field named in errors[]
	WantDetail string
}

func TestErrorsAreProblemDocuments(t *testing.T) {
	d := testenv.DB(t)
	s := web.New(web.Options{DB: d, Now: func() time.Time { return now }, MaxBodyBytes: 256})
	admin, _, err := auth.CreateToken(context.Background(), d, now, auth.TokenSpec{Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err := auth.CreateToken(context.Background(), d, now, auth.TokenSpec{Role: auth.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	}
	ready := make(chan net.Addr, 1)
	go func() { _ = s.Listen("127.0.0.1:0", ready) }()
	base := "http://" + (<-ready).String()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	cases := []probe{
		{Name: "unknown route", Method: "GET", Path: "/api/v1/nope", WantStatus: 404},
		{Name: "no credentials", Method: "GET", Path: "/api/v1/tokens", WantStatus: 401},
		{Name: "bad token", Method: "GET", Path: "/api/v1/tokens", Header: bearer("ym_x_y"), WantStatus: 401},
		{Name: "not bearer", Method: "GET", Path: "/api/v1/tokens", Header: map[string]string{"Authorization": "Basic eDp5"}, WantStatus: 401},
		{Name: "viewer forbidden", Method: "GET", Path: "/api/v1/tokens", Header: bearer(viewer), WantStatus: 403},
		{Name: "wrong content type", Method: "POST", Path: "/api/v1/tokens", Body: `{}`,
			Header: map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "text/plain"}, WantStatus: 415},
		{Name: "malformed json", Method: "POST", Path: "/api/v1/tokens", Body: `{"role":`, Header: bearer(admin), WantStatus: 400},
		{Name: "unknown field", Method: "POST", Path: "/api/v1/tokens", Body: `{"role":"viewer","colour":"red"}`, Header: bearer(admin),
			WantStatus: 422, WantField: "colour"},
		{Name: "wrong type", Method: "POST", Path: "/api/v1/tokens", Body: `{"role":7}`, Header: bearer(admin), WantStatus: 422, WantField: "role"},
		{Name: "invalid value", Method: "POST", Path: "/api/v1/tokens", Body: `{"role":"root"}`, Header: bearer(admin), WantStatus: 422, WantField: "role"},
		{Name: "body too large", Method: "POST", Path: "/api/v1/tokens", Body: `{"name":"` + strings.Repeat("x", 300) + `"}`,
			Header: bearer(admin), WantStatus: 413},
		{Name: "bad audit time", Method: "GET", Path: "/api/v1/audit?from=yesterday", Header: bearer(admin), WantStatus: 422, WantField: "from"},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.Method, base+tc.Path, strings.NewReader(tc.Body))
			for k, v := range tc.Header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.WantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.WantStatus, b)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, web.ProblemContentType) {
				t.Fatalf("content type %q, want %s: %s", ct, web.ProblemContentType, b)
			}
			var p web.Problem
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tc.WantStatus || p.Title == "" || p.Type == "" || p.RequestID == "" {
				t.Fatalf("problem %+v", p)
			}
			if resp.Header.Get("X-Request-ID") != p.RequestID {
				t.Fatalf("request id header %q != problem %q", resp.Header.Get("X-Request-ID"), p.RequestID)
			}
			if tc.WantField != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.WantField) {
				t.Fatalf("errors %+v, want field %s", p.Errors, tc.WantField)
			}
			if tc.WantStatus == 401 && (strings.Contains(strings.ToLower(p.Detail), "expired") || strings.Contains(p.Detail, "hash")) {
				t.Fatalf("401 detail hints at which part failed: %q", p.Detail)
			}
		})
	}
	// Nothing was written by the rejected token requests.
	ts, err := auth.ListTokens(context.Background(), d)
	if err != nil || len(ts) != 2 {
		t.Fatalf("tokens after rejected requests: %d (%v), want the 2 made by the test", len(ts), err)
	}
}

func TestRequestIDIsKeptOrMade(t *testing.T) {
	s := web.New(web.Options{DB: testenv.DB(t)})
	for _, tc := range []struct{ in, want string }{{"abc-123", "abc-123"}, {"bad id with spaces", ""}} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header.Set(fiber.HeaderXRequestID, tc.in)
		resp, err := s.App.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Header.Get(fiber.HeaderXRequestID)
		if tc.want != "" && got != tc.want || tc.want == "" && (got == "" || got == tc.in) {
			t.Errorf("X-Request-ID %q → %q", tc.in, got)
		}
	}
}
