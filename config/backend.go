package config

import (
	"fmt"
	"strings"
)

// Backends of engine.backend.
const (
	BackendGoka   = "goka"   // the goka processors (package engine), the first wave's engine
	BackendTxloop = "txloop" // the transactional loop (package enginev2), the default
	// BackendDefault is what an instance runs when nothing says otherwise
	// (docs/design.md, "Status").
	BackendDefault = BackendTxloop
)

// EnvBackend names the environment variable that overrides engine.backend.
// cmd/ and the test harnesses read it; the engine never does.
const EnvBackend = "STOCKSYNC_ENGINE"

// ParseBackend reads a backend as an operator writes it in $STOCKSYNC_ENGINE:
// goka or v1, txloop or v2, in any case; "" (unset) is BackendDefault.
func ParseBackend(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return BackendDefault, nil
	case BackendGoka, "v1":
		return BackendGoka, nil
	case BackendTxloop, "v2":
		return BackendTxloop, nil
	}
	return "", fmt.Errorf("$%s=%q is not one of goka (or v1), txloop (or v2)", EnvBackend, s)
}
