package odoo

// Domain is an Odoo search domain: leaves [field, operator, value] and the
// prefix operators "&", "|", "!" (top-level terms are ANDed).
type Domain []any

// Where is a one-leaf domain: Where("state", "not in", []string{"done"}).
func Where(field, op string, value any) Domain { return Domain{[]any{field, op, value}} }

// And concatenates domains (Odoo's implicit AND).
func (d Domain) And(others ...Domain) Domain {
	out := append(Domain{}, d...)
	for _, o := range others {
		out = append(out, o...)
	}
	return out
}

// Or is a OR b (each domain is first made a single expression).
func Or(a, b Domain) Domain {
	return append(append(Domain{"|"}, a.expr()...), b.expr()...)
}

// Not negates a domain.
func Not(d Domain) Domain { return append(Domain{"!"}, d.expr()...) }

// expr turns an implicit-AND list of n terms into one expression by
// prefixing n-1 "&".
func (d Domain) expr() Domain {
	n := d.terms()
	if n <= 1 {
		if len(d) == 0 {
			return Domain{[]any{1, "=", 1}}
		}
		return d
	}
	out := make(Domain, 0, len(d)+n-1)
	for range n - 1 {
		out = append(out, "&")
	}
	return append(out, d...)
}

// terms counts the top-level expressions of a Polish-notation domain.
func (d Domain) terms() int {
	n, need := 0, 0
	for _, it := range d {
		if need == 0 {
			n++
			need = 1
		}
		switch it {
		case "&", "|":
			need++ // consumes two, is one
		case "!":
			// consumes one, is one
		default:
			need--
		}
	}
	return n
}
