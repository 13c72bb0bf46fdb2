package contract

import gojson "github.com/goccy/go-json"

// Marshal encodes the engine's public records on its hot path (answers,
// channel.stock, stock.changes) and the Go client's order commands with
// goccy/go-json: JSON that reads as what encoding/json writes, byte for
// byte but for a few escapes (\b written as \u0008; FuzzMarshalAgrees
// holds it for those types), about 2.4 times faster, which was a tenth of
// the engine's CPU per cycle (BenchmarkEngineCycle, bench/README.md round
// 10). Everything else the engine writes stays with encoding/json.
func Marshal(v any) ([]byte, error) { return gojson.Marshal(v) }
