package odootest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// env is the per-call environment: user, context and the transaction time
// used for create_date/write_date (microsecond precision, as PostgreSQL's
// now() — the RPC output truncates it to seconds).
type env struct {
	uid  int64
	ctx  *Dict
	now  string
	json bool
}

func (e *env) ctxFlag(k string) (bool, bool) {
	if e.ctx == nil {
		return false, false
	}
	v, ok := e.ctx.Get(k)
	if !ok {
		return false, false
	}
	return !isFalse(v), true
}

// API kinds of ORM methods (how args[0] is interpreted).
const (
	apiModel = iota
	apiModelCreate
	apiRecords
)

type param struct {
	name     string
	required bool
	def      any
}

type signature struct {
	name   string
	api    int
	params []param
	kwOnly bool
	varKw  bool
}

type method struct {
	sig   signature
	op    string // ACL operation checked first: read, write, create, unlink
	avail func(m *model) bool
	fn    func(s *Server, e *env, m *model, ids []int64, a *args) (any, error)
}

// args are the bound parameters of one call.
type args struct {
	sig   *signature
	vals  map[string]any
	extra *Dict
}

func (a *args) get(name string) any {
	if v, ok := a.vals[name]; ok {
		return v
	}
	for _, p := range a.sig.params {
		if p.name == name {
			return p.def
		}
	}
	return nil
}

func (a *args) has(name string) bool { _, ok := a.vals[name]; return ok }

func p(name string) param            { return param{name: name, required: true} }
func opt(name string, def any) param { return param{name: name, def: def} }
func isThread(m *model) bool         { return m.thread }
func only(names ...string) func(m *model) bool {
	return func(m *model) bool { return slices.Contains(names, m.name) }
}

func (s *Server) methods() map[string]*method {
	nameSearchDomain := "args"
	if s.opts.Version >= 18 {
		nameSearchDomain = "domain"
	}
	msgParams := []param{opt("body", ""), opt("subject", nil), opt("message_type", "notification"), opt("email_from", nil),
		opt("author_id", nil), opt("parent_id", false), opt("subtype_xmlid", nil), opt("subtype_id", false),
		opt("partner_ids", nil), opt("attachments", nil), opt("attachment_ids", nil)}
	if s.opts.Version >= 17 {
		msgParams = append(msgParams, opt("body_is_html", false))
	}
	return map[string]*method{
		"search_read":       {sig: signature{api: apiModel, params: []param{opt("domain", nil), opt("fields", nil), opt("offset", int64(0)), opt("limit", nil), opt("order", nil)}}, op: "read", fn: (*Server).mSearchRead},
		"search":            {sig: signature{api: apiModel, params: []param{p("domain"), opt("offset", int64(0)), opt("limit", nil), opt("order", nil)}}, op: "read", fn: (*Server).mSearch},
		"search_count":      {sig: signature{api: apiModel, params: []param{p("domain"), opt("limit", nil)}}, op: "read", fn: (*Server).mSearchCount},
		"read":              {sig: signature{api: apiRecords, params: []param{opt("fields", nil), opt("load", "_classic_read")}}, op: "read", fn: (*Server).mRead},
		"write":             {sig: signature{api: apiRecords, params: []param{p("vals")}}, op: "write", fn: (*Server).mWrite},
		"create":            {sig: signature{api: apiModelCreate, params: []param{p("vals_list")}}, op: "create", fn: (*Server).mCreate},
		"unlink":            {sig: signature{api: apiRecords}, op: "unlink", fn: (*Server).mUnlink},
		"fields_get":        {sig: signature{api: apiModel, params: []param{opt("allfields", nil), opt("attributes", nil)}}, fn: (*Server).mFieldsGet},
		"name_search":       {sig: signature{api: apiModel, params: []param{opt("name", ""), opt(nameSearchDomain, nil), opt("operator", "ilike"), opt("limit", int64(100))}}, op: "read", fn: (*Server).mNameSearch},
		"message_post":      {sig: signature{api: apiRecords, params: msgParams, kwOnly: true, varKw: true}, op: "write", avail: isThread, fn: (*Server).mMessagePost},
		"activity_schedule": {sig: signature{api: apiRecords, params: []param{opt("act_type_xmlid", ""), opt("date_deadline", nil), opt("summary", ""), opt("note", "")}, varKw: true}, op: "write", avail: isThread, fn: (*Server).mActivitySchedule},
		"action_feedback":   {sig: signature{api: apiRecords, params: []param{opt("feedback", false), opt("attachment_ids", nil)}}, op: "write", avail: only("mail.activity"), fn: (*Server).mActionFeedback},
		"context_get":       {sig: signature{api: apiModel}, avail: only("res.users"), fn: (*Server).mContextGet},
		"action_lock":       {sig: signature{api: apiRecords}, op: "write", avail: only("sale.order"), fn: lockFn(true)},
		"action_unlock":     {sig: signature{api: apiRecords}, op: "write", avail: only("sale.order"), fn: lockFn(false)},
	}
}

// bindPositional binds execute_kw's args/kwargs the way Python calls
// method(recs, *args, **kwargs), raising Python's TypeErrors.
func bindPositional(sig *signature, pos []any, kw *Dict) (*args, error) {
	a := &args{sig: sig, vals: map[string]any{}}
	fn := sig.name + "()"
	if sig.kwOnly && len(pos) > 0 {
		return nil, typeError("%s takes 1 positional argument but %d were given", fn, len(pos)+1)
	}
	if len(pos) > len(sig.params) {
		nreq := 0
		for _, p := range sig.params {
			if p.required {
				nreq++
			}
		}
		if nreq == len(sig.params) {
			return nil, typeError("%s takes %d positional arguments but %d were given", fn, len(sig.params)+1, len(pos)+1)
		}
		return nil, typeError("%s takes from %d to %d positional arguments but %d were given", fn, nreq+1, len(sig.params)+1, len(pos)+1)
	}
	for i, v := range pos {
		a.vals[sig.params[i].name] = v
	}
	if kw != nil {
		for _, k := range kw.Keys() {
			v, _ := kw.Get(k)
			known := false
			for _, p := range sig.params {
				if p.name == k {
					known = true
				}
			}
			if !known {
				if !sig.varKw {
					return nil, typeError("%s got an unexpected keyword argument %s", fn, pyStrRepr(k))
				}
				if a.extra == nil {
					a.extra = NewDict(4)
				}
				a.extra.Set(k, v)
				continue
			}
			if _, dup := a.vals[k]; dup {
				return nil, typeError("%s got multiple values for argument %s", fn, pyStrRepr(k))
			}
			a.vals[k] = v
		}
	}
	var missing []string
	for _, p := range sig.params {
		if _, ok := a.vals[p.name]; p.required && !ok {
			missing = append(missing, pyStrRepr(p.name))
		}
	}
	if len(missing) > 0 {
		kind := "positional"
		if sig.kwOnly {
			kind = "keyword-only"
		}
		plural := ""
		if len(missing) > 1 {
			plural = "s"
		}
		return nil, typeError("%s missing %d required %s argument%s: %s", fn, len(missing), kind, plural, strings.Join(missing, " and "))
	}
	return a, nil
}

