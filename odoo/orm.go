package odoo

import (
	"context"
	"fmt"
	"strings"
)

// SearchOptions are search_read/search's keyword arguments.
type SearchOptions struct {
	Fields  []string
	Offset  int
	Limit   int // 0: no limit
	Order   string
	Context map[string]any
}

func (o SearchOptions) kwargs(withFields bool) map[string]any {
	kw := map[string]any{}
	if withFields && len(o.Fields) > 0 {
		kw["fields"] = o.Fields
	}
	if o.Offset > 0 {
		kw["offset"] = o.Offset
	}
	if o.Limit > 0 {
		kw["limit"] = o.Limit
	}
	if o.Order != "" {
		kw["order"] = o.Order
	}
	return kw
}

func domainArg(d Domain) []any {
	if d == nil {
		return []any{}
	}
	return []any(d)
}

// SearchRead returns the records matching domain.
func (c *Client) SearchRead(ctx context.Context, model string, domain Domain, o SearchOptions) ([]Record, error) {
	v, err := c.Execute(ctx, Call{Model: model, Method: "search_read", Args: []Arg{{"domain", domainArg(domain)}}, Kwargs: o.kwargs(true), Context: o.Context})
	if err != nil {
		return nil, err
	}
	return asRecords(model+".search_read", v)
}

// Read returns the records with these ids (missing ids are dropped by Odoo).
func (c *Client) Read(ctx context.Context, model string, ids []int64, fields []string, callCtx map[string]any) ([]Record, error) {
	kw := map[string]any{}
	if len(fields) > 0 {
		kw["fields"] = fields
	}
	v, err := c.Execute(ctx, Call{Model: model, Method: "read", OnRecords: true, IDs: ids, Kwargs: kw, Context: callCtx})
	if err != nil {
		return nil, err
	}
	return asRecords(model+".read", v)
}

// Search returns matching ids.
func (c *Client) Search(ctx context.Context, model string, domain Domain, o SearchOptions) ([]int64, error) {
	v, err := c.Execute(ctx, Call{Model: model, Method: "search", Args: []Arg{{"domain", domainArg(domain)}}, Kwargs: o.kwargs(false), Context: o.Context})
	if err != nil {
		return nil, err
	}
	ids, ok := asIDs(v)
	if !ok {
		return nil, protocolError(model+".search", fmt.Errorf("want a list of ids, got %T", v))
	}
	return ids, nil
}

// SearchCount counts matching records.
func (c *Client) SearchCount(ctx context.Context, model string, domain Domain, callCtx map[string]any) (int64, error) {
	v, err := c.Execute(ctx, Call{Model: model, Method: "search_count", Args: []Arg{{"domain", domainArg(domain)}}, Context: callCtx})
	if err != nil {
		return 0, err
	}
	n, ok := asInt(v)
	if !ok {
		return 0, protocolError(model+".search_count", fmt.Errorf("want an int, got %T", v))
	}
	return n, nil
}

// WriteOptions tune Write.
type WriteOptions struct {
	Context map[string]any
	// Idempotent: writing the same values twice is harmless, so the client
	// may retry after an ambiguous failure.
	Idempotent bool
}

// Write updates records.
func (c *Client) Write(ctx context.Context, model string, ids []int64, vals map[string]any, o WriteOptions) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: write on %s without ids", ErrInvalid, model)
	}
	v, err := c.Execute(ctx, Call{Model: model, Method: "write", OnRecords: true, IDs: ids, Args: []Arg{{"vals", vals}}, Context: o.Context, Idempotent: o.Idempotent})
	if err != nil {
		return err
	}
	if b, ok := v.(bool); !ok || !b {
		return protocolError(model+".write", fmt.Errorf("want True, got %v", v))
	}
	return nil
}

// Create creates one record and returns its id.
func (c *Client) Create(ctx context.Context, model string, vals map[string]any, callCtx map[string]any) (int64, error) {
	v, err := c.Execute(ctx, Call{Model: model, Method: "create", Args: []Arg{{"vals_list", vals}}, Context: callCtx})
	if err != nil {
		return 0, err
	}
	if id, ok := asInt(v); ok && id > 0 {
		return id, nil
	}
	if ids, ok := asIDs(v); ok && len(ids) == 1 { // tolerate [id]
		return ids[0], nil
	}
	return 0, protocolError(model+".create", fmt.Errorf("want an id, got %v", v))
}

// Unlink deletes records.
func (c *Client) Unlink(ctx context.Context, model string, ids []int64) error {
	_, err := c.Execute(ctx, Call{Model: model, Method: "unlink", OnRecords: true, IDs: ids, Idempotent: true})
	return err
}

