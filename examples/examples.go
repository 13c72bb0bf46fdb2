// Package examples ships the example configuration, embedded so that
// `stocksync dev` runs on exactly the file users read.
package examples

import _ "embed"

// Config is examples/stocksync.yaml: the demo's locations and channels.
//
//go:embed stocksync.yaml
var Config []byte
