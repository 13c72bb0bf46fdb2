// Package soak runs stocksync under mixed load and faults and checks the
// whole history from outside (issue 12): its own broker on its own ports,
// three `stocksync serve` processes, HTTP and Kafka clients sending every
// order command (with expiries, duplicates and conflicting order ids),
// adjusts and snapshots, and a fault every FaultEvery in rotation (SIGKILL,
// SIGSTOP, broker restart, full disk, loopback latency).
//
// The checker (check.go) never reads the engine's counters: it judges the
// answers and the stock read from every instance against what was sent. It
// writes a report (markdown and JSON) and a PNG plot. cmd/stocksync-soak
// binds the flags; `make soak` and `make soak-ci` run it.
package soak
