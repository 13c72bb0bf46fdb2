package soak

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config is one soak run. Zero fields take the defaults stated on them.
type Config struct {
	// Repo is the repository root: scripts/kafka.sh, cmd/stocksync and
	// examples/stocksync.yaml are read from it. Default ".".
	Repo string
	// Duration is how long the load runs; default 10m. The checks after it
	// (expiries, convergence) add about a minute.
	Duration time.Duration
	// FaultEvery is the time between two faults; default 30s. The first
	// comes one interval after the load starts.
	FaultEvery time.Duration
	// Instances of `stocksync serve`; default 3.
	Instances int
	// KafkaPort and ControllerPort are the soak's own broker's listeners on
	// 127.0.0.1; default 19392 and 19393 (not the developers' 19092).
	KafkaPort, ControllerPort int
	// HTTPPort is the first instance's API port; instance i listens on
	// HTTPPort+i. Default 19400.
	HTTPPort int
	// KafkaCache is the jar directory handed to scripts/kafka.sh as
	// KAFKA_CACHE; default "" (the script's own, fetched on first use).
	KafkaCache string
	// WorkDir holds the broker's data, the instances' data and logs; default
	// a new temporary directory, removed after a passing run.
	WorkDir string
	// Report, JSON and Plot are where the report goes; default
	// docs/soak.md, docs/soak.json and docs/soak.png under Repo.
	Report, JSON, Plot string
	// Faults are the fault kinds that rotate, in order; default FaultKinds.
	// One kind alone reproduces a defect it triggers more often.
	Faults []string
	// LogLevel is the instances' STOCKSYNC_LOG_LEVEL; default info. At
	// debug their logs carry franz-go's joins and transactions too.
	LogLevel string
	// Seed makes the load's choices repeatable; default the start time.
	Seed int64
	// Log receives progress; default slog.Default().
	Log *slog.Logger
}

func (c *Config) fill() error {
	if c.Repo == "" {
		c.Repo = "."
	}
	abs, err := filepath.Abs(c.Repo)
	if err != nil {
		return err
	}
	c.Repo = abs
	set := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	set(&c.Duration, 10*time.Minute)
	set(&c.FaultEvery, 30*time.Second)
	if c.Instances == 0 {
		c.Instances = 3
	}
	if c.KafkaPort == 0 {
		c.KafkaPort = 19392
	}
	if c.ControllerPort == 0 {
		c.ControllerPort = 19393
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = 19400
	}
	if c.Report == "" {
		c.Report = filepath.Join(c.Repo, "docs", "soak.md")
	}
	if c.JSON == "" {
		c.JSON = filepath.Join(c.Repo, "docs", "soak.json")
	}
	if c.Plot == "" {
		c.Plot = filepath.Join(c.Repo, "docs", "soak.png")
	}
	if len(c.Faults) == 0 {
		c.Faults = FaultKinds
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(c.Repo, "scripts", "kafka.sh")); err != nil {
		errs = append(errs, fmt.Errorf("soak: Repo %s has no scripts/kafka.sh: run from the repository root or pass -repo", c.Repo))
	}
	if c.Duration < 30*time.Second {
		errs = append(errs, fmt.Errorf("soak: Duration %s is under 30s: too short for a fault", c.Duration))
	}
	if c.FaultEvery < 10*time.Second {
		errs = append(errs, fmt.Errorf("soak: FaultEvery %s is under 10s: a fault and its recovery need longer", c.FaultEvery))
	}
	if c.Instances < 2 || c.Instances > 9 {
		errs = append(errs, fmt.Errorf("soak: Instances %d is outside 2..9", c.Instances))
	}
	for _, k := range c.Faults {
		if !slices.Contains(FaultKinds, k) {
			errs = append(errs, fmt.Errorf("soak: fault %q is none of %s", k, strings.Join(FaultKinds, ", ")))
		}
	}
	for _, p := range []int{c.KafkaPort, c.ControllerPort, c.HTTPPort} {
		if p < 1024 || p > 65535-c.Instances {
			errs = append(errs, fmt.Errorf("soak: port %d is outside 1024..65535", p))
		}
	}
	return errors.Join(errs...)
}
