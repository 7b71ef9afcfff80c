package eta

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

const miniMapping = `
name: mini
id: id
promised: promised
actual: delivered
date_formats: ["2-Jan-06"]
categorical: [mode, country]
numeric: [value]
lead_from: [po]
lead_formats: ["1/2/06"]
group: order
group_item: country
baseline: [mode]
missing: ["", "N/A"]
`

func TestLoadHistoryLineEndsAndBOM(t *testing.T) {
	m, err := ParseMapping([]byte(miniMapping))
	if err != nil {
		t.Fatal(err)
	}
	body := "id,promised,delivered,mode,country,value,po,order\n" +
		"1,2-Jun-06,3-Jun-06,Air,\"Côte d'Ivoire\",\"1,200\",5/30/06,A\n" +
		"2,2-Jun-06,2-Jun-06,N/A,KE,n/a,Date Not Captured,A\n" +
		"3,10-Jan-13,1-Jan-13,Truck,KE,7,,\n"
	for name, in := range map[string]string{
		"LF":       body,
		"CRLF":     strings.ReplaceAll(body, "\n", "\r\n"),
		"CR":       strings.ReplaceAll(body, "\n", "\r"),
		"BOM + CR": "\ufeff" + strings.ReplaceAll(body, "\n", "\r"),
	} {
		t.Run(name, func(t *testing.T) {
			h, err := LoadHistory(strings.NewReader(in), m)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Records) != 3 {
				t.Fatalf("%d records", len(h.Records))
			}
			r0, r1, r2 := h.Records[0], h.Records[1], h.Records[2]
			if !r0.Late() || r1.Late() || r2.Late() {
				t.Fatalf("labels %v %v %v", r0.Late(), r1.Late(), r2.Late())
			}
			if r0.Cat[1] != "Côte d'Ivoire" || r1.Cat[0] != "" {
				t.Fatalf("cats %q %q", r0.Cat, r1.Cat)
			}
			if r0.Num[0] != 1200 || !math.IsNaN(r1.Num[0]) {
				t.Fatalf("value %v %v", r0.Num[0], r1.Num[0])
			}
			if r0.Num[1] != 3 || !math.IsNaN(r1.Num[1]) {
				t.Fatalf("lead days %v %v", r0.Num[1], r1.Num[1])
			}
			if r0.Num[2] != 2 || !math.IsNaN(r2.Num[2]) {
				t.Fatalf("order items %v %v", r0.Num[2], r2.Num[2])
			}
			if !r2.Promised.Equal(time.Date(2013, 1, 10, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("promised %v", r2.Promised)
			}
		})
	}
}

func TestLoadHistoryErrors(t *testing.T) {
	m, _ := ParseMapping([]byte(miniMapping))
	hdr := "id,promised,delivered,mode,country,value,po,order\n"
	tests := []struct{ name, in, want string }{
		{"empty", "", "empty file"},
		{"no rows", hdr, "no data rows"},
		{"missing column", "id,promised,delivered\n1,2-Jun-06,2-Jun-06\n", `"mode", "country"`},
		{"duplicate header", "id,id,promised,delivered,mode,country,value,po,order\n", "duplicate column"},
		{"bad date", hdr + "1,2006-06-02,3-Jun-06,Air,KE,1,,A\n", `line 2 column "promised"`},
		{"empty actual", hdr + "1,2-Jun-06,,Air,KE,1,,A\n", `line 2 column "delivered"`},
		{"short row", hdr + "1,2-Jun-06\n", "wrong number of fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadHistory(strings.NewReader(tc.in), m)
			if !errors.Is(err, ErrInvalidData) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalidData containing %q", err, tc.want)
			}
		})
	}
}

func TestParseMappingErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "empty document"},
		{"unknown key", miniMapping + "\nextra: 1\n", "field extra not found"},
		{"no promised", "actual: a\ndate_formats: [2006]\ncategorical: [x]\nbaseline: [x]\n", "promised: required"},
		{"same columns", "promised: a\nactual: a\ndate_formats: [2006]\ncategorical: [x]\nbaseline: [x]\n", "different columns"},
		{"bad layout", "promised: a\nactual: b\ndate_formats: [yyyy]\ncategorical: [x]\nbaseline: [x]\n", "not a Go time layout"},
		{"label as feature", "promised: a\nactual: b\ndate_formats: [2006]\ncategorical: [b]\nbaseline: [b]\n", "cannot be a feature"},
		{"baseline not categorical", "promised: a\nactual: b\ndate_formats: [2006]\ncategorical: [x]\nbaseline: [y]\n", "not a categorical column"},
		{"interaction of one", "promised: a\nactual: b\ndate_formats: [2006]\ncategorical: [x]\ninteractions: [[x]]\nbaseline: [x]\n", "at least two"},
		{"twice", "promised: a\nactual: b\ndate_formats: [2006]\ncategorical: [x]\nnumeric: [x]\nbaseline: [x]\n", "already used"},
		{"stratify not categorical", "promised: a\nactual: b\ndate_formats: [2006]\ncategorical: [x]\nstratify: y\nbaseline: [x]\n", "stratify"},
		{"group_sum without group", "promised: a\nactual: b\ndate_formats: [2006]\ncategorical: [x]\ngroup_sum: [q]\nbaseline: [x]\n", "need group"},
		{"group_sum twice", "promised: a\nactual: b\ndate_formats: [2006]\ncategorical: [x]\nnumeric: [q]\ngroup: o\ngroup_sum: [q]\nbaseline: [x]\n", "already used"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMapping([]byte(tc.in))
			if !errors.Is(err, ErrInvalidMapping) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalidMapping containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadMapping("scms"); err != nil {
		t.Fatalf("scms preset: %v", err)
	}
	if _, err := LoadMapping("no-such-preset-or-file"); err == nil {
		t.Fatal("unknown mapping accepted")
	}
}

// TestSCMSFile loads the real SCMS file through the preset and checks the
// figures the dataset notes state (10,324 rows, 1,186 late).
func TestSCMSFile(t *testing.T) {
	f, err := os.Open("../../../shared/data/SCMS_Delivery_History_Dataset.csv")
	if err != nil {
		t.Skipf("shared data not present: %v", err)
	}
	defer f.Close()
	m, _ := LoadMapping("scms")
	h, err := LoadHistory(f, m)
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for i := range h.Records {
		if h.Records[i].Late() {
			late++
		}
	}
	if len(h.Records) != 10324 || late != 1186 {
		t.Fatalf("%d rows, %d late; want 10324 and 1186", len(h.Records), late)
	}
}
