// Package bench measures stocksync against the systems it replaces, side by
// side, on the same machine, in the same run, with the same load generator
// (issue #7): a PostgreSQL service (one transaction per order, SELECT … FOR
// UPDATE on the stock rows, a reservations table with expiry) and a Redis
// service (a Lua script that checks and holds stock atomically, reservation
// keys with a TTL); and against the Kafka Streams application a team would
// write instead (issue 18, peers/kstreams: a Java child process built with
// Maven, at-least-once or exactly_once_v2).
//
// Everything is a value: a Workload (FlashSale, SteadyDay, MultiLine) says what to
// send, a System (Postgres, Redis, Stocksync, KStreams) takes it, RunLoad drives one
// system with one workload open-loop at a rate or closed-loop with N
// clients, and returns a Result: commands decided per second, latencies,
// oversold units counted by Check over the generator's own record of
// commands and answers (never trusted from the system), CPU seconds and
// peak memory of the system's processes. There is no package state; cmd/
// stocksync-bench only binds flags.
//
// The servers are started by the package itself (StartPostgres,
// StartRedis, StartKfake) on loopback, under a temporary directory, from
// the Debian packages' binaries; the real Kafka broker comes from
// scripts/kafka.sh.
package bench
