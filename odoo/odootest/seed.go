package odootest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Seed sizes the demo data. The same Seed always yields the same records.
type Seed struct {
	// Customers is the number of customer companies (each also gets a
	// delivery contact).
	Customers int
	// Salespeople is the number of sales users.
	Salespeople int
	// Orders and Pickings: every order gets one delivery; extra pickings
	// are backorders of random orders. Pickings < Orders leaves the newest
	// orders without a delivery.
	Orders, Pickings int
	// HistoryDays spreads create/write dates over that many days ending one
	// day before the server's clock at start (default 365).
	HistoryDays int
	// Random seeds the generator (0 means 1).
	Random uint64
}

// DefaultSeed is what New and odoo-sim serve unless told otherwise.
var DefaultSeed = Seed{Customers: 30, Salespeople: 5, Orders: 80, Pickings: 100}

// Demo names records of the seeded data that tests can rely on.
type Demo struct {
	// OrderID/OrderName: a confirmed order with an open (assigned)
	// delivery carrying one tracking number.
	OrderID     int64
	OrderName   string
	PickingID   int64
	PickingName string
	TrackingRef string
	// CustomerID is the order's customer; SalespersonID its salesperson.
	CustomerID    int64
	SalespersonID int64
	// MultiRefPickingID is a picking whose carrier_tracking_ref holds two
	// comma-separated numbers, MultiRefs.
	MultiRefPickingID int64
	MultiRefs         []string
	// ProjectID is the project.project tickets fall back to.
	ProjectID int64
}

// Demo returns the well-known seeded records.
func (s *Server) Demo() Demo { return s.demo }

var (
	firstNames = []string{"Marc", "Audrey", "Joel", "Beth", "Ernest", "Tina", "Randall", "Lorraine", "Ivan", "Sofia", "Kenji", "Amara", "Lucas", "Priya", "Nadia", "Oskar"}
	lastNames  = []string{"Demo", "Peterson", "Willis", "Evans", "Reed", "Williamson", "Lewis", "Douglas", "Brandt", "Moreau", "Tanaka", "Okafor", "Silva", "Raman", "Haddad", "Lindqvist"}
	companyA   = []string{"Azure", "Deco", "Gemini", "Ready", "Wood", "Lumber", "Nordic", "Atlas", "Harbor", "Summit", "Cedar", "Pioneer", "Vertex", "Coastal", "Granite", "Meridian"}
	companyB   = []string{"Interior", "Addict", "Furniture", "Mat", "Corner", "Supply", "Home", "Living", "Design", "Outfitters", "Works", "Trading", "Retail", "Goods", "Studio", "Depot"}
	cities     = []string{"Fremont", "Tracy", "Pleasanton", "Antwerp", "Lyon", "Rotterdam", "Chicago", "Austin", "Leeds", "Hamburg"}
	countries  = []string{"US", "US", "US", "BE", "FR", "NL", "US", "US", "GB", "DE"}
	teamNames  = []string{"Sales", "Website", "Key Accounts", "Europe", "Wholesale"}
)

const (
	tagStrategic = 1 + iota
	tagKey
	tagStandard
	tagVIP
	tagWholesale
)

