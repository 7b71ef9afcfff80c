package odoo

import "slices"

// Call is one ORM method call, independent of the transport. XML-RPC sends
// execute_kw(db, uid, key, Model, Method, [IDs?, Args...], Kwargs+context);
// JSON-2 posts {"ids": IDs, <Args by name>, <Kwargs>, "context"} to
// /json/2/Model/Method. Args carry their parameter names because JSON-2
// has no positional arguments.
type Call struct {
	Model, Method string
	// OnRecords marks a record method (write, read, message_post): IDs are
	// sent as args[0] / "ids".
	OnRecords bool
	IDs       []int64
	Args      []Arg
	Kwargs    map[string]any
	Context   map[string]any
	// Idempotent lets the client retry the call after an ambiguous failure
	// (timeout, reset, 5xx) even though it writes; reads always are.
	Idempotent bool
}

// Arg is a positional argument with its Python parameter name.
type Arg struct {
	Name  string
	Value any
}

var readOnlyMethods = []string{"search_read", "search", "search_count", "read", "fields_get", "name_search", "context_get", "check_access_rights"}

func (c *Call) readOnly() bool { return slices.Contains(readOnlyMethods, c.Method) }

// safeToRetry: the call can be repeated without doubling an effect.
func (c *Call) safeToRetry() bool { return c.Idempotent || c.readOnly() }

// xmlrpcArgs builds execute_kw's args list and kwargs struct.
func (c *Call) xmlrpcArgs() ([]any, map[string]any, error) {
	args := make([]any, 0, len(c.Args)+1)
	if c.OnRecords {
		ids := make([]any, len(c.IDs))
		for i, id := range c.IDs {
			ids[i] = id
		}
		args = append(args, ids)
	}
	for _, a := range c.Args {
		v, err := toWire(a.Value)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, v)
	}
	kw, err := c.kwargs()
	return args, kw, err
}

func (c *Call) kwargs() (map[string]any, error) {
	kw := map[string]any{}
	for k, v := range c.Kwargs {
		if !validKey(k) {
			return nil, &invalidKeyError{k}
		}
		w, err := toWire(v)
		if err != nil {
			return nil, err
		}
		kw[k] = w
	}
	if len(c.Context) > 0 {
		ctx, err := toWire(c.Context)
		if err != nil {
			return nil, err
		}
		kw["context"] = ctx
	}
	return kw, nil
}

// json2Body builds the JSON-2 request object.
func (c *Call) json2Body() (map[string]any, error) {
	body, err := c.kwargs()
	if err != nil {
		return nil, err
	}
	if c.OnRecords {
		ids := make([]any, len(c.IDs))
		for i, id := range c.IDs {
			ids[i] = id
		}
		body["ids"] = ids
	}
	for _, a := range c.Args {
		v, err := toWire(a.Value)
		if err != nil {
			return nil, err
		}
		body[a.Name] = v
	}
	return body, nil
}

type invalidKeyError struct{ key string }

func (e *invalidKeyError) Error() string   { return "odoo: invalid request: invalid keyword " + e.key }
func (e *invalidKeyError) Is(t error) bool { return t == ErrInvalid }
