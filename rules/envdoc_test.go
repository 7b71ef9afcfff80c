package rules

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every field and function is documented, examples compile, and the
// description matches the committed golden file (the console's field
// reference).
func TestDescribeEnv(t *testing.T) {
	d := DescribeEnv()
	names := map[string]bool{}
	for _, f := range d.Fields {
		if f.Doc == "" {
			t.Errorf("field %s has no doc tag", f.Name)
		}
		if names[f.Name] {
			t.Errorf("field %s listed twice", f.Name)
		}
		names[f.Name] = true
		if f.Example != "" {
			if res := ValidateCondition(f.Example, nil, map[string][]string{"vip_customers": {"x"}}); !res.OK || len(res.Warnings) > 0 {
				t.Errorf("example of %s: errors %v warnings %v", f.Name, res.Errors, res.Warnings)
			}
		}
	}
	for _, want := range []string{"event.status", "shipment.dwellHours", "shipment.openExceptions[].hoursOpen", "order.amount", "customer.tier", "now"} {
		if !names[want] {
			t.Errorf("field %s missing", want)
		}
	}
	for _, f := range d.Functions {
		if f.Doc == "" || f.Example == "" || f.Signature == "" {
			t.Errorf("function %s is not fully documented", f.Name)
		}
		if res := ValidateCondition(f.Example, nil, map[string][]string{"vip_customers": {"x"}}); !res.OK || len(res.Warnings) > 0 {
			t.Errorf("example of %s: errors %v warnings %v", f.Name, res.Errors, res.Warnings)
		}
	}
	for _, f := range d.Fields {
		if f.Name == "event.status" && (len(f.Values) != 12 || f.Values[0] != "pending") {
			t.Errorf("event.status values = %v", f.Values)
		}
		if strings.HasSuffix(f.Name, "Delivery") && strings.HasPrefix(f.Name, "shipment.") && !f.Nullable {
			t.Errorf("%s should be nullable", f.Name)
		}
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "env.golden.json", append(b, '\n'))
}
