package odootest

import (
	"slices"
	"strconv"
)

// ftype is an Odoo field type.
type ftype int

const (
	tChar ftype = iota
	tText
	tHTML
	tInteger
	tFloat
	tMonetary
	tBoolean
	tDate
	tDatetime
	tSelection
	tMany2one
	tOne2many
	tMany2many
	tManyRef // many2one_reference (mail.activity.res_id)
)

var ftypeNames = map[ftype]string{
	tChar: "char", tText: "text", tHTML: "html", tInteger: "integer", tFloat: "float", tMonetary: "monetary",
	tBoolean: "boolean", tDate: "date", tDatetime: "datetime", tSelection: "selection", tMany2one: "many2one",
	tOne2many: "one2many", tMany2many: "many2many", tManyRef: "many2one_reference",
}

// field is one field of a model. Stored fields live at rec.vals[idx];
// computed fields have compute set (stored computed fields are searchable,
// non-stored ones are not, as in Odoo).
type field struct {
	name, label string
	typ         ftype
	rel         string // comodel of relational fields
	inverse     string // one2many: the many2one on the comodel
	sel         [][2]string
	required    bool
	readonly    bool
	store       bool
	compute     func(s *Server, r *record) any
	dflt        func(s *Server, e *env) any
	idx         int
	minVersion  int
}

func (f *field) relational() bool {
	return f.typ == tMany2one || f.typ == tOne2many || f.typ == tMany2many
}

// record is one row: its id and the stored values by field index. Unset
// values are nil (char/date/datetime/selection), 0 (many2one) or nil slices.
type record struct {
	id   int64
	vals []any
}

// model is one Odoo model with its records, kept sorted by id.
type model struct {
	name, desc string
	group      string // the group named in ACL faults
	order      string // _order
	thread     bool   // inherits mail.thread / mail.activity.mixin
	hasActive  bool
	installed  bool
	fields     []*field
	byName     map[string]*field
	nstored    int
	recs       map[int64]*record
	ids        []int64
	nextID     int64
	display    func(s *Server, r *record) string
	sequence   func(s *Server, m *model) string
}

func (m *model) get(id int64) *record { return m.recs[id] }

func (m *model) insert(r *record) {
	m.recs[r.id] = r
	if n := len(m.ids); n == 0 || m.ids[n-1] < r.id {
		m.ids = append(m.ids, r.id)
	} else {
		i, _ := slices.BinarySearch(m.ids, r.id)
		m.ids = slices.Insert(m.ids, i, r.id)
	}
	if r.id >= m.nextID {
		m.nextID = r.id + 1
	}
}

func (m *model) remove(id int64) {
	delete(m.recs, id)
	if i, ok := slices.BinarySearch(m.ids, id); ok {
		m.ids = slices.Delete(m.ids, i, i+1)
	}
}

// field constructors

func fc(name, label string, t ftype) *field {
	return &field{name: name, label: label, typ: t, store: true}
}
func char(name, label string) *field     { return fc(name, label, tChar) }
func text(name, label string) *field     { return fc(name, label, tText) }
func html(name, label string) *field     { return fc(name, label, tHTML) }
func integer(name, label string) *field  { return fc(name, label, tInteger) }
func float(name, label string) *field    { return fc(name, label, tFloat) }
func monetary(name, label string) *field { return fc(name, label, tMonetary) }
func boolean(name, label string) *field  { return fc(name, label, tBoolean) }
func date(name, label string) *field     { return fc(name, label, tDate) }
func datetime(name, label string) *field { return fc(name, label, tDatetime) }
func manyRef(name, label string) *field  { return fc(name, label, tManyRef) }
func many2one(name, label, rel string) *field {
	f := fc(name, label, tMany2one)
	f.rel = rel
	return f
}
func many2many(name, label, rel string) *field {
	f := fc(name, label, tMany2many)
	f.rel = rel
	return f
}
func one2many(name, label, rel, inverse string) *field {
	f := fc(name, label, tOne2many)
	f.rel, f.inverse, f.store = rel, inverse, false
	return f
}
func selection(name, label string, sel ...[2]string) *field {
	f := fc(name, label, tSelection)
	f.sel = sel
	return f
}

