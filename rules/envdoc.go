package rules

import (
	"reflect"
	"sort"
	"time"
)

// FieldDoc describes one field of the rule environment.
type FieldDoc struct {
	// Name is the path as written in expressions; elements of lists are
	// shown as list[].field (inside any()/all() write .field).
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Doc      string   `json:"doc"`
	Example  string   `json:"example,omitempty"`
	Nullable bool     `json:"nullable,omitempty"`
	Values   []string `json:"values,omitempty"`
}

// EnvDoc describes everything a rule expression can use. It is generated
// from the Go types (Env and its `doc`, `example` and `enum` tags) and the
// function table, so the console's field reference cannot drift from the
// engine.
type EnvDoc struct {
	Fields     []FieldDoc  `json:"fields"`
	Functions  []*Function `json:"functions"`
	Builtins   []string    `json:"builtins"`
	Dimensions []string    `json:"index_dimensions"`
	Severities []Severity  `json:"severities"`
	Actions    []string    `json:"action_types"`
	Limits     EnvLimits   `json:"limits"`
	Engine     string      `json:"engine"`
}

// EnvLimits are the limits every expression runs under.
type EnvLimits struct {
	MaxSourceBytes int    `json:"max_source_bytes"`
	MaxNodes       int    `json:"max_nodes"`
	MemoryBudget   int    `json:"memory_budget"`
	Deadline       string `json:"deadline_per_event"`
	MaxRules       int    `json:"max_rules"`
	MaxBucket      int    `json:"max_rules_per_event_type"`
}

var enumValues = map[string]func() []string{
	"status":          Statuses,
	"reason":          Reasons,
	"reason_category": func() []string { return append([]string(nil), ReasonCategories...) },
	"reason_severity": func() []string { return []string{"info", "warning", "critical"} },
}

// DescribeEnv returns the environment description.
func DescribeEnv() *EnvDoc {
	d := &EnvDoc{
		Functions:  Functions(),
		Dimensions: append([]string(nil), IndexDimensions...),
		Severities: append([]Severity(nil), Severities...),
		Actions:    append([]string(nil), ActionTypes...),
		Engine:     EngineVersion,
		Limits: EnvLimits{
			MaxSourceBytes: MaxSourceBytes, MaxNodes: MaxNodes, MemoryBudget: MemoryBudget,
			Deadline: DefaultDeadline.String(), MaxRules: MaxRules, MaxBucket: MaxBucket,
		},
	}
	for n := range allowedBuiltins {
		d.Builtins = append(d.Builtins, n)
	}
	sort.Strings(d.Builtins)
	describeStruct(reflect.TypeOf(Env{}), "", &d.Fields)
	return d
}

var timeType = reflect.TypeOf(time.Time{})

func describeStruct(t reflect.Type, prefix string, out *[]FieldDoc) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("expr")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		fd := FieldDoc{Name: path, Type: typeName(f.Type), Doc: f.Tag.Get("doc"), Example: f.Tag.Get("example")}
		fd.Nullable = f.Type.Kind() == reflect.Pointer
		if e := f.Tag.Get("enum"); e != "" {
			if vals := enumValues[e]; vals != nil {
				fd.Values = vals()
			}
		}
		*out = append(*out, fd)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != timeType:
			describeStruct(ft, path+".", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			describeStruct(ft.Elem(), path+"[].", out)
		}
	}
}

// typeName names a Go type the way the console shows it.
func typeName(t reflect.Type) string {
	switch {
	case t == timeType:
		return "time"
	case t.Kind() == reflect.Pointer && t.Elem() == timeType:
		return "time or nil"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true/false"
	case reflect.Int, reflect.Int64:
		return "whole number"
	case reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "list of objects"
		}
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "attributes (values of any type)"
	case reflect.Struct:
		return "object"
	}
	return t.String()
}
