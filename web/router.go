package web

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/invopop/jsonschema"

	"github.com/yardmaster/yardmaster/internal/auth"
)

// AuthMode says how a route authenticates.
type AuthMode int

// Authentication modes.
const (
	// AuthRequired: a bearer token or a console session, and Op.Perm.
	AuthRequired AuthMode = iota
	// AuthNone: public (health, OpenAPI).
	AuthNone
	// AuthSelf: the handler authenticates itself (signed webhooks).
	AuthSelf
)

// Param documents a path or query parameter.
type Param struct {
	Name     string
	In       string // "query" or "path" (path params are found from the path)
	Doc      string
	Required bool
	Type     string // "string" (default), "integer", "boolean"
	Enum     []string
}

// Resp documents one response.
type Resp struct {
	Doc  string
	Body any // a Go value whose type is the JSON body; nil for none
	// ContentType defaults to application/json (problem+json for >= 400).
	ContentType string
}

// Op is one documented API operation.
type Op struct {
	Method, Path string // fiber path syntax: /api/v1/cases/:id
	ID           string // operationId; derived when empty
	Summary      string
	Doc          string
	Tags         []string
	Auth         AuthMode
	Perm         auth.Permission // required permission for AuthRequired ("" = any authenticated caller)
	Params       []Param
	Request      any      // a Go value whose type is the request body; nil for none
	RequestTypes []string // request content types; default application/json
	Responses    map[int]Resp
}

// Router registers API routes on the fiber app together with their OpenAPI
// operations, so the document cannot drift from the routes.
type Router struct {
	app  *fiber.App
	srv  *Server
	mu   sync.Mutex
	ops  []Op
	spec []byte
}

// Op registers h for op, behind authentication and the permission check.
func (r *Router) Op(op Op, h fiber.Handler) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.spec = nil
	r.mu.Unlock()
	handlers := []fiber.Handler{}
	if op.Auth == AuthRequired {
		handlers = append(handlers, r.srv.requireAuth(op.Perm))
	}
	handlers = append(handlers, h)
	r.app.Add(op.Method, op.Path, handlers...)
}

// Ops returns the registered operations.
func (r *Router) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

var pathParamRE = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)\??`)

// OpenAPIPath converts fiber's /a/:id to OpenAPI's /a/{id}.
func OpenAPIPath(p string) string { return pathParamRE.ReplaceAllString(p, "{$1}") }

// Spec returns the OpenAPI 3.1 document as JSON.
func (r *Router) Spec() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spec == nil {
		r.spec = buildSpec(r.ops, r.srv.version)
	}
	return r.spec
}

func buildSpec(ops []Op, version string) []byte {
	ref := &jsonschema.Reflector{DoNotReference: false, ExpandedStruct: false, AllowAdditionalProperties: false}
	ref.Namer = func(t reflect.Type) string { return schemaName(t) }
	schemas := map[string]any{}
	schemaOf := func(v any) any {
		if v == nil {
			return nil
		}
		s := ref.Reflect(v)
		for name, def := range s.Definitions {
			schemas[name] = def
		}
		if s.Ref != "" {
			return map[string]string{"$ref": strings.Replace(s.Ref, "#/$defs/", "#/components/schemas/", 1)}
		}
		s.Version = ""
		s.Definitions = nil
		return s
	}
	schemas["Problem"] = problemSchema
	paths := map[string]map[string]any{}
	for _, op := range ops {
		p := OpenAPIPath(op.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		o := map[string]any{"summary": op.Summary, "operationId": opID(op)}
		if op.Doc != "" {
			o["description"] = op.Doc
		}
		if len(op.Tags) > 0 {
			o["tags"] = op.Tags
		}
		var params []map[string]any
		for _, m := range pathParamRE.FindAllStringSubmatch(op.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		for _, prm := range op.Params {
			if prm.In == "path" {
				continue
			}
			typ := prm.Type
			if typ == "" {
				typ = "string"
			}
			sch := map[string]any{"type": typ}
			if len(prm.Enum) > 0 {
				sch["enum"] = prm.Enum
			}
			params = append(params, map[string]any{"name": prm.Name, "in": "query", "required": prm.Required, "description": prm.Doc, "schema": sch})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.Request != nil {
			types := op.RequestTypes
			if len(types) == 0 {
				types = []string{"application/json"}
			}
			content := map[string]any{}
			sch := schemaOf(op.Request)
			for _, t := range types {
				content[t] = map[string]any{"schema": sch}
			}
			o["requestBody"] = map[string]any{"required": true, "content": content}
		}
		resps := map[string]any{}
		for code, rs := range op.Responses {
			r := map[string]any{"description": rs.Doc}
			if rs.Body != nil {
				ct := rs.ContentType
				if ct == "" {
					ct = "application/json"
				}
				r["content"] = map[string]any{ct: map[string]any{"schema": schemaOf(rs.Body)}}
			}
			resps[strconv.Itoa(code)] = r
		}
		resps["default"] = map[string]any{"description": "Error (RFC 9457 problem document)",
			"content": map[string]any{ProblemContentType: map[string]any{"schema": map[string]string{"$ref": "#/components/schemas/Problem"}}}}
		o["responses"] = resps
		switch op.Auth {
		case AuthNone, AuthSelf:
			o["security"] = []any{}
			if op.Auth == AuthSelf {
				o["x-authentication"] = "request signature (see description)"
			}
		default:
			if op.Perm != "" {
				o["x-permission"] = string(op.Perm)
			}
		}
		paths[p][strings.ToLower(op.Method)] = o
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Yardmaster API", "version": version,
			"description": "Logistics exception management: intake, rules, triage, Odoo write-back. Errors are RFC 9457 problem documents."},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer", "description": "API token from `yardmaster tokens create`"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
		},
		"security": []any{map[string]any{"bearer": []any{}}, map[string]any{"session": []any{}}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("openapi: " + err.Error())
	}
	return b
}

// SessionCookie is the console's session cookie name.
const SessionCookie = "ym_session"

var problemSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"type": map[string]string{"type": "string"}, "title": map[string]string{"type": "string"},
		"status": map[string]string{"type": "integer"}, "detail": map[string]string{"type": "string"},
		"instance": map[string]string{"type": "string"}, "request_id": map[string]string{"type": "string"},
		"errors": map[string]any{"type": "array", "items": map[string]any{"type": "object",
			"properties": map[string]any{"field": map[string]string{"type": "string"}, "message": map[string]string{"type": "string"}}}},
	},
	"required": []string{"type", "title", "status"},
}

func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	name := t.Name()
	if pkg == "" || pkg == "web" {
		return name
	}
	return strings.ToUpper(pkg[:1]) + pkg[1:] + name
}

func opID(op Op) string {
	if op.ID != "" {
		return op.ID
	}
	parts := strings.FieldsFunc(strings.TrimPrefix(op.Path, "/"), func(r rune) bool { return r == '/' || r == '-' || r == '_' })
	var b strings.Builder
	b.WriteString(strings.ToLower(op.Method))
	for _, p := range parts {
		if p == "api" || p == "v1" {
			continue
		}
		if strings.HasPrefix(p, ":") {
			p = "by_" + strings.TrimSuffix(p[1:], "?")
		}
		b.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return b.String()
}

// documentedPaths lists "METHOD /openapi/path" of the registered ops, sorted.
func (r *Router) documentedPaths() []string {
	var out []string
	for _, op := range r.Ops() {
		out = append(out, strings.ToUpper(op.Method)+" "+OpenAPIPath(op.Path))
	}
	sort.Strings(out)
	return out
}
