package instance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/instance"
)

// TestAnyInstanceAnswers runs two instances of each backend on one kfake
// cluster and reads, through the second, stock written through the first:
// a SKU the second does not own is forwarded to its owner, or, with warm
// standbys (the new engine's default), answered from the second's own copy.
func TestAnyInstanceAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts two engines on kfake")
	}
	for _, run := range []struct {
		backend string
		standby int
	}{{config.BackendGoka, 0}, {config.BackendTxloop, 0}, {config.BackendTxloop, 1}} {
		backend := run.backend
		t.Run(fmt.Sprintf("%s/standby=%d", backend, run.standby), func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			a := start(t, cluster.ListenAddrs(), backend, run.standby)
			b := start(t, cluster.ListenAddrs(), backend, run.standby)
			// Both own partitions once the group settled: each is ready.
			for _, in := range []*instance.Instance{a, b} {
				within(t, "both instances ready", func() (bool, string) {
					err := in.Engine().Ready()
					return err == nil, fmt.Sprint(err)
				})
			}
			const skus = 12
			for i := range skus {
				sku := fmt.Sprintf("F-%02d", i)
				within(t, "PUT "+sku+" through the first instance", func() (bool, string) {
					code, body := do(t, http.MethodPut, a.URL()+"/v1/stock/"+sku+"/locations/msk-wh-1",
						fmt.Sprintf(`{"on_hand":%d,"source":"erp","version":1}`, 10+i))
					return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
				})
			}
			forwarded := 0
			for i := range skus {
				sku := fmt.Sprintf("F-%02d", i)
				within(t, "GET "+sku+" through the second instance", func() (bool, string) {
					req, _ := http.NewRequest(http.MethodGet, b.URL()+"/v1/stock/"+sku, nil)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						return false, err.Error()
					}
					defer res.Body.Close()
					body, _ := io.ReadAll(res.Body)
					var v contract.StockView
					ok := res.StatusCode == http.StatusOK && json.Unmarshal(body, &v) == nil && v.OnHand == int64(10+i)
					if ok && res.Header.Get("X-Stocksync-Owner") == a.URL() {
						forwarded++
					}
					return ok, fmt.Sprintf("%d %s", res.StatusCode, body)
				})
			}
			switch {
			case run.standby == 0 && forwarded == 0:
				t.Errorf("none of %d SKUs was answered by the first instance through the second: does each own partitions?", skus)
			case run.standby == 1 && forwarded > 0:
				t.Errorf("%d of %d SKUs were forwarded to the first instance; with warm standbys the second answers all itself", forwarded, skus)
			}
		})
	}
}

// TestChannelModeOnBothBackends: an operator switches a channel to manual
// and back through the API of each backend; the channel list shows the
// mode, and a mode that is not one of the contract's is refused.
func TestChannelModeOnBothBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts an engine on kfake")
	}
	for _, backend := range []string{config.BackendGoka, config.BackendTxloop} {
		t.Run(backend, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			in := start(t, cluster.ListenAddrs(), backend, 0, func(s *config.Config) {
				s.Channels = []config.Channel{{Name: "web", Marketplace: "webhook", Locations: []string{"msk-wh-1"}, Share: 1,
					Endpoint: config.Endpoint{Mock: true}}}
			})
			within(t, "the instance ready", func() (bool, string) {
				err := in.Engine().Ready()
				return err == nil, fmt.Sprint(err)
			})
			mode := func() string {
				_, body := do(t, http.MethodGet, in.URL()+"/v1/channels", "")
				var chans []contract.ChannelInfo
				if json.Unmarshal(body, &chans) != nil || len(chans) != 1 {
					return string(body)
				}
				return string(chans[0].Mode)
			}
			if got := mode(); got != "auto" {
				t.Fatalf("a new channel's mode: %s, want auto", got)
			}
			for _, want := range []string{"manual", "auto"} {
				code, body := do(t, http.MethodPost, in.URL()+"/v1/channels/web/mode", `{"mode":"`+want+`"}`)
				if code != http.StatusOK || !strings.Contains(string(body), `"mode":"`+want+`"`) {
					t.Fatalf("POST mode %s: %d %s", want, code, body)
				}
				if got := mode(); got != want {
					t.Errorf("GET /v1/channels after POST mode %s: %s", want, got)
				}
			}
			code, body := do(t, http.MethodPost, in.URL()+"/v1/channels/web/mode", `{"mode":"off"}`)
			if code != http.StatusBadRequest || !strings.Contains(string(body), `mode: \"off\" is not one of manual, auto`) {
				t.Errorf("POST mode off: %d %s", code, body)
			}
		})
	}
}

func TestStartRefusesAnUnknownBackend(t *testing.T) {
	settings, err := config.Parse(examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, err = instance.Start(context.Background(), instance.Config{Settings: settings, Backend: "v3"})
	if err == nil || !strings.Contains(err.Error(), "v3") {
		t.Fatalf("Start with backend v3: %v; want an error naming it", err)
	}
}

// start runs an instance of backend on brokers, without channels unless a
// mod adds them.
func start(t *testing.T, brokers []string, backend string, standby int, mods ...func(*config.Config)) *instance.Instance {
	t.Helper()
	settings, err := config.Parse(examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	settings.Kafka.Brokers, settings.Kafka.TopicPrefix, settings.Kafka.Partitions = brokers, "inst.", 4
	settings.HTTP.Addr, settings.DataDir = "127.0.0.1:0", t.TempDir()
	settings.Channels = nil
	settings.Engine.StandbyReplicas = &standby
	for _, m := range mods {
		m(settings)
	}
	in, err := instance.Start(context.Background(), instance.Config{Settings: settings, Backend: backend,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return in
}

func do(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// within polls cond until it holds; past 60s it fails with cond's last
// account of what it saw.
func within(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 60s: %s; last: %s", what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
