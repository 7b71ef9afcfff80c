// Package intake turns what carriers, aggregators and 3PLs send into
// canonical shipment events and shipment state, durably and once.
//
// It exists because every source speaks its own dialect (AfterShip tags,
// EasyPost status details, FedEx event types, a 3PL's CSV) and signs it its
// own way, while everything downstream — rules, triage, ETA — must see one
// vocabulary and one folded shipment state. The package holds:
//
//   - the canonical model (Status, Reason, Event, Shipment) and the
//     vocabulary loaded from the embedded carrier-mappings.json;
//   - mapping lookup by (table, code), most specific first, after code
//     normalisation, with message-text rules for generic reasons; unmapped
//     codes are flagged and never guessed;
//   - signature verifiers per source kind (Standard Webhooks, AfterShip,
//     EasyPost, canonical bearer tokens), constant time, two secrets during
//     a rotation;
//   - payload adapters that explode provider payloads into per-checkpoint
//     events, and streaming JSONL/CSV readers for imports;
//   - dedup keys (provider id, else a content hash) and the shipment state
//     machine (monotonic milestone, terminal reopen on a later physical
//     scan, open/cleared exceptions, EDD history, recycled numbers);
//   - the sources registry, the store, and the group-commit Pipeline that
//     persists a batch of deliveries in one transaction and hands the
//     committed events to the next Stage (rules, triage) inside it.
//
// Design decisions a reader should know:
//
//   - Text rules only refine generic reasons (exception_other, delayed,
//     failed_attempt, held_at_carrier); they never invent an exception on
//     an event the mapping says has none.
//   - EasyPost and AfterShip checkpoints are looked up provider detail
//     first, then the carrier's raw code (FedEx, DHL Express), then the
//     provider's coarse status.
//   - A physical scan closes an open no_updates exception.
//   - Shipment state is stored with each event as of that event, so the
//     rules backtest streams exactly what rules saw.
package intake