func (f *field) req() *field                              { f.required = true; return f }
func (f *field) ro() *field                               { f.readonly = true; return f }
func (f *field) since(v int) *field                       { f.minVersion = v; return f }
func (f *field) def(d func(s *Server, e *env) any) *field { f.dflt = d; return f }
func (f *field) computed(stored bool, c func(s *Server, r *record) any) *field {
	f.compute, f.store, f.readonly = c, stored, true
	return f
}

func constDefault(v any) func(*Server, *env) any { return func(*Server, *env) any { return v } }

// newModel builds a model with Odoo's magic fields appended.
func (s *Server) newModel(name, desc, group, order string, thread bool, fields ...*field) *model {
	m := &model{name: name, desc: desc, group: group, order: order, thread: thread, installed: true,
		byName: map[string]*field{}, recs: map[int64]*record{}, nextID: 1}
	idf := integer("id", "ID").ro()
	dn := char("display_name", "Display Name").computed(false, func(s *Server, r *record) any { return s.displayName(m, r) })
	all := append([]*field{idf}, fields...)
	all = append(all,
		dn,
		many2one("create_uid", "Created by", "res.users").ro(),
		datetime("create_date", "Created on").ro(),
		many2one("write_uid", "Last Updated by", "res.users").ro(),
		datetime("write_date", "Last Updated on").ro(),
	)
	for _, f := range all {
		if f.minVersion > s.opts.Version {
			continue
		}
		if f.name == "active" {
			m.hasActive = true
		}
		f.idx = -1
		if f.store && f.compute == nil && f.name != "id" {
			f.idx = m.nstored
			m.nstored++
		}
		m.fields = append(m.fields, f)
		m.byName[f.name] = f
	}
	s.models[name] = m
	s.modelOrder = append(s.modelOrder, name)
	return m
}

func (s *Server) displayName(m *model, r *record) string {
	if m.display != nil {
		return m.display(s, r)
	}
	if f := m.byName["name"]; f != nil && f.idx >= 0 {
		if v, ok := r.vals[f.idx].(string); ok {
			return v
		}
		return ""
	}
	return m.name + "," + strconv.FormatInt(r.id, 10)
}

// str returns a stored char value ("" when unset).
func (m *model) str(r *record, name string) string {
	v, _ := r.vals[m.byName[name].idx].(string)
	return v
}

func (m *model) m2o(r *record, name string) int64 {
	v, _ := r.vals[m.byName[name].idx].(int64)
	return v
}

func (m *model) boolv(r *record, name string) bool {
	v, _ := r.vals[m.byName[name].idx].(bool)
	return v
}

var (
	selPickingState = [][2]string{{"draft", "Draft"}, {"waiting", "Waiting Another Operation"}, {"confirmed", "Waiting"}, {"assigned", "Ready"}, {"done", "Done"}, {"cancel", "Cancelled"}}
	selOrderState   = [][2]string{{"draft", "Quotation"}, {"sent", "Quotation Sent"}, {"sale", "Sales Order"}, {"cancel", "Cancelled"}}
	selDelivery     = [][2]string{{"pending", "Not Delivered"}, {"started", "Started"}, {"partial", "Partially Delivered"}, {"full", "Fully Delivered"}}
	selPickingType  = [][2]string{{"incoming", "Receipt"}, {"outgoing", "Delivery"}, {"internal", "Internal Transfer"}}
	selMessageType  = [][2]string{{"email", "Incoming Email"}, {"comment", "Comment"}, {"notification", "System notification"}, {"auto_comment", "Automated Targeted Notification"}, {"user_notification", "User Specific Notification"}}
)