// bindNamed binds a JSON-2 body (all arguments named), raising what
// inspect.Signature.bind raises, as a 422.
func bindNamed(sig *signature, named *Dict) (*args, error) {
	a := &args{sig: sig, vals: map[string]any{}}
	for _, k := range named.Keys() {
		v, _ := named.Get(k)
		known := false
		for _, p := range sig.params {
			if p.name == k {
				known = true
			}
		}
		if !known {
			if !sig.varKw {
				return nil, &pyErr{Class: "werkzeug.exceptions.UnprocessableEntity", Msg: "got an unexpected keyword argument " + pyStrRepr(k)}
			}
			if a.extra == nil {
				a.extra = NewDict(4)
			}
			a.extra.Set(k, v)
			continue
		}
		a.vals[k] = v
	}
	for _, p := range sig.params {
		if _, ok := a.vals[p.name]; p.required && !ok {
			return nil, &pyErr{Class: "werkzeug.exceptions.UnprocessableEntity", Msg: "missing a required argument: " + pyStrRepr(p.name)}
		}
	}
	return a, nil
}

// call runs model.method for the execute_kw (positional) or JSON-2 (named)
// protocols. The caller holds s.mu.
func (s *Server) call(e *env, modelName, name string, pos []any, kw *Dict, named *Dict) (any, error) {
	if strings.HasPrefix(name, "_") || name == "init" {
		if s.opts.Version >= 18 {
			return nil, accessError(fmt.Sprintf("Private methods (such as '%s.%s') cannot be called remotely.", modelName, name))
		}
		return nil, accessError(fmt.Sprintf("Private methods (such as %s) cannot be called remotely.", name))
	}
	m := s.models[modelName]
	if m == nil || !m.installed {
		if e.json {
			return nil, &pyErr{Class: "werkzeug.exceptions.NotFound", Msg: fmt.Sprintf("the model %s does not exist", pyStrRepr(modelName))}
		}
		return nil, userError("Object %s doesn't exist", modelName)
	}
	meth := s.methodTable[name]
	if meth == nil || (meth.avail != nil && !meth.avail(m)) {
		msg := fmt.Sprintf("The method '%s.%s' does not exist", modelName, name)
		switch s.opts.Version {
		case 16:
			msg = fmt.Sprintf("type object '%s' has no attribute '%s'", modelName, name)
		case 17:
			msg = fmt.Sprintf("The method '%s' does not exist on the model '%s'", name, modelName)
		}
		if e.json {
			return nil, &pyErr{Class: "werkzeug.exceptions.NotFound", Msg: msg}
		}
		return nil, &pyErr{Class: "AttributeError", Msg: msg}
	}
	sig := meth.sig
	sig.name = name
	var ids []int64
	var a *args
	var err error
	if named != nil {
		named = copyDict(named)
		if c, ok := named.Get("context"); ok {
			if cd, ok := c.(*Dict); ok {
				e.ctx = cd
			}
			named.Delete("context")
		}
		rawIDs, hasIDs := named.Get("ids")
		named.Delete("ids")
		if hasIDs {
			ids, err = toIDs(rawIDs)
			if err != nil {
				return nil, &pyErr{Class: "werkzeug.exceptions.UnprocessableEntity", Msg: err.Error()}
			}
		}
		if sig.api != apiRecords && len(ids) > 0 {
			return nil, &pyErr{Class: "werkzeug.exceptions.UnprocessableEntity", Msg: fmt.Sprintf("cannot call %s.%s with ids", modelName, name)}
		}
		if a, err = bindNamed(&sig, named); err != nil {
			return nil, err
		}
	} else {
		if kw != nil {
			kw = copyDict(kw)
			if c, ok := kw.Get("context"); ok {
				if cd, ok := c.(*Dict); ok {
					e.ctx = cd
				}
				kw.Delete("context")
			}
		}
		if sig.api == apiRecords {
			if len(pos) == 0 {
				return nil, &pyErr{Class: "IndexError", Msg: "list index out of range"}
			}
			ids, err = toIDs(pos[0])
			if err != nil {
				return nil, &pyErr{Class: "TypeError", Msg: err.Error()}
			}
			pos = pos[1:]
		}
		if sig.api == apiModelCreate && len(pos) == 0 && (kw == nil || !kwHas(kw, "vals_list")) {
			return nil, &pyErr{Class: "IndexError", Msg: "tuple index out of range"}
		}
		if a, err = bindPositional(&sig, pos, kw); err != nil {
			return nil, err
		}
	}
	if meth.op != "" {
		if err := s.checkACL(m, meth.op); err != nil {
			return nil, err
		}
	}
	return meth.fn(s, e, m, ids, a)
}

func kwHas(d *Dict, k string) bool { _, ok := d.Get(k); return ok }

func copyDict(d *Dict) *Dict {
	out := NewDict(d.Len())
	for _, k := range d.Keys() {
		v, _ := d.Get(k)
		out.Set(k, v)
	}
	return out
}

