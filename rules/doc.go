// Package rules classifies canonical shipment events with rules that
// business analysts write as expr-lang expressions, deterministically.
//
// It exists because exception classification must be owned by analysts (not
// code releases) while staying explainable and replayable: the same event and
// the same published ruleset version always give the same, byte-identical
// evaluation record, which names the ruleset version, the rules that matched
// (with their versions), the primary rule, the suppressed categories and any
// rule errors.
//
// The pieces, from pure to stateful:
//
//   - Env (env.go): the typed environment a rule sees (event, shipment,
//     order, customer, now), built from intake types with derived fields.
//     It is always passed by pointer and never mutated while rules run.
//   - Functions (functions.go): deterministic helpers (hoursSince,
//     businessHoursBetween, inList, ...). now() and every builtin that is
//     not on the allow-list are disabled; time is UTC.
//   - Compile and lint (compile.go, lint.go): expr compilation against Env
//     with node and memory limits, and analyst-friendly diagnostics with
//     line and column.
//   - Rule and Ruleset (rule.go, ruleset.go): the rule model, its
//     validation, the compiled and indexed ruleset and its content hash.
//   - Engine (engine.go, record.go): evaluation of one event in priority
//     order with all matches recorded, suppression, the primary
//     classification, shadow rules, per-event deadline, and the record.
//   - Test cases, YAML, starter ruleset, backtest (testcase.go, yaml.go,
//     starter.go, backtest.go).
//   - Storage and lifecycle (store.go, service.go): drafts, immutable
//     published versions, four-eyes approval, rollback, hot switch across
//     processes, evaluation records, hit counts and backtest runs.
//
// See docs/rules.md for the user-facing description and the API.
package rules
