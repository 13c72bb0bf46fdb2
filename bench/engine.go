package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/instance"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
)

// EngineSettings is examples/stocksync.yaml (its locations and channels)
// pointed at brokers, with a topic prefix, partitions, data directory and
// HTTP address of the run's own, the engine backend ("" for the default),
// and the API's limits lifted for a load generator. It returns the YAML
// too, for a child process's --config.
func EngineSettings(brokers []string, prefix string, partitions int32, dataDir, httpAddr, backend string) (*config.Config, []byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(examples.Config, &doc); err != nil {
		return nil, nil, fmt.Errorf("bench: examples/stocksync.yaml: %w", err)
	}
	doc["kafka"] = map[string]any{"brokers": brokers, "topic_prefix": prefix, "partitions": partitions, "replication": 1}
	doc["http"] = map[string]any{"addr": httpAddr, "rate_per_s": 1e6, "max_in_flight": 100_000}
	doc["data_dir"] = dataDir
	eng := map[string]any{"sweep_interval": "1s", "write_timeout": "10s"}
	if backend != "" {
		b, err := config.ParseBackend(backend)
		if err != nil {
			return nil, nil, err
		}
		eng["backend"] = b
	}
	doc["engine"] = eng
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	s, err := config.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: engine settings: %w", err)
	}
	return s, data, nil
}

// EngineConfig runs one stocksync instance inside this process, assembled
// as `stocksync serve --insecure-open` does (package instance), with an
// in-process mock marketplace per channel.
type EngineConfig struct {
	// Settings of the instance (EngineSettings or config.Load). Required.
	Settings *config.Config
	// Backend overrides Settings.Engine.Backend, as $STOCKSYNC_ENGINE is
	// written (goka or v1, txloop or v2). Default "".
	Backend string
	// Registry receives the metrics. Default a new one.
	Registry *prometheus.Registry
	// Throttle keeps the mock marketplaces' real rate limits (Ozon: 80
	// requests a minute, …). Default off: the bench measures stocksync's
	// pipeline, not the marketplaces' quotas.
	Throttle bool
	// Endpoints, when set, are the channels' marketplaces by channel name,
	// instead of the mocks RunEngine starts (Throttle is then unused): a
	// caller that reads what the marketplaces show starts its own.
	Endpoints map[string]marketplace.Config
	// CPUProfile, when set, receives a pprof CPU profile of the whole run.
	CPUProfile string
	// Logger; default warnings to stderr.
	Logger *slog.Logger
	// Ready is called with the API's base URL once it listens.
	Ready func(url string)
	// ConsoleViewers is how many open ops consoles to simulate: each asks
	// for what the console's live tab refreshes (ConsoleViewer). The
	// console itself runs always, as in `stocksync serve`. Default 0.
	ConsoleViewers int
}

// RunEngine runs the instance until ctx ends.
func RunEngine(ctx context.Context, cfg EngineConfig) error {
	if cfg.Settings == nil {
		return errors.New("bench: EngineConfig.Settings is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s := *cfg.Settings
	s.Channels = append([]config.Channel(nil), s.Channels...)
	for i := range s.Channels {
		s.Channels[i].Endpoint = config.Endpoint{Mock: true} // the bench pushes to mocks only
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	in, err := instance.Start(ctx, instance.Config{Settings: &s, Backend: cfg.Backend, Registry: cfg.Registry, Logger: cfg.Logger,
		InstanceID: fmt.Sprintf("bench-%d", os.Getpid()), Endpoints: cfg.Endpoints,
		TuneMock: func(_ config.Channel, m *mock.Server, _ *marketplace.Config) {
			m.Throttle(cfg.Throttle)
			if !cfg.Throttle {
				m.SetCooldown(0) // Ozon's once-per-30s per item
			}
		}})
	if err != nil {
		return err
	}
	for range cfg.ConsoleViewers {
		go ConsoleViewer(ctx, in.URL())
	}
	if cfg.Ready != nil {
		cfg.Ready(in.URL())
	}
	return in.Wait()
}

// RunKfake serves an embedded Kafka (kfake, one broker) on addr until ctx
// ends: stocksync's reference backend, not durable. ready gets its address.
func RunKfake(ctx context.Context, port int, ready func(addr string)) error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		return err
	}
	defer c.Close()
	if ready != nil {
		ready(c.ListenAddrs()[0])
	}
	<-ctx.Done()
	return nil
}
