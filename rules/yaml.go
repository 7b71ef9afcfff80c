package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// FileFormat names the YAML format of rules kept in git.
const FileFormat = "yardmaster.rules/v1"

// MaxFileBytes bounds a YAML ruleset file.
const MaxFileBytes = 16 << 20

// file is the YAML document: a format marker, reference lists and rules.
type yamlFile struct {
	Format string              `yaml:"format"`
	Lists  map[string][]string `yaml:"lists,omitempty"`
	Rules  []Rule              `yaml:"rules"`
}

// MarshalYAML writes rs as a YAML document (normalized: rules in priority
// order, list values sorted). Rule versions are not written: they belong
// to the server's history, not to the file.
func MarshalYAML(rs *Ruleset) ([]byte, error) {
	n := rs.Clone()
	n.Normalize()
	var b bytes.Buffer
	b.WriteString("# Yardmaster ruleset. Import with `yardmaster rules import FILE`; test with `yardmaster rules test FILE`.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(yamlFile{Format: FileFormat, Lists: n.Lists, Rules: n.Rules}); err != nil {
		return nil, fmt.Errorf("encode ruleset yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode ruleset yaml: %w", err)
	}
	return b.Bytes(), nil
}

// ErrFormat is wrapped by ParseYAML errors about the document itself.
var ErrFormat = errors.New("invalid ruleset file")

// ParseYAML reads a YAML ruleset strictly: unknown fields, a missing or
// different format marker and more than one document are errors. It does
// not validate the rules; Compile does.
func ParseYAML(b []byte) (*Ruleset, error) {
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes is more than the %d byte limit", ErrFormat, len(b), MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f yamlFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", ErrFormat)
		}
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: expected one YAML document", ErrFormat)
	}
	if f.Format != FileFormat {
		return nil, fmt.Errorf("%w: format is %q, expected %q", ErrFormat, f.Format, FileFormat)
	}
	return &Ruleset{Lists: f.Lists, Rules: f.Rules}, nil
}