func toIDs(v any) ([]int64, error) {
	switch x := v.(type) {
	case int64:
		return []int64{x}, nil
	case bool:
		if !x {
			return nil, nil
		}
	case []any:
		out := make([]int64, 0, len(x))
		for _, e := range x {
			id, ok := e.(int64)
			if !ok {
				return nil, fmt.Errorf("ids must be integers, got %s", pyRepr(e))
			}
			out = append(out, id)
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("ids must be a list of integers, got %s", pyRepr(v))
}

var aclVerbs = map[string]string{"read": "access", "write": "modify", "create": "create", "unlink": "delete"}

func (s *Server) checkACL(m *model, op string) error {
	if s.denied[m.name][op] {
		return s.aclError(m, op)
	}
	return nil
}

// aclError is Odoo's model-level access error for op.
func (s *Server) aclError(m *model, op string) *pyErr {
	{
		return accessError(fmt.Sprintf("You are not allowed to %s '%s' (%s) records.\n\nThis operation is allowed for the following groups:\n\t- %s\n\nContact your administrator to request access if necessary.",
			aclVerbs[op], m.desc, m.name, m.group))
	}
}

func (s *Server) checkRules(e *env, m *model, op string, ids []int64) error {
	h := s.hidden[m.name]
	for _, id := range ids {
		if h[id] {
			return accessError(fmt.Sprintf("Uh-oh! Looks like you have stumbled upon some top-secret records.\n\nSorry, %s (id=%d) doesn't have '%s' access to:\n- %s (%s)\n\nIf you really, really need access, perhaps you can win over your friendly administrator with a batch of freshly baked cookies.",
				s.userName(e.uid), e.uid, op, m.desc, m.name))
		}
	}
	return nil
}

func (s *Server) userName(uid int64) string {
	if r := s.models["res.users"].get(uid); r != nil {
		return s.models["res.users"].str(r, "name")
	}
	return "?"
}

func recordsetRepr(model string, ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	if len(ids) == 1 {
		return model + "(" + parts[0] + ",)"
	}
	return model + "(" + strings.Join(parts, ", ") + ")"
}

// browse returns the existing records among ids, or a MissingError for
// write-like operations on missing ids (message per version).
func (s *Server) browse(e *env, m *model, ids []int64, op string) ([]*record, error) {
	out := make([]*record, 0, len(ids))
	var missing []int64
	for _, id := range ids {
		if r := m.get(id); r != nil {
			out = append(out, r)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 && op != "read" && op != "unlink" {
		if s.opts.Version <= 17 {
			parts := make([]string, len(missing))
			for i, id := range missing {
				parts[i] = strconv.FormatInt(id, 10)
			}
			return nil, missingError(fmt.Sprintf("One of the documents you are trying to access has been deleted, please try again after refreshing.\n\n(Document type: %s, Operation: %s, Records: [%s], User: %d)",
				m.name, op, strings.Join(parts, ", "), e.uid))
		}
		return nil, missingError(fmt.Sprintf("Record does not exist or has been deleted.\n(Record: %s, User: %d)", recordsetRepr(m.name, missing), e.uid))
	}
	if err := s.checkRules(e, m, op, ids); err != nil {
		return nil, err
	}
	return out, nil
}

func asInt(v any, what string) (int64, bool, error) {
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case bool:
		if !x {
			return 0, false, nil
		}
		return 1, true, nil
	case int64:
		return x, true, nil
	}
	return 0, false, typeError("%s must be an integer, not %s", what, pyTypeName(v))
}

// search evaluates a domain with Odoo's implicit active_test and record
// rules, sorted, with offset/limit applied.
func (s *Server) search(e *env, m *model, domain any, offset, limit any, order any) ([]*record, error) {
	pr, err := s.compileDomain(m, domain)
	if err != nil {
		return nil, err
	}
	activeOnly := false
	if m.hasActive {
		if at, set := e.ctxFlag("active_test"); !set || at {
			activeOnly = !mentions(domain, "active")
		}
	}
	var activeIdx = -1
	if activeOnly {
		activeIdx = m.byName["active"].idx
	}
	orderStr, _ := order.(string)
	if order != nil && order != false {
		if _, ok := order.(string); !ok {
			return nil, typeError("order must be a string, not %s", pyTypeName(order))
		}
	}
	cmpf, idOnly, err := s.compileOrder(m, orderStr)
	if err != nil {
		return nil, err
	}
	off, _, err := asInt(offset, "offset")
	if err != nil {
		return nil, err
	}
	lim, hasLim, err := asInt(limit, "limit")
	if err != nil {
		return nil, err
	}
	hidden := s.hidden[m.name]
	out := make([]*record, 0, 64)
	for _, id := range m.ids {
		r := m.recs[id]
		if activeIdx >= 0 {
			if a, _ := r.vals[activeIdx].(bool); !a {
				continue
			}
		}
		if hidden[id] || !pr(r) {
			continue
		}
		out = append(out, r)
	}
	if !idOnly {
		slices.SortStableFunc(out, cmpf)
	}
	if off > 0 {
		if off >= int64(len(out)) {
			out = out[:0]
		} else {
			out = out[off:]
		}
	}
	if hasLim && lim >= 0 && lim < int64(len(out)) {
		out = out[:lim]
	}
	return out, nil
}

func mentions(domain any, name string) bool {
	items, _ := domain.([]any)
	for _, it := range items {
		if leaf, ok := it.([]any); ok && len(leaf) == 3 {
			if p, ok := leaf[0].(string); ok && (p == name || strings.HasPrefix(p, name+".")) {
				return true
			}
		}
	}
	return false
}

// resolveFields maps a "fields" argument to fields (all when empty).
func (s *Server) resolveFields(m *model, v any) ([]*field, error) {
	var names []string
	switch x := v.(type) {
	case nil, bool:
	case []any:
		for _, e := range x {
			n, ok := e.(string)
			if !ok {
				return nil, typeError("field names must be strings, not %s", pyTypeName(e))
			}
			names = append(names, n)
		}
	case string:
		names = []string{x}
	default:
		return nil, typeError("fields must be a list, not %s", pyTypeName(v))
	}
	if len(names) == 0 {
		out := make([]*field, 0, len(m.fields))
		for _, f := range m.fields {
			if f.name != "id" {
				out = append(out, f)
			}
		}
		return out, nil
	}
	out := make([]*field, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		f := m.byName[n]
		if f == nil {
			return nil, valueError("Invalid field %s on model %s", pyStrRepr(n), pyStrRepr(m.name))
		}
		if n == "id" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, f)
	}
	return out, nil
}

// readRecords formats records as read() does: id first, then the fields in
// order; many2one as [id, display_name] (or the id with load=None).
func (s *Server) readRecords(m *model, recs []*record, fields []*field, classic bool) []any {
	inv := map[string]map[int64][]int64{}
	for _, f := range fields {
		if f.typ == tOne2many {
			co := s.models[f.rel]
			idx := co.byName[f.inverse].idx
			mm := map[int64][]int64{}
			for _, cid := range co.ids {
				if pid, _ := co.recs[cid].vals[idx].(int64); pid != 0 {
					mm[pid] = append(mm[pid], cid)
				}
			}
			inv[f.name] = mm
		}
	}
	out := make([]any, len(recs))
	for i, r := range recs {
		d := NewDict(len(fields) + 1)
		d.Set("id", r.id)
		for _, f := range fields {
			if f.typ == tOne2many {
				d.Set(f.name, idList(inv[f.name][r.id]))
				continue
			}
			d.Set(f.name, s.outValue(f, s.fieldValue(m, f, r), classic))
		}
		out[i] = d
	}
	return out
}

func idList(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// outValue converts a stored value to its RPC form: False for empty,
// seconds-precision datetime strings, [id, name] many2one.
func (s *Server) outValue(f *field, v any, classic bool) any {
	switch f.typ {
	case tMany2one:
		id, _ := v.(int64)
		if id == 0 {
			return false
		}
		if !classic {
			return id
		}
		co := s.models[f.rel]
		name := ""
		if r := co.get(id); r != nil {
			name = s.displayName(co, r)
		}
		return []any{id, name}
	case tMany2many:
		ids, _ := v.([]int64)
		return idList(ids)
	case tDatetime:
		if str, ok := v.(string); ok {
			if len(str) > 19 {
				return str[:19]
			}
			return str
		}
		return false
	case tInteger, tManyRef:
		if v == nil {
			return int64(0)
		}
		return v
	case tFloat, tMonetary:
		switch x := v.(type) {
		case float64:
			return x
		case int64:
			return float64(x)
		}
		return 0.0
	case tBoolean:
		b, _ := v.(bool)
		return b
	default:
		if v == nil {
			return false
		}
		return v
	}
}

func (s *Server) mSearchRead(e *env, m *model, _ []int64, a *args) (any, error) {
	fields, err := s.resolveFields(m, a.get("fields"))
	if err != nil {
		return nil, err
	}
	recs, err := s.search(e, m, a.get("domain"), a.get("offset"), a.get("limit"), a.get("order"))
	if err != nil {
		return nil, err
	}
	s.stats.records[m.name] += len(recs)
	return s.readRecords(m, recs, fields, true), nil
}

func (s *Server) mSearch(e *env, m *model, _ []int64, a *args) (any, error) {
	recs, err := s.search(e, m, a.get("domain"), a.get("offset"), a.get("limit"), a.get("order"))
	if err != nil {
		return nil, err
	}
	out := make([]any, len(recs))
	for i, r := range recs {
		out[i] = r.id
	}
	return out, nil
}

func (s *Server) mSearchCount(e *env, m *model, _ []int64, a *args) (any, error) {
	recs, err := s.search(e, m, a.get("domain"), nil, a.get("limit"), "id")
	if err != nil {
		return nil, err
	}
	return int64(len(recs)), nil
}

func (s *Server) mRead(e *env, m *model, ids []int64, a *args) (any, error) {
	fields, err := s.resolveFields(m, a.get("fields"))
	if err != nil {
		return nil, err
	}
	recs, err := s.browse(e, m, dedupe(ids), "read")
	if err != nil {
		return nil, err
	}
	classic := true
	if l := a.get("load"); isFalse(l) || l == "" {
		classic = false
	}
	s.stats.records[m.name] += len(recs)
	return s.readRecords(m, recs, fields, classic), nil
}

func dedupe(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) mWrite(e *env, m *model, ids []int64, a *args) (any, error) {
	vals, ok := a.get("vals").(*Dict)
	if !ok {
		return nil, &pyErr{Class: "AttributeError", Msg: fmt.Sprintf("'%s' object has no attribute 'items'", pyTypeName(a.get("vals")))}
	}
	recs, err := s.browse(e, m, ids, "write")
	if err != nil {
		return nil, err
	}
	conv, err := s.convertVals(e, m, vals)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		s.applyVals(e, m, r, conv)
	}
	return true, nil
}

type setVal struct {
	f *field
	v any
}

// convertVals validates and converts create/write values per field type.
func (s *Server) convertVals(e *env, m *model, vals *Dict) ([]setVal, error) {
	out := make([]setVal, 0, vals.Len())
	for _, k := range vals.Keys() {
		f := m.byName[k]
		if f == nil {
			return nil, valueError("Invalid field %s on model %s", pyStrRepr(k), pyStrRepr(m.name))
		}
		switch k {
		case "id", "create_date", "write_date", "create_uid", "write_uid", "display_name":
			continue // magic and computed fields are not writable
		}
		if f.compute != nil || f.typ == tOne2many {
			continue
		}
		v, _ := vals.Get(k)
		cv, err := s.convertValue(e, m, f, v)
		if err != nil {
			return nil, err
		}
		out = append(out, setVal{f, cv})
	}
	return out, nil
}

func (s *Server) applyVals(e *env, m *model, r *record, vals []setVal) {
	for _, sv := range vals {
		if sv.f.typ == tMany2many {
			cur, _ := r.vals[sv.f.idx].([]int64)
			r.vals[sv.f.idx] = applyM2M(cur, sv.v.([]m2mCmd))
			continue
		}
		r.vals[sv.f.idx] = sv.v
	}
	r.vals[m.byName["write_date"].idx] = e.now
	r.vals[m.byName["write_uid"].idx] = e.uid
}

type m2mCmd struct {
	op  int64
	id  int64
	ids []int64
}

func applyM2M(cur []int64, cmds []m2mCmd) []int64 {
	out := slices.Clone(cur)
	for _, c := range cmds {
		switch c.op {
		case 6:
			out = slices.Clone(c.ids)
		case 5:
			out = nil
		case 4:
			if !slices.Contains(out, c.id) {
				out = append(out, c.id)
			}
		case 3:
			out = slices.DeleteFunc(out, func(x int64) bool { return x == c.id })
		}
	}
	return out
}

func (s *Server) notNull(m *model, f *field) *pyErr {
	return validationError(fmt.Sprintf("The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n- Delete: another model requires the record being deleted. If possible, archive it instead.\n\nModel: %s (%s)\nField: %s (%s)\n",
		m.desc, m.name, f.label, f.name))
}

func (s *Server) convertValue(e *env, m *model, f *field, v any) (any, error) {
	switch f.typ {
	case tChar, tText, tHTML:
		switch x := v.(type) {
		case nil:
			return nil, nil
		case bool:
			if !x {
				return nil, nil
			}
			return "True", nil
		case string:
			return x, nil
		case int64, float64:
			return valueText(x), nil
		}
		return nil, &pyErr{Class: "psycopg2.ProgrammingError", Msg: fmt.Sprintf("can't adapt type '%s'", pyTypeName(v))}
	case tSelection:
		if isFalse(v) {
			if f.required {
				return nil, s.notNull(m, f)
			}
			return nil, nil
		}
		str, _ := v.(string)
		for _, o := range f.sel {
			if o[0] == str && str != "" {
				return str, nil
			}
		}
		return nil, valueError("Wrong value for %s.%s: %s", m.name, f.name, pyRepr(v))
	case tInteger, tManyRef:
		switch x := v.(type) {
		case nil:
			return int64(0), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, valueError("invalid literal for int() with base 10: %s", pyStrRepr(x))
			}
			return n, nil
		}
		return nil, typeError("int() argument must be a string, a bytes-like object or a real number, not '%s'", pyTypeName(v))
	case tFloat, tMonetary:
		switch x := v.(type) {
		case nil:
			return 0.0, nil
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, valueError("could not convert string to float: %s", pyStrRepr(x))
			}
			return n, nil
		}
		return nil, typeError("float() argument must be a string or a real number, not '%s'", pyTypeName(v))
	case tBoolean:
		return !isFalse(v) && v != int64(0) && v != "", nil
	case tDate:
		switch x := v.(type) {
		case nil, bool:
			if isFalse(x) {
				return nil, nil
			}
		case string:
			if x == "" {
				return nil, nil
			}
			str := x
			if len(str) > 10 {
				str = str[:10]
			}
			if _, err := time.Parse(dateLayout, str); err != nil {
				return nil, valueError("time data %s does not match format '%%Y-%%m-%%d'", pyStrRepr(str))
			}
			return str, nil
		case DateTime:
			if s.opts.Version >= 18 {
				t, err := parseISODateTime(x.Raw)
				if err != nil {
					return nil, valueError("time data %s does not match format '%%Y%%m%%dT%%H:%%M:%%S'", pyStrRepr(x.Raw))
				}
				return t.Format(dateLayout), nil
			}
			return nil, typeError("'DateTime' object is not subscriptable")
		}
		return nil, typeError("fromisoformat: argument must be str")
	case tDatetime:
		switch x := v.(type) {
		case nil, bool:
			if isFalse(x) {
				return nil, nil
			}
		case string:
			return parseOdooDatetime(x)
		case DateTime:
			if s.opts.Version >= 18 {
				t, err := parseISODateTime(x.Raw)
				if err != nil {
					return nil, valueError("time data %s does not match format '%%Y%%m%%dT%%H:%%M:%%S'", pyStrRepr(x.Raw))
				}
				return t.Format(dtLayout), nil
			}
			return nil, typeError("strptime() argument 1 must be str, not DateTime")
		}
		return nil, typeError("strptime() argument 1 must be str, not %s", pyTypeName(v))
	case tMany2one:
		switch x := v.(type) {
		case nil, bool:
			if isFalse(x) {
				if f.required {
					return nil, s.notNull(m, f)
				}
				return int64(0), nil
			}
		case int64:
			if x == 0 {
				return int64(0), nil
			}
			co := s.models[f.rel]
			if co.get(x) == nil {
				return nil, validationError(fmt.Sprintf("The operation cannot be completed: another model requires the record being deleted. If possible, archive it instead.\n\nModel: %s (%s)\nConstraint: %s_%s_fkey\n",
					m.desc, m.name, strings.ReplaceAll(m.name, ".", "_"), f.name))
			}
			return x, nil
		case []any:
			return nil, &pyErr{Class: "psycopg2.errors.DatatypeMismatch", Msg: fmt.Sprintf("column \"%s\" is of type integer but expression is of type integer[]", f.name)}
		case string:
			return nil, &pyErr{Class: "psycopg2.errors.InvalidTextRepresentation", Msg: fmt.Sprintf("invalid input syntax for type integer: \"%s\"", x)}
		}
		return nil, &pyErr{Class: "psycopg2.ProgrammingError", Msg: fmt.Sprintf("can't adapt type '%s'", pyTypeName(v))}
	case tMany2many:
		return s.convertM2M(f, v)
	}
	return nil, valueError("field %s is not writable", f.name)
}