// defineModels declares the models the connector uses, with the fields of
// odoo-api.md §4 (17/18 names; version differences noted inline).
func (s *Server) defineModels() {
	s.models = map[string]*model{}
	v := s.opts.Version
	today := func(s *Server, e *env) any { return s.now().UTC().Format("2006-01-02") }
	nowDT := func(s *Server, e *env) any { return s.now().UTC().Format(dtLayout) }
	uid := func(s *Server, e *env) any { return e.uid }

	partner := s.newModel("res.partner", "Contact", "Extra Rights/Contact Creation", "complete_name asc, id desc", true,
		char("name", "Name"),
		char("complete_name", "Complete Name").computed(true, func(s *Server, r *record) any { return s.partnerDisplay(r) }),
		char("email", "Email"), char("phone", "Phone"), char("ref", "Reference"), char("city", "City"), char("country_code", "Country Code"),
		boolean("is_company", "Is a Company"),
		many2one("parent_id", "Related Company", "res.partner"),
		many2one("commercial_partner_id", "Commercial Entity", "res.partner").computed(true, func(s *Server, r *record) any { return s.commercialPartner(r) }),
		many2many("category_id", "Tags", "res.partner.category"),
		many2one("user_id", "Salesperson", "res.users"),
		integer("customer_rank", "Customer Rank"),
		boolean("active", "Active").def(constDefault(true)),
	)
	partner.display = func(s *Server, r *record) string { return s.partnerDisplay(r) }

	s.newModel("res.users", "User", "Administration/Access Rights", "name, login", false,
		char("name", "Name").req(), char("login", "Login").req(), char("email", "Email"),
		many2one("partner_id", "Related Partner", "res.partner"),
		many2one("sale_team_id", "User Sales Team", "crm.team"),
		char("tz", "Timezone"),
		boolean("share", "Share User"),
		boolean("active", "Active").def(constDefault(true)),
	)
	s.newModel("res.currency", "Currency", "Administration/Settings", "active desc, name", false,
		char("name", "Currency").req(), char("symbol", "Symbol"), boolean("active", "Active").def(constDefault(true)))
	s.newModel("res.partner.category", "Partner Tags", "Extra Rights/Contact Creation", "name", false,
		char("name", "Tag Name").req(), boolean("active", "Active").def(constDefault(true)))
	s.newModel("crm.team", "Sales Team", "Sales/Administrator", "sequence ASC, create_date DESC, id DESC", false,
		char("name", "Sales Team").req(), integer("sequence", "Sequence"),
		many2one("user_id", "Team Leader", "res.users"),
		many2many("member_ids", "Salespersons", "res.users"),
		boolean("active", "Active").def(constDefault(true)))
	s.newModel("delivery.carrier", "Shipping Methods", "Inventory/Administrator", "sequence, id", false,
		char("name", "Delivery Method").req(), integer("sequence", "Sequence"), boolean("active", "Active").def(constDefault(true)))

	order := s.newModel("sale.order", "Sales Order", "Sales/User: Own Documents Only", "date_order desc, id desc", true,
		char("name", "Order Reference").req().def(constDefault("New")),
		selection("state", "Status", selOrderState...).def(constDefault("draft")),
		boolean("locked", "Locked").since(17),
		datetime("date_order", "Order Date").req().def(nowDT),
		datetime("commitment_date", "Delivery Date"),
		datetime("expected_date", "Expected Date").computed(false, func(s *Server, r *record) any { return s.orderExpected(r) }),
		many2one("partner_id", "Customer", "res.partner").req(),
		many2one("partner_shipping_id", "Delivery Address", "res.partner"),
		many2one("user_id", "Salesperson", "res.users").def(uid),
		many2one("team_id", "Sales Team", "crm.team"),
		monetary("amount_untaxed", "Untaxed Amount"),
		monetary("amount_total", "Total"),
		many2one("currency_id", "Currency", "res.currency"),
		char("client_order_ref", "Customer Reference"), char("origin", "Source Document"),
		one2many("picking_ids", "Transfers", "stock.picking", "sale_id"),
		selection("delivery_status", "Delivery Status", selDelivery...),
	)
	order.sequence = func(s *Server, m *model) string { return "S" + pad(m.nextID, 5) }

	picking := s.newModel("stock.picking", "Transfer", "Inventory/User", "priority desc, scheduled_date asc, id desc", true,
		char("name", "Reference").def(constDefault("/")),
		char("origin", "Source Document"),
		selection("state", "Status", selPickingState...).def(constDefault("draft")),
		datetime("scheduled_date", "Scheduled Date").def(nowDT),
		datetime("date_deadline", "Deadline"),
		datetime("date_done", "Date of Transfer").ro(),
		many2one("partner_id", "Contact", "res.partner"),
		many2one("user_id", "Responsible", "res.users"),
		many2one("sale_id", "Sales Order", "sale.order"),
		many2one("carrier_id", "Carrier", "delivery.carrier"),
		char("carrier_tracking_ref", "Tracking Reference"),
		selection("picking_type_code", "Type of Operation", selPickingType...).def(constDefault("outgoing")),
		selection("priority", "Priority", [2]string{"0", "Normal"}, [2]string{"1", "Urgent"}).def(constDefault("0")),
		html("note", "Notes"),
	)
	picking.sequence = func(s *Server, m *model) string { return "WH/OUT/" + pad(m.nextID, 5) }

	activity := s.newModel("mail.activity", "Activity", "Base/User", "date_deadline ASC, id ASC", false,
		many2one("res_model_id", "Document Model", "ir.model").req(),
		char("res_model", "Related Document Model").computed(true, func(s *Server, r *record) any { return s.activityResModel(r) }),
		manyRef("res_id", "Related Document ID").req(),
		char("res_name", "Document Name").computed(false, func(s *Server, r *record) any { return s.activityResName(r) }),
		many2one("activity_type_id", "Activity Type", "mail.activity.type").def(func(s *Server, e *env) any { return s.xmlid("mail.mail_activity_data_todo") }),
		char("summary", "Summary"),
		html("note", "Note"),
		date("date_deadline", "Due Date").req().def(today),
		many2one("user_id", "Assigned to", "res.users").req().def(uid),
		boolean("automated", "Automated activity"),
		selection("state", "State", [2]string{"overdue", "Overdue"}, [2]string{"today", "Today"}, [2]string{"planned", "Planned"}, [2]string{"done", "Done"}).
			computed(false, func(s *Server, r *record) any { return s.activityState(r) }),
		boolean("active", "Active").def(constDefault(true)).since(17),
	)
	activity.display = func(s *Server, r *record) string {
		m := s.models["mail.activity"]
		if sm := m.str(r, "summary"); sm != "" {
			return sm
		}
		if t := s.models["mail.activity.type"].get(m.m2o(r, "activity_type_id")); t != nil {
			return s.models["mail.activity.type"].str(t, "name")
		}
		return ""
	}
	s.newModel("mail.activity.type", "Activity Type", "Base/User", "sequence, id", false,
		char("name", "Name").req(), integer("sequence", "Sequence"), char("summary", "Default Summary"),
		selection("category", "Action", [2]string{"default", "None"}, [2]string{"upload_file", "Upload Document"}, [2]string{"phonecall", "Phonecall"}).def(constDefault("default")),
		selection("decoration_type", "Decoration Type", [2]string{"warning", "Alert"}, [2]string{"danger", "Error"}),
		boolean("keep_done", "Keep Done").since(17),
		boolean("active", "Active").def(constDefault(true)))
	msgTypes := selMessageType
	if v >= 17 {
		msgTypes = append(slices.Clone(msgTypes), [2]string{"email_outgoing", "Outgoing Email"})
	}
	msg := s.newModel("mail.message", "Message", "Base/User", "id desc", false,
		char("subject", "Subject"),
		html("body", "Contents"),
		char("model", "Related Document Model"),
		manyRef("res_id", "Related Document ID"),
		selection("message_type", "Type", msgTypes...).req().def(constDefault("comment")),
		many2one("subtype_id", "Subtype", "mail.message.subtype"),
		boolean("is_internal", "Employee Only"),
		many2one("author_id", "Author", "res.partner"),
		datetime("date", "Date").def(nowDT),
	)
	msg.display = func(s *Server, r *record) string {
		m := s.models["mail.message"]
		if sub := m.str(r, "subject"); sub != "" {
			return sub
		}
		return m.str(r, "model") + "," + strconv.FormatInt(m.m2o(r, "res_id"), 10)
	}
	s.newModel("mail.message.subtype", "Message subtypes", "Administration/Settings", "sequence, id", false,
		char("name", "Message Type").req(), integer("sequence", "Sequence"), boolean("internal", "Internal Only"))
	irModel := s.newModel("ir.model", "Models", "Administration/Settings", "model", false,
		char("model", "Model").req(), char("name", "Model Description").req(),
		selection("state", "Type", [2]string{"manual", "Custom Object"}, [2]string{"base", "Base Object"}).def(constDefault("base")))
	irModel.display = func(s *Server, r *record) string { return s.models["ir.model"].str(r, "name") }
	s.newModel("ir.model.data", "Model Data", "Administration/Settings", "module, model, name", false,
		char("name", "External Identifier").req(), char("module", "Module").req(), char("model", "Model Name").req(),
		manyRef("res_id", "Record ID"), boolean("noupdate", "Non Updatable"))

	s.newModel("helpdesk.team", "Helpdesk Team", "Helpdesk/Administrator", "sequence, id", true,
		char("name", "Helpdesk Team").req(), integer("sequence", "Sequence"), boolean("active", "Active").def(constDefault(true)))
	ticket := s.newModel("helpdesk.ticket", "Helpdesk Ticket", "Helpdesk/User", "priority desc, id desc", true,
		char("name", "Subject").req(), html("description", "Description"),
		many2one("team_id", "Helpdesk Team", "helpdesk.team"),
		many2one("user_id", "Assigned to", "res.users"),
		many2one("partner_id", "Customer", "res.partner"),
		char("partner_email", "Customer Email"),
		selection("priority", "Priority", [2]string{"0", "Low priority"}, [2]string{"1", "Medium priority"}, [2]string{"2", "High priority"}, [2]string{"3", "Urgent"}).def(constDefault("0")),
		boolean("active", "Active").def(constDefault(true)))
	ticket.display = func(s *Server, r *record) string {
		return s.models["helpdesk.ticket"].str(r, "name") + " (#" + strconv.FormatInt(r.id, 10) + ")"
	}
	s.newModel("project.project", "Project", "Project/User", "sequence, name, id", true,
		char("name", "Name").req(), integer("sequence", "Sequence"), boolean("active", "Active").def(constDefault(true)))
	taskDeadline := datetime("date_deadline", "Deadline")
	if v <= 16 {
		taskDeadline = date("date_deadline", "Deadline")
	}
	s.newModel("project.task", "Task", "Project/User", "priority desc, sequence, id desc", true,
		char("name", "Title").req(), integer("sequence", "Sequence"),
		many2one("project_id", "Project", "project.project"),
		many2many("user_ids", "Assignees", "res.users"),
		many2one("partner_id", "Customer", "res.partner"),
		html("description", "Description"),
		taskDeadline,
		selection("priority", "Priority", [2]string{"0", "Low"}, [2]string{"1", "High"}).def(constDefault("0")),
		selection("state", "State", [2]string{"01_in_progress", "In Progress"}, [2]string{"02_changes_requested", "Changes Requested"}, [2]string{"03_approved", "Approved"}, [2]string{"1_done", "Done"}, [2]string{"1_canceled", "Canceled"}, [2]string{"04_waiting_normal", "Waiting"}).def(constDefault("01_in_progress")).since(17),
		boolean("active", "Active").def(constDefault(true)))
}

