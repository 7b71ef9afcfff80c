package config

import (
	"fmt"
	"strings"
)

// Reference renders the configuration reference as a Markdown table; the
// README's table is this output.
func Reference() string {
	var b strings.Builder
	b.WriteString("| Variable | Type | Default | Description |\n|---|---|---|---|\n")
	for _, f := range Fields() {
		def := f.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		doc := f.Doc
		if f.Example != "" {
			doc += " Example: `" + f.Example + "`."
		}
		if f.Secret {
			doc += " Secret: never logged."
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Env, f.Type, def, strings.ReplaceAll(doc, "|", "\\|"))
	}
	return b.String()
}
