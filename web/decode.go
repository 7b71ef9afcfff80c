package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// RequireJSON checks the request's content type is application/json (or a
// +json type), answering 415 otherwise.
func RequireJSON(c *fiber.Ctx) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return apperr.Unsupported("content type must be application/json")
	}
	return nil
}

// DecodeJSON strictly decodes the JSON request body into v: the content
// type must be JSON, unknown fields are rejected with 422 naming the field,
// malformed JSON is a 400 with its byte offset, and a wrong type is a 422
// with the field path.
func DecodeJSON(c *fiber.Ctx, v any) error {
	if err := RequireJSON(c); err != nil {
		return err
	}
	return DecodeJSONBytes(c.Body(), v)
}

// DecodeJSONBytes is DecodeJSON on a byte slice.
func DecodeJSONBytes(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return JSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.BadRequest("request body holds more than one JSON value", nil)
	}
	return nil
}

// JSONError turns an encoding/json error into a client error.
func JSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return apperr.BadRequest("request body is empty", err)
	case errors.As(err, &se):
		return apperr.BadRequest(fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error()), err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.BadRequest("malformed JSON: unexpected end of input", err)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(body)"
		}
		return apperr.Invalid("wrong type", apperr.FieldError{Field: field, Message: fmt.Sprintf("must be %s, got %s", te.Type, te.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Invalid("unknown field", apperr.FieldError{Field: name, Message: "unknown field"})
	default:
		return apperr.BadRequest("malformed JSON: "+err.Error(), err)
	}
}
