package ai

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SchemaName is the json_schema name of case summaries. Its version suffix
// is part of the cache key: a schema change never serves old answers.
const SchemaName = "case_summary_v1"

//go:embed schema.json
var schemaJSON []byte

// responseSchema is one JSON schema the model answers with, in the forms
// the package needs. Wire variants: "bounded" keeps the length, range and
// pattern bounds, which grammar-constrained local servers (llama.cpp,
// Ollama) need to stop a weak model from generating until the token limit;
// some hosted strict-mode implementations reject those keywords, so
// "portable" drops them and is used after such a rejection (see Client).
// Every answer is validated against the full schema on receipt, whatever
// the server enforced while generating it.
type responseSchema struct {
	Name        string
	Description string
	Bounded     json.RawMessage
	Portable    json.RawMessage
	compiled    *jsonschema.Schema
}

func newResponseSchema(name, description string, doc []byte) *responseSchema {
	return &responseSchema{Name: name, Description: description, Bounded: wireSchema(doc, false), Portable: wireSchema(doc, true), compiled: mustCompileSchema(doc)}
}

// caseSchema is the answer schema of case summaries.
var caseSchema = newResponseSchema(SchemaName, "Case summary with one proposed next step", schemaJSON)

// Shorthands used by tests and the json_object fallback.
var (
	boundedWireSchema  = caseSchema.Bounded
	portableWireSchema = caseSchema.Portable
)

func mustCompileSchema(doc []byte) *jsonschema.Schema {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		panic(fmt.Sprintf("ai: schema.json does not parse: %v", err))
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("answer.json", v); err != nil {
		panic(fmt.Sprintf("ai: answer schema: %v", err))
	}
	s, err := c.Compile("answer.json")
	if err != nil {
		panic(fmt.Sprintf("ai: answer schema does not compile: %v", err))
	}
	return s
}

// boundKeywords are dropped from the portable wire schema.
var boundKeywords = map[string]bool{
	"minLength": true, "maxLength": true, "pattern": true,
	"minimum": true, "maximum": true, "minItems": true, "maxItems": true,
}

// wireSchema returns the schema as sent to the server: without the
// meta keywords ($schema, $id, title) that some servers refuse, and without
// bounds when portable is set.
func wireSchema(doc []byte, portable bool) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		panic(fmt.Sprintf("ai: schema.json: %v", err))
	}
	delete(m, "$schema")
	delete(m, "$id")
	delete(m, "title")
	if portable {
		stripBounds(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("ai: schema.json: %v", err))
	}
	return out
}

func stripBounds(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			if boundKeywords[k] {
				delete(t, k)
				continue
			}
			stripBounds(c)
		}
	case []any:
		for _, c := range t {
			stripBounds(c)
		}
	}
}

// SchemaError lists where an answer breaks the schema, one line per
// problem, in a form fit to send back to the model in a repair request.
type SchemaError struct{ Problems []string }

func (e *SchemaError) Error() string {
	return "answer does not match the schema: " + strings.Join(e.Problems, "; ")
}

// validateSchema checks raw JSON against the case answer schema.
func validateSchema(raw []byte) error { return caseSchema.validate(raw) }

// validate checks raw JSON against the schema.
func (rs *responseSchema) validate(raw []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return &SchemaError{Problems: []string{"not valid JSON: " + err.Error()}}
	}
	err = rs.compiled.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate answer: %w", err)
	}
	return &SchemaError{Problems: flattenValidation(ve)}
}

// flattenValidation turns the validator's error tree into sorted leaf
// messages with their JSON pointer, e.g. "/summary: length must be <= 700".
func flattenValidation(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			out = append(out, loc+": "+leafMessage(e))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(out)
	if len(out) > 12 {
		out = append(out[:12], fmt.Sprintf("(%d more)", len(out)-12))
	}
	return out
}

// leafMessage is the error text of one leaf without the location prefix
// the library adds.
func leafMessage(e *jsonschema.ValidationError) string {
	return e.ErrorKind.LocalizedString(printer)
}

var printer = message.NewPrinter(language.English)
