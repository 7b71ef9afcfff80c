package rules

import (
	_ "embed"
	"fmt"
)

//go:embed starter.yaml
var starterYAML []byte

// StarterYAML returns the starter ruleset file (canonical-events.md §6.6
// plus one rule per exception category), installed on first start.
func StarterYAML() []byte { return append([]byte(nil), starterYAML...) }

// Starter returns the parsed starter ruleset.
func Starter() (*Ruleset, error) {
	rs, err := ParseYAML(starterYAML)
	if err != nil {
		return nil, fmt.Errorf("starter ruleset: %w", err)
	}
	return rs, nil
}
