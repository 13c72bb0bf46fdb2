package opsui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/topology"
)

// Engine is what the console asks of an engine beside the HTTP API's
// Engine: both engines implement it.
type Engine interface {
	// Ready is nil once the instance serves (the API's /readyz).
	Ready() error
	// ConsumerGroups are the engine's groups with their input topics:
	// whose members, partitions and lag the cluster view shows.
	ConsumerGroups() []admin.GroupInputs
	// ReplayChannelDLQ releases a channel's parked values for another
	// push: the replay of a marketplace's refusal.
	ReplayChannelDLQ(ctx context.Context, channel string) error
}

// Config configures a Console.
type Config struct {
	Engine   Engine              // required
	Orders   *Orders             // what the engine's OnResult feeds; required
	Gatherer prometheus.Gatherer // the instance's registry, sampled each second; required
	Brokers  []string            // required
	Opts     []kgo.Opt           // TLS and SASL of the Kafka client; default none
	Names    topology.Names      // required
	Instance string              // this instance's name in the cluster view (its advertised URL, or host-pid); required
	Step     time.Duration       // between samples; default 1s
	Window   time.Duration       // samples kept; default 1h
	Peers    *http.Client        // asks the other instances' /readyz; default a client with a 1s timeout
	Now      func() time.Time    // default time.Now
}

// Console is the server side of the ops console: the recorder of the
// live charts, the order observer, the cluster view and the DLQ browser.
type Console struct {
	*Recorder
	*Orders
	cfg     Config
	client  *kgo.Client
	adm     *kadm.Client
	cluster cache[ClusterView]
	dlq     *deadLetters
}

// New builds a console; Run samples, Close releases its Kafka client.
func New(cfg Config) (*Console, error) {
	var errs []error
	if cfg.Engine == nil {
		errs = append(errs, errors.New("opsui: Config.Engine is required"))
	}
	if cfg.Orders == nil {
		errs = append(errs, errors.New("opsui: Config.Orders is required (NewOrders, fed by the engine's OnResult)"))
	}
	if cfg.Gatherer == nil {
		errs = append(errs, errors.New("opsui: Config.Gatherer is required"))
	}
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("opsui: Config.Brokers is required"))
	}
	if cfg.Names.Prefix == "" {
		errs = append(errs, errors.New("opsui: Config.Names is required (topology.New)"))
	}
	if cfg.Instance == "" {
		errs = append(errs, errors.New("opsui: Config.Instance is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Peers == nil {
		cfg.Peers = &http.Client{Timeout: time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("stocksync-console")}, cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("opsui: kafka client: %w", err)
	}
	c := &Console{Recorder: NewRecorder(cfg.Gatherer, cfg.Step, cfg.Window), Orders: cfg.Orders, cfg: cfg, client: cl, adm: kadm.NewClient(cl)}
	c.dlq = &deadLetters{cfg: cfg, client: cl, adm: c.adm, replayed: map[string]string{}}
	return c, nil
}

// Run samples the registry until ctx ends.
func (c *Console) Run(ctx context.Context) { c.Recorder.Run(ctx) }

// Close releases the Kafka client.
func (c *Console) Close() { c.client.Close() }

// cache keeps an answer that costs broker requests for a moment, so many
// open consoles cost the brokers what one does.
type cache[T any] struct {
	mu  sync.Mutex
	at  time.Time
	val T
}

const cacheFor = 2 * time.Second

func (c *cache[T]) get(ctx context.Context, now time.Time, fill func(context.Context) (T, error)) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && now.Sub(c.at) < cacheFor {
		return c.val, nil
	}
	v, err := fill(ctx)
	if err != nil {
		return v, err
	}
	c.val, c.at = v, now
	return v, nil
}
