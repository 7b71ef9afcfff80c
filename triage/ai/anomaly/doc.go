// Package anomaly finds spikes in exception rates per carrier and per lane
// (carrier × origin × destination), so that a carrier outage, a closed hub
// or a storm on one lane becomes one disruption case instead of a hundred
// unrelated shipment cases.
//
// Method. Canonical events are counted in fixed time buckets (default one
// hour) per carrier and per lane: how many events, how many of them carried
// an exception, and of which reason. Each key keeps an exponentially
// weighted baseline of its exception rate (decayed event and exception
// counts, half-life in buckets) together with an estimate of how much the
// rate varies between buckets beyond chance (the beta-binomial
// intra-bucket correlation). Lanes are shrunk toward their carrier's rate
// and carriers toward the overall rate, so a thin lane does not alarm on
// three late parcels.
//
// When a bucket closes, its exception count is tested against the baseline
// with a one-sided beta-binomial tail probability. A spike needs all of: a
// minimum volume and exception count, a warm baseline, an observed rate well
// above the expected one (ratio and absolute lift), a z-score and a tail
// probability beyond their thresholds. The thresholds are set so that normal
// (binomial or moderately overdispersed) variation over months of buckets
// and hundreds of keys stays quiet; the tests check exactly that with a
// seeded simulation.
//
// A spike on a carrier whose excess sits almost entirely on one lane is
// reported as that lane's spike; otherwise a carrier-wide spike lists the
// lanes that carried it. The dominant exception reason is named when it
// accounts for most of the excess. Spike buckets update the baseline with a
// reduced weight, so a lasting change of level is learnt, slowly, instead of
// alarming forever.
//
// The detector is pure and deterministic: no I/O, an injected clock, and a
// Snapshot/Restore pair so a worker can persist its state between sweeps.
package anomaly
