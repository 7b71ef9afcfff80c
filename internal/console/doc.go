// Package console keeps the state of the web console that is not product
// data: browser sessions with their CSRF tokens, login throttling counters
// and saved views of the triage queue.
//
// It lives apart from package web so handlers stay free of SQL, and in the
// database (not process memory) so several API processes behind a load
// balancer share sessions and throttling: a password guesser cannot reset
// its budget by hitting another replica.
package console