// Message is what MessagePost posts.
type Message struct {
	Body        string // plain text unless BodyIsHTML
	BodyIsHTML  bool   // Odoo 17+
	MessageType string // default "comment"
	// SubtypeXMLID: "mail.mt_note" (internal log note, no email to
	// followers; the default) or "mail.mt_comment" (emails followers).
	SubtypeXMLID string
	Subject      string
	Context      map[string]any
}

// MessagePost posts on a record's chatter and returns the message id.
// All of message_post's arguments are keyword-only (odoo-api.md §4.4).
func (c *Client) MessagePost(ctx context.Context, model string, id int64, m Message) (int64, error) {
	kw := map[string]any{"body": m.Body, "message_type": m.MessageType, "subtype_xmlid": m.SubtypeXMLID}
	if m.MessageType == "" {
		kw["message_type"] = "comment"
	}
	if m.SubtypeXMLID == "" {
		kw["subtype_xmlid"] = "mail.mt_note"
	}
	if m.BodyIsHTML {
		kw["body_is_html"] = true
	}
	if m.Subject != "" {
		kw["subject"] = m.Subject
	}
	v, err := c.Execute(ctx, Call{Model: model, Method: "message_post", OnRecords: true, IDs: []int64{id}, Kwargs: kw, Context: m.Context})
	if err != nil {
		return 0, err
	}
	if n, ok := asInt(v); ok && n > 0 { // 16-18
		return n, nil
	}
	if ids, ok := asIDs(v); ok && len(ids) == 1 { // 19: [id]
		return ids[0], nil
	}
	return 0, protocolError(model+".message_post", fmt.Errorf("want a message id, got %v", v))
}

// FieldInfo is one entry of fields_get.
type FieldInfo struct {
	Type, String, Relation string
	Required, Readonly     bool
	Store                  bool
}

// FieldsGet describes a model's fields (installed modules change them).
func (c *Client) FieldsGet(ctx context.Context, model string) (map[string]FieldInfo, error) {
	v, err := c.Execute(ctx, Call{Model: model, Method: "fields_get", Kwargs: map[string]any{"attributes": []string{"type", "string", "relation", "required", "readonly", "store"}}})
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, protocolError(model+".fields_get", fmt.Errorf("want a struct, got %T", v))
	}
	out := make(map[string]FieldInfo, len(m))
	for k, x := range m {
		d, _ := x.(map[string]any)
		r := Record(d)
		out[k] = FieldInfo{Type: r.String("type"), String: r.String("string"), Relation: r.String("relation"),
			Required: r.Bool("required"), Readonly: r.Bool("readonly"), Store: r.Bool("store")}
	}
	return out, nil
}

// XMLID resolves "module.name" to a record id via ir.model.data.
func (c *Client) XMLID(ctx context.Context, xmlid string) (int64, error) {
	mod, name, ok := strings.Cut(xmlid, ".")
	if !ok || mod == "" || name == "" {
		return 0, fmt.Errorf("%w: external id %q is not module.name", ErrInvalid, xmlid)
	}
	rs, err := c.SearchRead(ctx, "ir.model.data", Where("module", "=", mod).And(Where("name", "=", name)), SearchOptions{Fields: []string{"res_id"}, Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(rs) == 0 || rs[0].Int("res_id") == 0 {
		return 0, fmt.Errorf("odoo external id %s: %w", xmlid, ErrNotFound)
	}
	return rs[0].Int("res_id"), nil
}

// ModelID returns the ir.model id of a model (mail.activity needs it).
func (c *Client) ModelID(ctx context.Context, model string) (int64, error) {
	rs, err := c.SearchRead(ctx, "ir.model", Where("model", "=", model), SearchOptions{Fields: []string{"id"}, Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(rs) == 0 {
		return 0, fmt.Errorf("odoo model %s is not installed: %w", model, ErrNotFound)
	}
	return rs[0].ID(), nil
}

// ModelInstalled reports whether a model exists (e.g. Enterprise's
// helpdesk.ticket).
func (c *Client) ModelInstalled(ctx context.Context, model string) (bool, error) {
	n, err := c.SearchCount(ctx, "ir.model", Where("model", "=", model), nil)
	return n > 0, err
}

func asRecords(op string, v any) ([]Record, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, protocolError(op, fmt.Errorf("want a list of records, got %T", v))
	}
	out := make([]Record, len(list))
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, protocolError(op, fmt.Errorf("record %d is a %T", i, x))
		}
		if _, ok := asInt(m["id"]); !ok {
			return nil, protocolError(op, fmt.Errorf("record %d has no id", i))
		}
		out[i] = Record(m)
	}
	return out, nil
}
