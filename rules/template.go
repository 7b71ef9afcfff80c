package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
)

// template is parameter text with {{ expression }} placeholders.
type template struct {
	parts []templatePart
}

type templatePart struct {
	text    string
	program *vm.Program // nil for literal text
}

type namedTemplate struct {
	name string
	tmpl *template
}

type compiledAction struct {
	typ    string
	params []namedTemplate // sorted by name
}

// compileTemplate splits src into literal text and placeholders and
// compiles each placeholder. Diagnostic positions refer to src.
func compileTemplate(p *profile, src string, lint bool) (*template, []Diagnostic, []Diagnostic) {
	if len(src) > MaxTemplateBytes {
		return nil, []Diagnostic{{Line: 1, Column: 1, Code: "too_long", Message: fmt.Sprintf("the template is longer than %d bytes", MaxTemplateBytes)}}, nil
	}
	t := &template{}
	var errs, warns []Diagnostic
	rest, offset := src, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, templatePart{text: rest})
			}
			break
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			line, col := lineCol(src, offset+i)
			errs = append(errs, Diagnostic{Line: line, Column: col, Code: "syntax", Message: "syntax error: {{ is not closed with }}"})
			break
		}
		inner := rest[i+2 : i+2+j]
		c := p.compile(strings.TrimSpace(inner), kindAny, lint)
		base := offset + i + 2 + (len(inner) - len(strings.TrimLeft(inner, " \t\n")))
		for _, d := range c.errors {
			d.Line, d.Column = shift(src, base, d.Line, d.Column)
			errs = append(errs, d)
		}
		for _, d := range c.warnings {
			d.Line, d.Column = shift(src, base, d.Line, d.Column)
			warns = append(warns, d)
		}
		t.parts = append(t.parts, templatePart{program: c.program})
		rest = rest[i+2+j+2:]
		offset += i + 2 + j + 2
	}
	return t, errs, warns
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(src string, off int) (int, int) {
	line, col := 1, 1
	for i, r := range src {
		if i >= off {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// shift moves a position inside a placeholder to a position in the
// template that starts at byte offset base.
func shift(src string, base, line, col int) (int, int) {
	bl, bc := lineCol(src, base)
	if line == 1 {
		return bl, bc + col - 1
	}
	return bl + line - 1, col
}

// render evaluates the template. Values format deterministically: times as
// RFC 3339 UTC, numbers in the shortest exact form, lists joined with ", ".
func (t *template) render(m *vm.VM, env *Env) (string, error) {
	if len(t.parts) == 1 && t.parts[0].program == nil {
		return t.parts[0].text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.program == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := m.Run(p.program, env)
		if err != nil {
			return "", err
		}
		b.WriteString(formatValue(v))
	}
	return b.String(), nil
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case *time.Time:
		if x == nil {
			return ""
		}
		return x.UTC().Format(time.RFC3339)
	case time.Duration:
		return Duration(x).String()
	case []string:
		return strings.Join(x, ", ")
	case fmt.Stringer:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
