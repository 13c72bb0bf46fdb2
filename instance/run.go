package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/opsui"
	"github.com/stocksync/stocksync/processors/fraud"
	"github.com/stocksync/stocksync/queryapi"
	"github.com/stocksync/stocksync/reconcile"
	"github.com/stocksync/stocksync/topology"
	"github.com/stocksync/stocksync/wms"
)

// parts are the assembled pieces of an instance, ready to run.
type parts struct {
	in        *Instance
	ln        net.Listener
	srv       *http.Server
	lag       *admin.LagCollector
	lagClient *kgo.Client
	fraud     *fraud.Service // nil unless fraud.enabled
	recons    *reconcile.Service
	console   *opsui.Console
}

// assemble builds everything before anything runs: the listener (so the
// advertised URL is the bound one), the engine, anti-fraud, the API.
func (in *Instance) assemble(cfg Config, endpoints map[string]marketplace.Config) (_ *parts, err error) {
	s := in.settings
	p := &parts{in: in}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.lag, p.lagClient, err = newLagCollector(s, cfg); err != nil {
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", s.HTTP.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s (is another stocksync running? pick another address): %w", s.HTTP.Addr, err)
	}
	in.url = "http://" + p.ln.Addr().String()
	advertise := advertiseURL(s.HTTP, p.ln.Addr())
	orders, err := opsui.NewOrders(cfg.Registry)
	if err != nil {
		return nil, err
	}
	if in.eng, err = newEngine(s, cfg, advertise, endpoints, orders.Observe); err != nil {
		return nil, err
	}
	security, err := s.Kafka.FranzOpts()
	if err != nil {
		return nil, err
	}
	if p.console, err = opsui.New(opsui.Config{Engine: in.eng, Orders: orders, Gatherer: cfg.Registry, Brokers: s.Kafka.Brokers,
		Opts: security, Names: topology.New(s.Kafka.TopicPrefix), Instance: advertise}); err != nil {
		return nil, err
	}
	if p.recons, err = reconcile.New(reconcile.Config{Engine: in.eng, Kafka: &s.Kafka, Settings: s.Reconcile,
		Instance: advertise, Registry: cfg.Registry, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	var fraudRoutes queryapi.Fraud
	if s.Fraud.Enabled {
		if p.fraud, err = fraud.New(fraud.Config{Settings: s, Registry: cfg.Registry, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		fraudRoutes = p.fraud
	}
	api, err := queryapi.New(queryapi.Config{Stock: in.eng, Feed: in.eng, Orders: in.eng,
		OrderCommands: in.eng, Catalogue: in.eng, Readiness: in.eng, Channels: in.eng, Registry: cfg.Registry, Gatherer: cfg.Registry, Logger: cfg.Logger,
		WriteTimeout: s.Engine.WriteTimeout.Duration, Auth: cfg.Auth, Open: cfg.Auth == nil,
		RatePerS: s.HTTP.RatePerS, MaxInFlight: s.HTTP.MaxInFlight, ReadyGate: cfg.ReadyGate, Fraud: fraudRoutes,
		Imports: feedWriter{eng: in.eng}, Reconciliations: p.recons, Console: p.console, Instance: advertise})
	if err != nil {
		return nil, err
	}
	p.srv = newServer(api)
	return p, nil
}

// close releases what assemble built when the instance does not run.
func (p *parts) close() {
	if p.ln != nil {
		p.ln.Close()
	}
	if p.lagClient != nil {
		p.lagClient.Close()
	}
	if p.console != nil {
		p.console.Close()
	}
}

// run serves until ctx ends or a part fails, then stops in order: the
// HTTP server drains (requests in flight still need the engine to
// decide), then the engine and the rest stop.
func (p *parts) run(ctx context.Context) error {
	in, s := p.in, p.in.settings
	defer p.lagClient.Close()
	defer p.console.Close()
	engineCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	errc := make(chan error, 6) // engine, HTTP server, WMS, anti-fraud, reconciliation: none may block on it
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		err := in.eng.Run(engineCtx)
		if err == nil && engineCtx.Err() == nil {
			err = errors.New("instance: the engine stopped by itself")
		}
		if err != nil {
			errc <- err
		}
	}()
	go p.lag.Run(engineCtx)
	go p.console.Run(engineCtx)
	wmsDone := startWMS(engineCtx, in, errc)
	fraudDone := make(chan struct{}) // closed once anti-fraud closed its tables
	go func() {
		defer close(fraudDone)
		if err := p.fraud.Run(engineCtx); err != nil {
			errc <- err
		}
	}()
	reconDone := make(chan struct{}) // closed once a run going on has ended
	go func() {
		defer close(reconDone)
		if err := p.recons.Run(engineCtx); err != nil {
			errc <- err
		}
	}()
	go func() {
		if err := p.srv.Serve(p.ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	in.log.Info("stopping: finishing in-flight requests, then closing tables")
	shutdown, done := context.WithTimeout(context.Background(), s.Engine.WriteTimeout.Duration+2*time.Second)
	defer done()
	_ = p.srv.Shutdown(shutdown)
	cancel()
	<-engineDone
	<-wmsDone
	<-fraudDone
	<-reconDone
	if runErr == nil {
		select {
		case runErr = <-errc:
		default:
		}
	}
	return runErr
}

// startWMS reads the config's WMS movements topics into stock.feed until
// ctx ends (then it closes the returned channel); a consumer that fails
// sends its error to errc.
func startWMS(ctx context.Context, in *Instance, errc chan<- error) <-chan struct{} {
	s := in.settings
	done := make(chan struct{})
	if len(s.WMS) == 0 {
		close(done)
		return done
	}
	var locs []string
	for _, l := range s.Locations {
		locs = append(locs, l.Name)
	}
	names := topology.New(s.Kafka.TopicPrefix)
	go func() {
		defer close(done)
		security, err := s.Kafka.FranzOpts()
		if err == nil {
			err = wms.Run(ctx, wms.Config{Brokers: s.Kafka.Brokers, Opts: security, Sources: s.WMS, Locations: locs,
				FeedTopic: string(names.StockFeed), DLQTopic: string(names.DLQ), Registry: in.reg, Logger: in.log})
		}
		if err != nil {
			errc <- err
		}
	}()
	return done
}

// newLagCollector exports the consumer lag of every group (admin.Lag)
// through a Kafka client of its own, which the caller closes.
func newLagCollector(s *config.Config, cfg Config) (*admin.LagCollector, *kgo.Client, error) {
	security, err := s.Kafka.FranzOpts()
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Kafka.Brokers...), kgo.ClientID("stocksync-lag")}, security...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client for the lag metric: %w", err)
	}
	c, err := admin.NewLagCollector(admin.LagCollectorConfig{Admin: kadm.NewClient(cl),
		Names: topology.New(s.Kafka.TopicPrefix), Backend: s.Engine.Backend, Interval: cfg.LagInterval, Registry: cfg.Registry,
		Logger: cfg.Logger})
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return c, cl, nil
}

// feedWriter writes the rows of POST /v1/imports to stock.feed, keyed by
// SKU, and returns once all are acknowledged (queryapi.FeedBatcher). The
// API has validated them; the engine applies them in order per SKU.
type feedWriter struct{ eng Engine }

func (f feedWriter) SendFeed(ctx context.Context, msgs []contract.FeedMessage) error {
	topic := string(f.eng.Names().StockFeed)
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		value, err := json.Marshal(m)
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(m.SKU), Value: value}
	}
	if err := f.eng.Producer().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("%w: writing %d feed messages to %s: %v", contract.ErrUnavailable, len(msgs), topic, err)
	}
	return nil
}
