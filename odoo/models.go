package odoo

import (
	"strings"
	"time"
)

// Typed views of the models the connector reads. Fields lists are what the
// mirror fetches; decoders fail on unexpected types (ErrProtocol).

// Picking is a stock.picking.
type Picking struct {
	ID              int64
	Name, Origin    string
	State           string
	ScheduledDate   *time.Time
	DateDeadline    *time.Time
	DateDone        *time.Time
	Partner         Many2One
	User            Many2One
	Sale            Many2One
	Carrier         Many2One
	TrackingRef     string // raw carrier_tracking_ref (may hold several, comma-separated)
	PickingTypeCode string
	WriteDate       *time.Time
}

// PickingFields are the stock.picking fields read.
var PickingFields = []string{"name", "origin", "state", "scheduled_date", "date_deadline", "date_done", "partner_id", "user_id",
	"sale_id", "carrier_id", "carrier_tracking_ref", "picking_type_code", "write_date"}

// DecodePicking reads a stock.picking record.
func DecodePicking(r Record) (Picking, error) {
	d := decoder{r: r, model: "stock.picking"}
	p := Picking{ID: r.ID(), Name: d.str("name"), Origin: d.str("origin"), State: d.str("state"),
		ScheduledDate: d.datetime("scheduled_date"), DateDeadline: d.datetime("date_deadline"), DateDone: d.datetime("date_done"),
		Partner: d.m2o("partner_id"), User: d.m2o("user_id"), Sale: d.m2o("sale_id"), Carrier: d.m2o("carrier_id"),
		TrackingRef: d.str("carrier_tracking_ref"), PickingTypeCode: d.str("picking_type_code"), WriteDate: d.datetime("write_date")}
	return p, d.err
}

// TrackingRefs splits carrier_tracking_ref into normalized numbers: Odoo's
// send_to_shipper appends further numbers with ",".
func TrackingRefs(raw string) []string {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		n := NormalizeTrackingRef(part)
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// NormalizeTrackingRef uppercases and drops spaces and dashes, so
// "1z 999-aa1" and "1Z999AA1" match.
func NormalizeTrackingRef(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(strings.TrimSpace(s)) {
		if r == ' ' || r == '-' || r == '\t' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SaleOrder is a sale.order.
type SaleOrder struct {
	ID                    int64
	Name, State           string
	ClientOrderRef        string
	Partner, ShippingAddr Many2One
	User, Team, Currency  Many2One
	AmountTotal           float64
	AmountUntaxed         float64
	CommitmentDate        *time.Time
	DateOrder             *time.Time
	WriteDate             *time.Time
}

// SaleOrderFields are the sale.order fields read.
var SaleOrderFields = []string{"name", "state", "client_order_ref", "partner_id", "partner_shipping_id", "user_id", "team_id",
	"currency_id", "amount_total", "amount_untaxed", "commitment_date", "date_order", "write_date"}

// DecodeSaleOrder reads a sale.order record.
func DecodeSaleOrder(r Record) (SaleOrder, error) {
	d := decoder{r: r, model: "sale.order"}
	o := SaleOrder{ID: r.ID(), Name: d.str("name"), State: d.str("state"), ClientOrderRef: d.str("client_order_ref"),
		Partner: d.m2o("partner_id"), ShippingAddr: d.m2o("partner_shipping_id"), User: d.m2o("user_id"), Team: d.m2o("team_id"),
		Currency: d.m2o("currency_id"), AmountTotal: d.float("amount_total"), AmountUntaxed: d.float("amount_untaxed"),
		CommitmentDate: d.datetime("commitment_date"), DateOrder: d.datetime("date_order"), WriteDate: d.datetime("write_date")}
	return o, d.err
}

// Partner is a res.partner.
type Partner struct {
	ID                 int64
	Name, DisplayName  string
	Email, Phone, Ref  string
	CountryCode        string
	IsCompany, Active  bool
	Parent, Commercial Many2One
	Salesperson        Many2One
	TagIDs             []int64
	WriteDate          *time.Time
}

// PartnerFields are the res.partner fields read.
var PartnerFields = []string{"name", "display_name", "email", "phone", "ref", "country_code", "is_company", "active", "parent_id",
	"commercial_partner_id", "user_id", "category_id", "write_date"}

// DecodePartner reads a res.partner record.
func DecodePartner(r Record) (Partner, error) {
	d := decoder{r: r, model: "res.partner"}
	p := Partner{ID: r.ID(), Name: d.str("name"), DisplayName: d.str("display_name"), Email: d.str("email"), Phone: d.str("phone"),
		Ref: d.str("ref"), CountryCode: d.str("country_code"), IsCompany: d.boolean("is_company"), Active: d.boolean("active"), Parent: d.m2o("parent_id"),
		Commercial: d.m2o("commercial_partner_id"), Salesperson: d.m2o("user_id"), TagIDs: d.ids("category_id"), WriteDate: d.datetime("write_date")}
	return p, d.err
}

// User is a res.users.
type User struct {
	ID                 int64
	Name, Login, Email string
	Partner            Many2One
	Active             bool
	WriteDate          *time.Time
}

// UserFields are the res.users fields read.
var UserFields = []string{"name", "login", "email", "partner_id", "active", "write_date"}

// DecodeUser reads a res.users record.
func DecodeUser(r Record) (User, error) {
	d := decoder{r: r, model: "res.users"}
	u := User{ID: r.ID(), Name: d.str("name"), Login: d.str("login"), Email: d.str("email"), Partner: d.m2o("partner_id"),
		Active: d.boolean("active"), WriteDate: d.datetime("write_date")}
	return u, d.err
}

// Team is a crm.team.
type Team struct {
	ID        int64
	Name      string
	Leader    Many2One
	MemberIDs []int64
	Active    bool
	WriteDate *time.Time
}

// TeamFields are the crm.team fields read.
var TeamFields = []string{"name", "user_id", "member_ids", "active", "write_date"}

// DecodeTeam reads a crm.team record.
func DecodeTeam(r Record) (Team, error) {
	d := decoder{r: r, model: "crm.team"}
	t := Team{ID: r.ID(), Name: d.str("name"), Leader: d.m2o("user_id"), MemberIDs: d.ids("member_ids"), Active: d.boolean("active"), WriteDate: d.datetime("write_date")}
	return t, d.err
}

// Tag is a res.partner.category (customer tiers are read from tags).
type Tag struct {
	ID        int64
	Name      string
	WriteDate *time.Time
}

// TagFields are the res.partner.category fields read.
var TagFields = []string{"name", "write_date"}

// DecodeTag reads a res.partner.category record.
func DecodeTag(r Record) (Tag, error) {
	d := decoder{r: r, model: "res.partner.category"}
	t := Tag{ID: r.ID(), Name: d.str("name"), WriteDate: d.datetime("write_date")}
	return t, d.err
}