// parseOdooDatetime is fields.Datetime.to_datetime:
// strptime(value, DATETIME_FORMAT[:len(value)-2]).
func parseOdooDatetime(x string) (any, error) {
	if x == "" {
		return nil, nil
	}
	const full = "%Y-%m-%d %H:%M:%S"
	n := len(x) - 2
	if n > len(full) {
		n = len(full)
	}
	if n < 0 {
		n = 0
	}
	format := full[:n]
	layouts := map[string]string{"%Y-%m-%d": dateLayout, "%Y-%m-%d %H:%M": "2006-01-02 15:04", full: dtLayout}
	layout, ok := layouts[format]
	if !ok {
		return nil, valueError("time data %s does not match format %s", pyStrRepr(x), pyStrRepr(format))
	}
	probe := x
	if len(probe) > len(layout) {
		probe = x[:len(layout)]
	}
	t, err := time.Parse(layout, probe)
	if err != nil {
		return nil, valueError("time data %s does not match format %s", pyStrRepr(x), pyStrRepr(format))
	}
	if len(x) > len(layout) {
		return nil, valueError("unconverted data remains: %s", x[len(layout):])
	}
	return t.Format(dtLayout), nil
}

func (s *Server) convertM2M(f *field, v any) (any, error) {
	list, ok := v.([]any)
	if !ok {
		if isFalse(v) {
			return []m2mCmd{{op: 5}}, nil
		}
		return nil, valueError("Wrong value for %s: %s", f.name, pyRepr(v))
	}
	co := s.models[f.rel]
	exists := func(id int64) error {
		if co.get(id) == nil {
			return validationError(fmt.Sprintf("The operation cannot be completed: another model requires the record being deleted. If possible, archive it instead.\n\nModel: %s (%s)\n", co.desc, co.name))
		}
		return nil
	}
	var cmds []m2mCmd
	plain := true
	for _, e := range list {
		if _, ok := e.(int64); !ok {
			plain = false
		}
	}
	if plain {
		ids := make([]int64, 0, len(list))
		for _, e := range list {
			id := e.(int64)
			if err := exists(id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return []m2mCmd{{op: 6, ids: ids}}, nil
	}
	for _, e := range list {
		c, ok := e.([]any)
		if !ok || len(c) == 0 {
			return nil, valueError("Wrong value for %s: %s", f.name, pyRepr(v))
		}
		op, _ := c[0].(int64)
		switch op {
		case 6:
			if len(c) < 3 {
				return nil, valueError("Wrong value for %s: %s", f.name, pyRepr(v))
			}
			ids, err := toIDs(c[2])
			if err != nil {
				return nil, valueError("Wrong value for %s: %s", f.name, pyRepr(v))
			}
			for _, id := range ids {
				if err := exists(id); err != nil {
					return nil, err
				}
			}
			cmds = append(cmds, m2mCmd{op: 6, ids: ids})
		case 5:
			cmds = append(cmds, m2mCmd{op: 5})
		case 4, 3:
			if len(c) < 2 {
				return nil, valueError("Wrong value for %s: %s", f.name, pyRepr(v))
			}
			id, _ := c[1].(int64)
			if op == 4 {
				if err := exists(id); err != nil {
					return nil, err
				}
			}
			cmds = append(cmds, m2mCmd{op: op, id: id})
		default:
			return nil, &pyErr{Class: "NotImplementedError", Msg: fmt.Sprintf("x2many command %d is not supported by the emulator", op)}
		}
	}
	return cmds, nil
}

func (s *Server) mCreate(e *env, m *model, _ []int64, a *args) (any, error) {
	raw := a.get("vals_list")
	single := false
	var list []*Dict
	switch x := raw.(type) {
	case *Dict:
		single = true
		list = []*Dict{x}
	case []any:
		for _, it := range x {
			d, ok := it.(*Dict)
			if !ok {
				return nil, &pyErr{Class: "AttributeError", Msg: fmt.Sprintf("'%s' object has no attribute 'items'", pyTypeName(it))}
			}
			list = append(list, d)
		}
	default:
		return nil, &pyErr{Class: "AttributeError", Msg: fmt.Sprintf("'%s' object has no attribute 'items'", pyTypeName(raw))}
	}
	// Validate everything first: a failing record aborts the whole call.
	convs := make([][]setVal, len(list))
	for i, d := range list {
		c, err := s.convertVals(e, m, d)
		if err != nil {
			return nil, err
		}
		convs[i] = c
	}
	ids := make([]any, 0, len(list))
	var created []*record
	for i, d := range list {
		r, err := s.createOne(e, m, d, convs[i])
		if err != nil {
			for _, c := range created { // roll back the call
				m.remove(c.id)
			}
			return nil, err
		}
		created = append(created, r)
		ids = append(ids, r.id)
	}
	if single {
		return ids[0], nil
	}
	return ids, nil
}

func (s *Server) createOne(e *env, m *model, given *Dict, conv []setVal) (*record, error) {
	r := &record{id: m.nextID, vals: make([]any, m.nstored)}
	for _, f := range m.fields {
		if f.idx < 0 {
			continue
		}
		switch f.typ {
		case tMany2one, tInteger, tManyRef:
			r.vals[f.idx] = int64(0)
		case tFloat, tMonetary:
			r.vals[f.idx] = 0.0
		case tBoolean:
			r.vals[f.idx] = false
		}
		if _, ok := given.Get(f.name); !ok && f.dflt != nil {
			r.vals[f.idx] = f.dflt(s, e)
		}
	}
	for _, sv := range conv {
		if sv.f.typ == tMany2many {
			r.vals[sv.f.idx] = applyM2M(nil, sv.v.([]m2mCmd))
			continue
		}
		r.vals[sv.f.idx] = sv.v
	}
	if m.sequence != nil {
		if n := m.str(r, "name"); n == "" || n == "New" || n == "/" {
			r.vals[m.byName["name"].idx] = m.sequence(s, m)
		}
	}
	for _, f := range m.fields {
		if !f.required || f.idx < 0 {
			continue
		}
		if v := r.vals[f.idx]; v == nil || (v == int64(0) && f.typ == tMany2one) || v == "" {
			return nil, s.notNull(m, f)
		}
	}
	if m.name == "mail.activity" {
		if err := s.checkActivity(e, m, r); err != nil {
			return nil, err
		}
	}
	r.vals[m.byName["create_date"].idx] = e.now
	r.vals[m.byName["write_date"].idx] = e.now
	r.vals[m.byName["create_uid"].idx] = e.uid
	r.vals[m.byName["write_uid"].idx] = e.uid
	m.insert(r)
	if m.name == "mail.activity" {
		s.notifyActivity(e, m, r)
	}
	return r, nil
}

func (s *Server) checkActivity(e *env, m *model, r *record) error {
	if m.m2o(r, "res_id") == 0 {
		return validationError("The operation cannot be completed: new row for relation \"mail_activity\" violates check constraint \"mail_activity_res_id_check\"")
	}
	rm, _ := s.activityResModel(r).(string)
	target := s.models[rm]
	if target == nil || !target.installed {
		return userError("Object %s doesn't exist", rm)
	}
	id := m.m2o(r, "res_id")
	if target.get(id) == nil {
		return missingError(fmt.Sprintf("Record does not exist or has been deleted.\n(Record: %s, User: %d)", recordsetRepr(rm, []int64{id}), e.uid))
	}
	return s.checkRules(e, target, "read", []int64{id})
}

// notifyActivity mails the assignee when someone else assigns an activity,
// unless the context asks for mail_activity_quick_update.
func (s *Server) notifyActivity(e *env, m *model, r *record) {
	uid := m.m2o(r, "user_id")
	if uid == e.uid {
		return
	}
	if q, _ := e.ctxFlag("mail_activity_quick_update"); q {
		return
	}
	rm, _ := s.activityResModel(r).(string)
	s.emails = append(s.emails, Email{To: s.userPartner(uid), Subject: "You have been assigned to " + fmt.Sprint(s.activityResName(r)), Model: rm, ResID: m.m2o(r, "res_id"), Kind: "activity_assigned"})
}

func (s *Server) userPartner(uid int64) int64 {
	u := s.models["res.users"]
	if r := u.get(uid); r != nil {
		return u.m2o(r, "partner_id")
	}
	return 0
}

func (s *Server) mUnlink(e *env, m *model, ids []int64, a *args) (any, error) {
	recs, err := s.browse(e, m, ids, "unlink")
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		m.remove(r.id)
	}
	return true, nil
}

func (s *Server) mFieldsGet(e *env, m *model, _ []int64, a *args) (any, error) {
	var want map[string]bool
	if l, ok := a.get("allfields").([]any); ok && len(l) > 0 {
		want = map[string]bool{}
		for _, x := range l {
			if n, ok := x.(string); ok {
				want[n] = true
			}
		}
	}
	var attrs map[string]bool
	if l, ok := a.get("attributes").([]any); ok && len(l) > 0 {
		attrs = map[string]bool{}
		for _, x := range l {
			if n, ok := x.(string); ok {
				attrs[n] = true
			}
		}
	}
	out := NewDict(len(m.fields))
	for _, f := range m.fields {
		if want != nil && !want[f.name] {
			continue
		}
		d := NewDict(8)
		put := func(k string, v any) {
			if attrs == nil || attrs[k] {
				d.Set(k, v)
			}
		}
		put("type", ftypeNames[f.typ])
		put("string", f.label)
		put("readonly", f.readonly || f.name == "id")
		put("required", f.required)
		put("store", f.store || f.name == "id")
		put("searchable", f.store || f.name == "id" || f.typ == tOne2many)
		put("sortable", f.store || f.name == "id")
		if f.relational() {
			put("relation", f.rel)
		}
		if f.typ == tSelection {
			sel := make([]any, len(f.sel))
			for i, o := range f.sel {
				sel[i] = []any{o[0], o[1]}
			}
			put("selection", sel)
		}
		out.Set(f.name, d)
	}
	return out, nil
}

func (s *Server) mNameSearch(e *env, m *model, _ []int64, a *args) (any, error) {
	name, _ := a.get("name").(string)
	op, _ := a.get("operator").(string)
	dom := a.get("args")
	if s.opts.Version >= 18 {
		dom = a.get("domain")
	}
	recs, err := s.search(e, m, dom, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	var match func(string) bool
	if name != "" {
		if op == "=" {
			match = func(x string) bool { return x == name }
		} else if match, err = likeMatcher(op, name); err != nil {
			return nil, err
		}
	}
	lim, hasLim, err := asInt(a.get("limit"), "limit")
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, r := range recs {
		dn := s.displayName(m, r)
		if match != nil && !match(dn) {
			continue
		}
		out = append(out, []any{r.id, dn})
		if hasLim && int64(len(out)) >= lim {
			break
		}
	}
	return out, nil
}

// xmlid resolves module.name through ir.model.data (0 when unknown).
func (s *Server) xmlid(full string) int64 {
	mod, name, _ := strings.Cut(full, ".")
	imd := s.models["ir.model.data"]
	for _, id := range imd.ids {
		r := imd.recs[id]
		if imd.str(r, "module") == mod && imd.str(r, "name") == name {
			return imd.m2o(r, "res_id")
		}
	}
	return 0
}

// markupEscape is markupsafe.escape, which message_post applies to plain
// text bodies.
func markupEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&#34;", "'", "&#39;")
	return r.Replace(s)
}

func (s *Server) mMessagePost(e *env, m *model, ids []int64, a *args) (any, error) {
	recs, err := s.browse(e, m, ids, "write")
	if err != nil {
		return nil, err
	}
	if len(recs) != 1 {
		return nil, valueError("Expected singleton: %s", recordsetRepr(m.name, ids))
	}
	r := recs[0]
	mt, _ := a.get("message_type").(string)
	if mt == "user_notification" {
		return nil, valueError("Use message_notify to send a notification to an user.")
	}
	msgs := s.models["mail.message"]
	if _, err := s.convertValue(e, msgs, msgs.byName["message_type"], mt); err != nil {
		return nil, err
	}
	subtype := int64(0)
	if x, ok := a.get("subtype_id").(int64); ok && x != 0 {
		subtype = x
	} else {
		xml, _ := a.get("subtype_xmlid").(string)
		if xml == "" {
			xml = "mail.mt_note"
		}
		subtype = s.xmlid(xml)
		if subtype == 0 {
			return nil, valueError("External ID not found in the system: %s", xml)
		}
	}
	if a.extra != nil {
		for _, k := range a.extra.Keys() {
			if msgs.byName[k] == nil {
				return nil, valueError("Invalid field %s on model %s", pyStrRepr(k), pyStrRepr("mail.message"))
			}
		}
	}
	body := ""
	switch b := a.get("body").(type) {
	case string:
		body = b
	case nil, bool:
	default:
		body = valueText(b)
	}
	if isHTML, _ := a.get("body_is_html").(bool); !isHTML || s.opts.Version < 17 {
		body = markupEscape(body)
	}
	st := s.models["mail.message.subtype"]
	internal := false
	if sr := st.get(subtype); sr != nil {
		internal = st.boolv(sr, "internal")
	}
	vals := NewDict(8)
	vals.Set("model", m.name)
	vals.Set("res_id", r.id)
	vals.Set("body", body)
	vals.Set("message_type", mt)
	vals.Set("subtype_id", subtype)
	vals.Set("is_internal", internal)
	vals.Set("author_id", s.userPartner(e.uid))
	if subj, ok := a.get("subject").(string); ok {
		vals.Set("subject", subj)
	}
	conv, err := s.convertVals(e, msgs, vals)
	if err != nil {
		return nil, err
	}
	msg, err := s.createOne(e, msgs, vals, conv)
	if err != nil {
		return nil, err
	}
	if !internal {
		for _, pid := range s.followers(m, r) {
			if pid != s.userPartner(e.uid) {
				s.emails = append(s.emails, Email{To: pid, Subject: "Re: " + s.displayName(m, r), Model: m.name, ResID: r.id, Kind: "message", MessageID: msg.id})
			}
		}
	}
	if s.opts.Version >= 19 {
		return []any{msg.id}, nil
	}
	return msg.id, nil
}

// followers approximates a document's followers: its customer and the
// responsible user's partner.
func (s *Server) followers(m *model, r *record) []int64 {
	var out []int64
	if f := m.byName["partner_id"]; f != nil && f.idx >= 0 {
		if p, _ := r.vals[f.idx].(int64); p != 0 {
			out = append(out, p)
		}
	}
	if f := m.byName["user_id"]; f != nil && f.idx >= 0 {
		if u, _ := r.vals[f.idx].(int64); u != 0 {
			if p := s.userPartner(u); p != 0 && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) modelID(name string) int64 {
	im := s.models["ir.model"]
	for _, id := range im.ids {
		if im.str(im.recs[id], "model") == name {
			return id
		}
	}
	return 0
}

func (s *Server) mActivitySchedule(e *env, m *model, ids []int64, a *args) (any, error) {
	recs, err := s.browse(e, m, ids, "write")
	if err != nil {
		return nil, err
	}
	act := s.models["mail.activity"]
	typeID := s.xmlid("mail.mail_activity_data_todo")
	if x, _ := a.get("act_type_xmlid").(string); x != "" {
		if typeID = s.xmlid(x); typeID == 0 {
			return nil, valueError("External ID not found in the system: %s", x)
		}
	}
	var created []any
	for _, r := range recs {
		vals := NewDict(8)
		vals.Set("res_model_id", s.modelID(m.name))
		vals.Set("res_id", r.id)
		vals.Set("activity_type_id", typeID)
		vals.Set("summary", a.get("summary"))
		vals.Set("note", a.get("note"))
		if dd := a.get("date_deadline"); !isFalse(dd) {
			vals.Set("date_deadline", dd)
		}
		vals.Set("user_id", e.uid)
		if a.extra != nil {
			for _, k := range a.extra.Keys() {
				v, _ := a.extra.Get(k)
				vals.Set(k, v)
			}
		}
		conv, err := s.convertVals(e, act, vals)
		if err != nil {
			return nil, err
		}
		nr, err := s.createOne(e, act, vals, conv)
		if err != nil {
			return nil, err
		}
		created = append(created, nr.id)
	}
	if s.opts.Version >= 19 {
		return created, nil
	}
	// 16-18: the recordset is returned raw and fails to marshal, after the
	// activities were committed (odoo-api.md §4.3).
	return pyObject{class: "odoo.api.mail.activity"}, nil
}

func (s *Server) mActionFeedback(e *env, m *model, ids []int64, a *args) (any, error) {
	recs, err := s.browse(e, m, ids, "write")
	if err != nil {
		return nil, err
	}
	var first any = false
	types := s.models["mail.activity.type"]
	for _, r := range recs {
		rm, _ := s.activityResModel(r).(string)
		target := s.models[rm]
		if target == nil {
			continue
		}
		tr := target.get(m.m2o(r, "res_id"))
		if tr != nil {
			// Like mail.message_activity_done: the activity, its note, the
			// feedback.
			body := "<div>" + markupEscape(s.displayName(m, r)) + " done</div>"
			if note := m.str(r, "note"); note != "" {
				body += "<div>" + note + "</div>"
			}
			if fb, ok := a.get("feedback").(string); ok && fb != "" {
				body += "<div>Feedback: " + markupEscape(fb) + "</div>"
			}
			vals := NewDict(6)
			vals.Set("model", rm)
			vals.Set("res_id", tr.id)
			vals.Set("body", body)
			vals.Set("message_type", "notification")
			vals.Set("subtype_id", s.xmlid("mail.mt_activities"))
			vals.Set("author_id", s.userPartner(e.uid))
			msgs := s.models["mail.message"]
			conv, err := s.convertVals(e, msgs, vals)
			if err != nil {
				return nil, err
			}
			msg, err := s.createOne(e, msgs, vals, conv)
			if err != nil {
				return nil, err
			}
			if first == false {
				first = msg.id
			}
		}
		keep := false
		if t := types.get(m.m2o(r, "activity_type_id")); t != nil && types.byName["keep_done"] != nil {
			keep = types.boolv(t, "keep_done")
		}
		if keep && m.byName["active"] != nil {
			r.vals[m.byName["active"].idx] = false
			r.vals[m.byName["write_date"].idx] = e.now
		} else {
			m.remove(r.id)
		}
	}
	return first, nil
}

func (s *Server) mContextGet(e *env, m *model, _ []int64, a *args) (any, error) {
	d := NewDict(3)
	d.Set("lang", "en_US")
	d.Set("tz", "Europe/Brussels")
	d.Set("uid", e.uid)
	return d, nil
}

func lockFn(lock bool) func(*Server, *env, *model, []int64, *args) (any, error) {
	return func(s *Server, e *env, m *model, ids []int64, a *args) (any, error) {
		recs, err := s.browse(e, m, ids, "write")
		if err != nil {
			return nil, err
		}
		if f := m.byName["locked"]; f != nil {
			for _, r := range recs {
				r.vals[f.idx] = lock
				r.vals[m.byName["write_date"].idx] = e.now
			}
		}
		return nil, nil // None: committed, then Fault 1 when marshalled
	}
}
