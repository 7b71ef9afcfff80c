// Package eta estimates the risk that a shipment misses its promised date.
//
// It exists so that triage can rank cases by how likely the customer is to be
// let down, and say why, without calling anything external: every model here is
// trained from Yardmaster's own history (or an imported historical file) and
// scores in microseconds.
//
// Two models live here, because two questions are asked at different moments:
//
//   - [BookingModel] answers "will this order be late?" when only booking-time
//     facts are known (lane, vendor, product, lead time). It is what
//     `yardmaster eta train|eval` fits on historical CSV files such as the
//     public SCMS delivery history, and it is deliberately built for drift:
//     time-decayed counts, m-estimate smoothing with backoff to the global
//     rate, a small additive logistic combiner, and settings chosen on a
//     validation period inside the training range only.
//   - [LiveModel] answers "will this shipment in flight miss its promise, and
//     when will it arrive?" from empirical transit-time distributions per lane
//     (carrier × origin × destination × service) that back off to broader
//     groups when data is thin, conditioned on time since pickup, milestone,
//     dwell since the last scan and open exceptions. It gives P(miss), p50 and
//     p90 arrival, and the factors that moved the estimate.
//
// Both marshal to a versioned form (MarshalBinary/UnmarshalBinary). The live
// model is what the running product uses: [Service] retrains it from the
// delivered shipments in intake's tables ([CompletedShipments]) on the
// periodic task [TaskRetrain], stores each model in eta_models ([Store]),
// and scores shipments for triage ([Service.Score], [Service.ScoreCase]).
// See docs/eta.md.
package eta
