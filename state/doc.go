// Package state persists goka table state in Pebble, one database per
// topic-partition, and provides an in-memory store with identical semantics
// for tests.
//
// The central promise is that the stored offset never runs ahead of the
// stored data: the offset only reaches disk inside the same Pebble batch as
// (or after) the writes it covers, so after any crash goka resumes the
// changelog at or before the first write that was lost and replays it.
package state