func (s *Server) seed(sd Seed) error {
	if sd.Customers < 0 || sd.Salespeople < 0 || sd.Orders < 0 || sd.Pickings < 0 {
		return fmt.Errorf("odootest: negative seed size")
	}
	if sd.HistoryDays <= 0 {
		sd.HistoryDays = 365
	}
	if sd.Random == 0 {
		sd.Random = 1
	}
	rng := rand.New(rand.NewPCG(sd.Random, sd.Random^0x9e3779b97f4a7c15))
	m := s.models
	now := s.now().UTC().Truncate(time.Second)
	ts := func(t time.Time) string { return t.UTC().Format(dtLayout) }
	base := now.Add(-time.Duration(sd.HistoryDays) * 24 * time.Hour)
	old := ts(base.Add(-24 * time.Hour))

	// Base data, ids as in a fresh Odoo database where it matters.
	s.rawCreate(m["res.partner"], map[string]any{"name": "YourCompany", "is_company": true, "create_date": old})
	s.rawCreate(m["res.partner"], map[string]any{"name": "OdooBot", "create_date": old})
	s.rawCreate(m["res.partner"], map[string]any{"name": "Mitchell Admin", "email": "admin@yourcompany.example.com", "create_date": old})
	s.rawCreate(m["res.users"], map[string]any{"name": "OdooBot", "login": "__system__", "partner_id": int64(2), "active": false, "create_date": old})
	s.rawCreate(m["res.users"], map[string]any{"name": "Mitchell Admin", "login": s.opts.Login, "partner_id": int64(3), "email": "admin@yourcompany.example.com", "tz": "Europe/Brussels", "create_date": old})
	for _, c := range [][2]string{{"EUR", "€"}, {"USD", "$"}} {
		s.rawCreate(m["res.currency"], map[string]any{"name": c[0], "symbol": c[1], "create_date": old})
	}
	for _, t := range []string{"Tier: Strategic", "Tier: Key", "Tier: Standard", "VIP", "Wholesale"} {
		s.rawCreate(m["res.partner.category"], map[string]any{"name": t, "create_date": old})
	}
	for i, c := range []string{"UPS", "FedEx", "DHL Express", "USPS"} {
		s.rawCreate(m["delivery.carrier"], map[string]any{"name": c, "sequence": int64(i + 1), "create_date": old})
	}
	for i, st := range []struct {
		name     string
		internal bool
	}{{"Discussions", false}, {"Note", true}, {"Activities", true}} {
		s.rawCreate(m["mail.message.subtype"], map[string]any{"name": st.name, "internal": st.internal, "sequence": int64(i), "create_date": old})
	}
	actTypes := []struct{ xmlid, name, deco string }{
		{"mail_activity_data_email", "Email", ""}, {"mail_activity_data_call", "Call", ""}, {"mail_activity_data_meeting", "Meeting", ""},
		{"mail_activity_data_todo", "To-Do", ""}, {"mail_activity_data_upload_document", "Upload Document", ""}, {"mail_activity_data_warning", "Exception", "warning"},
	}
	for i, t := range actTypes {
		vals := map[string]any{"name": t.name, "sequence": int64(i), "create_date": old}
		if t.deco != "" {
			vals["decoration_type"] = t.deco
		}
		s.rawCreate(m["mail.activity.type"], vals)
	}
	for _, name := range s.modelOrder {
		if strings.HasPrefix(name, "helpdesk.") {
			continue
		}
		s.rawCreate(m["ir.model"], map[string]any{"model": name, "name": m[name].desc, "create_date": old})
	}
	xmlids := []struct {
		module, name, model string
		id                  int64
	}{
		{"base", "main_partner", "res.partner", 1}, {"base", "partner_root", "res.partner", 2}, {"base", "partner_admin", "res.partner", 3},
		{"base", "user_root", "res.users", 1}, {"base", "user_admin", "res.users", 2},
		{"base", "EUR", "res.currency", 1}, {"base", "USD", "res.currency", 2},
		{"mail", "mt_comment", "mail.message.subtype", 1}, {"mail", "mt_note", "mail.message.subtype", 2}, {"mail", "mt_activities", "mail.message.subtype", 3},
	}
	for i, t := range actTypes {
		xmlids = append(xmlids, struct {
			module, name, model string
			id                  int64
		}{"mail", t.xmlid, "mail.activity.type", int64(i + 1)})
	}
	for _, x := range xmlids {
		s.rawCreate(m["ir.model.data"], map[string]any{"module": x.module, "name": x.name, "model": x.model, "res_id": x.id, "noupdate": true, "create_date": old})
	}
	s.rawCreate(m["project.project"], map[string]any{"name": "Customer Care", "sequence": int64(1), "create_date": old})
	s.rawCreate(m["project.project"], map[string]any{"name": "Logistics Exceptions", "sequence": int64(2), "create_date": old})
	s.demo.ProjectID = 2

	// Sales organisation.
	var sales []int64
	for i := range sd.Salespeople {
		name := firstNames[i%len(firstNames)] + " " + lastNames[(i*7+3)%len(lastNames)]
		if i >= len(firstNames) {
			name += fmt.Sprintf(" %d", i/len(firstNames)+1)
		}
		login := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@yourcompany.example.com"
		p := s.rawCreate(m["res.partner"], map[string]any{"name": name, "email": login, "create_date": old})
		u := s.rawCreate(m["res.users"], map[string]any{"name": name, "login": login, "email": login, "partner_id": p.id, "tz": "Europe/Brussels", "create_date": old})
		sales = append(sales, u.id)
	}
	nteams := 0
	if len(sales) > 0 {
		nteams = min(len(teamNames), max(1, (len(sales)+1)/2))
	}
	teamOf := map[int64]int64{}
	for t := range nteams {
		var members []int64
		for i, u := range sales {
			if i%nteams == t {
				members = append(members, u)
			}
		}
		team := s.rawCreate(m["crm.team"], map[string]any{"name": teamNames[t], "sequence": int64(t + 1), "user_id": members[0], "member_ids": members, "create_date": old})
		for _, u := range members {
			teamOf[u] = team.id
			s.models["res.users"].recs[u].vals[m["res.users"].byName["sale_team_id"].idx] = team.id
		}
	}

	// Customers: a company and a delivery contact each.
	type customer struct{ company, contact, salesperson int64 }
	customers := make([]customer, 0, sd.Customers)
	span := now.Sub(base) - 24*time.Hour
	for i := range sd.Customers {
		name := companyA[i%len(companyA)] + " " + companyB[(i/len(companyA)+i*5)%len(companyB)]
		if i >= len(companyA)*len(companyB) {
			name += fmt.Sprintf(" %d", i)
		}
		tier := int64(tagStandard)
		switch r := rng.IntN(10); {
		case r == 0:
			tier = tagStrategic
		case r < 4:
			tier = tagKey
		}
		tags := []int64{tier}
		if rng.IntN(6) == 0 {
			tags = append(tags, tagVIP)
		}
		if rng.IntN(5) == 0 {
			tags = append(tags, tagWholesale)
		}
		var sp int64
		if len(sales) > 0 {
			sp = sales[rng.IntN(len(sales))]
		}
		at := ts(base.Add(time.Duration(float64(span) * float64(i) / float64(max(1, sd.Customers)) / 10)))
		slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
		city := rng.IntN(len(cities))
		co := s.rawCreate(m["res.partner"], map[string]any{
			"name": name, "is_company": true, "email": "info@" + slug + ".example.com",
			"phone": fmt.Sprintf("+1 555-%03d-%04d", rng.IntN(1000), rng.IntN(10000)), "ref": fmt.Sprintf("C%05d", i+1),
			"city": cities[city], "country_code": countries[city], "category_id": tags, "user_id": sp, "customer_rank": int64(1 + rng.IntN(20)),
			"create_date": at,
		})
		person := firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
		ct := s.rawCreate(m["res.partner"], map[string]any{
			"name": person, "parent_id": co.id, "email": strings.ToLower(strings.Fields(person)[0]) + "@" + slug + ".example.com",
			"city": s.models["res.partner"].str(co, "city"), "country_code": countries[city], "create_date": at,
		})
		customers = append(customers, customer{co.id, ct.id, sp})
	}
	if sd.Orders > 0 && len(customers) == 0 {
		return fmt.Errorf("odootest: seeding orders needs at least one customer")
	}

	// Orders and their deliveries, spread over the history window.
	orders := m["sale.order"]
	type orderInfo struct {
		id, partner, shipping, salesperson int64
		at                                 time.Time
		commitment                         any
		state                              string
	}
	infos := make([]orderInfo, 0, sd.Orders)
	for i := range sd.Orders {
		c := customers[rng.IntN(len(customers))]
		at := base.Add(time.Duration(float64(span) * float64(i) / float64(max(1, sd.Orders))))
		untaxed := math.Round((50+rng.Float64()*25000)*100) / 100
		cur := int64(2)
		if rng.IntN(10) == 0 {
			cur = 1
		}
		state := "sale"
		switch r := rng.IntN(40); {
		case r == 0:
			state = "cancel"
		case r < 3:
			state = "draft"
		}
		var commitment any
		if rng.IntN(10) < 7 {
			commitment = ts(at.Add(time.Duration(3+rng.IntN(12)) * 24 * time.Hour).Truncate(time.Hour))
		}
		vals := map[string]any{
			"name": "S" + pad(orders.nextID, 5), "state": state, "date_order": ts(at), "commitment_date": commitment,
			"partner_id": c.company, "partner_shipping_id": c.contact, "user_id": c.salesperson, "team_id": teamOf[c.salesperson],
			"amount_untaxed": untaxed, "amount_total": math.Round(untaxed*120) / 100, "currency_id": cur,
			"delivery_status": "pending", "create_date": ts(at), "write_date": ts(at),
		}
		if orders.byName["locked"] != nil {
			vals["locked"] = false
		}
		if rng.IntN(10) < 6 {
			vals["client_order_ref"] = fmt.Sprintf("PO-%06d", 100000+rng.IntN(900000))
		}
		if commitment == nil {
			delete(vals, "commitment_date")
		}
		o := s.rawCreate(orders, vals)
		infos = append(infos, orderInfo{o.id, c.company, c.contact, c.salesperson, at, commitment, state})
	}
	pickings := m["stock.picking"]
	for i := range sd.Pickings {
		var oi *orderInfo
		switch {
		case i < len(infos):
			oi = &infos[i]
		case len(infos) > 0 && rng.IntN(10) < 9:
			oi = &infos[rng.IntN(len(infos))]
		}
		vals := map[string]any{"name": "WH/OUT/" + pad(pickings.nextID, 5), "picking_type_code": "outgoing", "priority": "0"}
		var at time.Time
		state := "assigned"
		if oi != nil {
			at = oi.at.Add(time.Duration(1+rng.IntN(120)) * time.Minute)
			vals["origin"] = orders.str(orders.get(oi.id), "name")
			vals["sale_id"] = oi.id
			vals["partner_id"] = oi.shipping
			vals["user_id"] = oi.salesperson
			vals["scheduled_date"] = ts(oi.at.Add(time.Duration(1+rng.IntN(5)) * 24 * time.Hour).Truncate(time.Hour))
			if oi.commitment != nil {
				vals["date_deadline"] = oi.commitment
			}
			switch {
			case oi.state == "cancel":
				state = "cancel"
			case oi.state == "draft":
				state = "draft"
			default:
				switch r := rng.IntN(20); {
				case r < 10:
					state = "done"
				case r < 16:
					state = "assigned"
				case r < 18:
					state = "confirmed"
				default:
					state = "waiting"
				}
			}
		} else {
			at = base.Add(time.Duration(float64(span) * float64(i) / float64(max(1, sd.Pickings))))
			vals["picking_type_code"] = "internal"
			vals["name"] = "WH/INT/" + pad(pickings.nextID, 5)
			vals["scheduled_date"] = ts(at.Add(24 * time.Hour).Truncate(time.Hour))
		}
		vals["state"] = state
		if state == "done" {
			vals["date_done"] = ts(at.Add(time.Duration(24+rng.IntN(96)) * time.Hour))
		}
		if at.After(now.Add(-24 * time.Hour)) {
			at = now.Add(-24 * time.Hour)
		}
		vals["create_date"], vals["write_date"] = ts(at), ts(at)
		if oi != nil && (state == "assigned" || state == "done") {
			carrier := int64(1 + rng.IntN(4))
			vals["carrier_id"] = carrier
			ref := trackingRef(rng, carrier)
			if rng.IntN(10) == 0 {
				ref += "," + trackingRef(rng, carrier)
			}
			vals["carrier_tracking_ref"] = ref
		}
		if rng.IntN(30) == 0 {
			vals["priority"] = "1"
		}
		p := s.rawCreate(pickings, vals)
		ref, _ := vals["carrier_tracking_ref"].(string)
		if oi != nil && s.demo.OrderID == 0 && oi.state == "sale" && state == "assigned" && ref != "" && !strings.Contains(ref, ",") && oi.commitment != nil {
			s.demo.OrderID, s.demo.OrderName = oi.id, vals["origin"].(string)
			s.demo.PickingID, s.demo.PickingName, s.demo.TrackingRef = p.id, vals["name"].(string), ref
			s.demo.CustomerID, s.demo.SalespersonID = oi.partner, oi.salesperson
		}
		if s.demo.MultiRefPickingID == 0 && strings.Contains(ref, ",") {
			s.demo.MultiRefPickingID, s.demo.MultiRefs = p.id, strings.Split(ref, ",")
		}
	}
	return nil
}

// trackingRef makes a carrier-shaped tracking number.
func trackingRef(rng *rand.Rand, carrier int64) string {
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	switch carrier {
	case 1: // UPS 1Z + shipper + service + package
		const alnum = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
		var b strings.Builder
		b.WriteString("1Z")
		for range 6 {
			b.WriteByte(alnum[rng.IntN(len(alnum))])
		}
		b.WriteString("03")
		b.WriteString(digits(8))
		return b.String()
	case 2: // FedEx
		return digits(12)
	case 3: // DHL Express
		return digits(10)
	default: // USPS
		return "9400" + digits(18)
	}
}
