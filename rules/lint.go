package rules

import (
	"reflect"
	"regexp"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// riskyOps fail at run time (or silently misbehave) when an operand is nil.
var riskyOps = map[string]bool{
	"<": true, ">": true, "<=": true, ">=": true, "+": true, "-": true, "*": true, "/": true, "%": true,
	"**": true, "^": true, "contains": true, "startsWith": true, "endsWith": true, "matches": true, "..": true,
}

// nullable reports whether n can evaluate to nil: pointer-typed fields
// (optional times), values of free-form maps (attributes) and ?. chains.
func nullable(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.NilNode:
		return false // nil literals are intended
	case *ast.MemberNode:
		if n.Optional {
			return true
		}
	case *ast.ChainNode:
		return true
	}
	t := n.Type()
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer:
		return true
	case reflect.Interface:
		// An unknown-typed value read from a map or a field.
		_, member := n.(*ast.MemberNode)
		return member
	}
	return false
}

func canBeNil(t reflect.Type) bool {
	if t == nil {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return true
	}
	return false
}

func isZeroLiteral(n ast.Node) (lit, zero bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return true, n.Value == 0
	case *ast.FloatNode:
		return true, n.Value == 0
	}
	return false, false
}

var reHasOffset = regexp.MustCompile(`(?i)(z|[+-]\d\d:?\d\d|\butc|\bgmt)\s*$`)

// lintTree returns warnings for a type-checked (patched, not yet
// optimized) tree: float division, nil traps, nil comparisons that can
// never be true, float equality and dates without a zone.
func lintTree(tree *parser.Tree, kind exprKind) []Diagnostic {
	src := tree.Source.String()
	var warns []Diagnostic
	guarded := map[string]bool{}
	positive := map[string]bool{}
	walk(tree.Node, func(n ast.Node) {
		b, ok := n.(*ast.BinaryNode)
		if !ok {
			return
		}
		switch b.Operator {
		case "==", "!=":
			if _, ok := b.Right.(*ast.NilNode); ok {
				guarded[b.Left.String()] = true
			}
			if _, ok := b.Left.(*ast.NilNode); ok {
				guarded[b.Right.String()] = true
			}
			if lit, zero := isZeroLiteral(b.Right); lit && zero && b.Operator == "!=" {
				positive[b.Left.String()] = true
			}
		case ">", ">=":
			if lit, _ := isZeroLiteral(b.Right); lit {
				positive[b.Left.String()] = true
			}
		case "<", "<=":
			if lit, _ := isZeroLiteral(b.Left); lit {
				positive[b.Right.String()] = true
			}
		case "??":
			guarded[b.Left.String()] = true
		}
	})
	seen := map[string]bool{}
	nilTrap := func(n ast.Node, what string) {
		if !nullable(n) || guarded[n.String()] {
			return
		}
		key := n.String() + "@" + what
		if seen[key] {
			return
		}
		seen[key] = true
		warns = append(warns, diagAt(src, n, "nil_trap",
			"%s can be nil (missing); %s fails the rule at run time when it is. Guard it: `%s != nil && ...`, or give a default with `??`",
			n.String(), what, n.String()))
	}
	walk(tree.Node, func(n ast.Node) {
		switch n := n.(type) {
		case *ast.BinaryNode:
			if riskyOps[n.Operator] {
				nilTrap(n.Left, "using it with "+n.Operator)
				nilTrap(n.Right, "using it with "+n.Operator)
			}
			switch n.Operator {
			case "/":
				lit, zero := isZeroLiteral(n.Right)
				switch {
				case lit && zero:
					warns = append(warns, diagAt(src, n.Right, "float_division", "division by zero gives +Inf (infinity), not an error"))
				case !lit && !positive[n.Right.String()]:
					warns = append(warns, diagAt(src, n, "float_division",
						"`/` always gives a decimal number, and dividing by zero gives +Inf instead of an error, so `x / 0 > 10` is true: make sure %s cannot be 0, e.g. `%s > 0 && ...`",
						n.Right.String(), n.Right.String()))
				}
			case "==", "!=":
				_, lnil := n.Left.(*ast.NilNode)
				_, rnil := n.Right.(*ast.NilNode)
				switch {
				case lnil && !rnil && !canBeNil(n.Right.Type()):
					warns = append(warns, neverNil(src, n.Right, n.Operator))
				case rnil && !lnil && !canBeNil(n.Left.Type()):
					warns = append(warns, neverNil(src, n.Left, n.Operator))
				case !lnil && !rnil && (isFloat(n.Left) || isFloat(n.Right)):
					_, lc := n.Left.(*ast.FloatNode)
					_, rc := n.Right.(*ast.FloatNode)
					if !(lc && rc) {
						warns = append(warns, diagAt(src, n, "float_equality",
							"comparing decimal numbers with %s is fragile (0.1 + 0.2 != 0.3); compare a range instead, e.g. `x >= 47.5`", n.Operator))
					}
				}
			}
		case *ast.CallNode:
			for _, a := range n.Arguments {
				nilTrap(a, "passing it to "+n.Callee.String())
			}
		case *ast.BuiltinNode:
			args := n.Arguments
			if n.Name == "date" || n.Name == "now" {
				if len(args) > 0 {
					if c, ok := args[0].(*ast.ConstantNode); ok {
						if _, ok := c.Value.(*time.Location); ok {
							args = args[1:] // added by the UTC patch
						}
					}
				}
				if n.Name == "date" && len(args) >= 1 && len(args) < 3 {
					if s, ok := args[0].(*ast.StringNode); ok && !reHasOffset.MatchString(s.Value) {
						warns = append(warns, diagAt(src, s, "unanchored_time",
							"date(%q) has no time zone and is read as UTC; name the zone if you mean local time, e.g. date(%q, \"2006-01-02\", \"Europe/Berlin\")",
							s.Value, s.Value))
					}
				}
			}
			for _, a := range args {
				nilTrap(a, "passing it to "+n.Name+"()")
			}
		case *ast.MemberNode:
			if !n.Optional {
				if inner := n.Node; nullable(inner) && !guarded[inner.String()] {
					nilTrap(inner, "reading ."+n.Property.String()+" from it")
				}
			}
		}
	})
	return warns
}

func isFloat(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.Kind() == reflect.Float64
}

func neverNil(src string, n ast.Node, op string) Diagnostic {
	always := "false"
	if op == "!=" {
		always = "true"
	}
	return diagAt(src, n, "never_nil",
		"%s is never nil (missing text is \"\", missing numbers are 0, missing flags are false), so this comparison is always %s",
		n.String(), always)
}

// constantWarnings flags conditions that read nothing from the
// environment (after constant folding), so they always give one answer.
func constantWarnings(n ast.Node, prog *vm.Program) []Diagnostic {
	reads := false
	walk(n, func(n ast.Node) {
		switch n.(type) {
		case *ast.IdentifierNode, *ast.PointerNode:
			reads = true
		}
	})
	if reads {
		return nil
	}
	m := vm.VM{MemoryBudget: MemoryBudget}
	out, err := m.Run(prog, &Env{})
	b, ok := out.(bool)
	if err != nil || !ok {
		return nil
	}
	word := "false: the rule can never match"
	if b {
		word = "true: the rule matches every event it sees"
	}
	return []Diagnostic{{Line: 1, Column: 1, Code: "constant_condition", Message: "the condition is always " + word}}
}
