// Package ai turns the facts of a triage case into a short, grounded summary:
// what happened, the likely cause (a canonical reason code), one recommended
// next step and a draft message for the customer.
//
// It exists so that the rest of Yardmaster can ask for "a summary of this
// case" without knowing whether a language model is configured, reachable,
// within budget or well behaved. Summarizer.Summarize always returns a usable
// Summary for valid facts: from an OpenAI-compatible endpoint when one is
// configured and answers with a valid, schema-conforming JSON document, and
// otherwise from a deterministic builder over the same facts, labelled
// GeneratedBy "deterministic".
//
// Guarantees the package keeps:
//
//   - Personal data never leaves the process. Names from known contact fields,
//     e-mail addresses, phone numbers and street addresses are replaced by
//     stable placeholders ([CUSTOMER], [EMAIL_1], ...) before a prompt is built;
//     the placeholders are put back only in the answer kept locally.
//   - The model's recommended next step is a proposal. The package returns it
//     as data (ProposedAction); triage stores it as an action that a person must
//     approve. Nothing here writes to Odoo or changes a case.
//   - Answers are validated against a hand-written JSON schema with length
//     bounds (schema.json) and then against the facts (cited events exist,
//     parameters fit the action). A malformed answer gets one repair attempt;
//     a second failure falls back to the deterministic summary.
//   - Calls are bounded: a per-call timeout, a maximum number of output tokens,
//     a calls-per-hour budget, retries only on 429 and 5xx honouring
//     Retry-After, and a cache keyed by the hash of the redacted prompt, so the
//     same facts never cost twice.
//
// Anomaly detection over exception rates lives in the subpackage anomaly.
package ai