func pad(n int64, w int) string {
	s := strconv.FormatInt(n, 10)
	for len(s) < w {
		s = "0" + s
	}
	return s
}

func (s *Server) partnerDisplay(r *record) string {
	m := s.models["res.partner"]
	name := m.str(r, "name")
	if p := m.m2o(r, "parent_id"); p != 0 && !m.boolv(r, "is_company") {
		if pr := m.get(p); pr != nil {
			return m.str(pr, "name") + ", " + name
		}
	}
	return name
}

func (s *Server) commercialPartner(r *record) any {
	m := s.models["res.partner"]
	cur := r
	for range 8 {
		p := m.m2o(cur, "parent_id")
		if p == 0 || m.boolv(cur, "is_company") {
			return cur.id
		}
		next := m.get(p)
		if next == nil {
			return cur.id
		}
		cur = next
	}
	return cur.id
}

func (s *Server) orderExpected(r *record) any {
	m := s.models["sale.order"]
	if v, ok := r.vals[m.byName["commitment_date"].idx].(string); ok {
		return v
	}
	if v, ok := r.vals[m.byName["date_order"].idx].(string); ok {
		return v
	}
	return nil
}

func (s *Server) activityResModel(r *record) any {
	m := s.models["mail.activity"]
	if im := s.models["ir.model"].get(m.m2o(r, "res_model_id")); im != nil {
		return s.models["ir.model"].str(im, "model")
	}
	return nil
}

func (s *Server) activityResName(r *record) any {
	m := s.models["mail.activity"]
	rm, _ := s.activityResModel(r).(string)
	target := s.models[rm]
	if target == nil {
		return nil
	}
	tr := target.get(m.m2o(r, "res_id"))
	if tr == nil {
		return nil
	}
	return s.displayName(target, tr)
}

func (s *Server) activityState(r *record) any {
	m := s.models["mail.activity"]
	if f := m.byName["active"]; f != nil {
		if a, _ := r.vals[f.idx].(bool); !a {
			return "done"
		}
	}
	d, _ := r.vals[m.byName["date_deadline"].idx].(string)
	today := s.now().UTC().Format("2006-01-02")
	switch {
	case d < today:
		return "overdue"
	case d == today:
		return "today"
	}
	return "planned"
}
