// Package brokerrestart_test restarts a real Apache Kafka broker under a
// running engine: the engine reconnects, and no accepted command is lost or
// applied twice. The test starts a broker of its own (scripts/kafka.sh on
// other ports), so the suites sharing the main broker are not disturbed.
package brokerrestart_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/instance"
)

const (
	port       = "19292"
	ctrlPort   = "19293"
	skus       = 20
	startStock = 1000
)

// broker runs scripts/kafka.sh with this test's ports and data directory.
func broker(t *testing.T, data string, args ...string) {
	t.Helper()
	cmd := exec.Command("../../scripts/kafka.sh", args...)
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+port, "KAFKA_CONTROLLER_PORT="+ctrlPort, "KAFKA_DATA="+data,
		"KAFKA_HEAP_OPTS=-Xmx384m -Xms384m")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/kafka.sh %v: %v\n%s", args, err, out)
	}
}

func TestBrokerRestartUnderARunningEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a broker of its own")
	}
	if os.Getenv("STOCKSYNC_TEST_BROKERS") == "" {
		t.Skip("STOCKSYNC_TEST_BROKERS not set: the broker-restart test (real Kafka from scripts/kafka.sh) is skipped; run make test-kafka")
	}
	data := t.TempDir()
	broker(t, data, "up")
	t.Cleanup(func() { broker(t, data, "down") })
	brokers := []string{"127.0.0.1:" + port}

	settings, err := config.Parse(examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	settings.Kafka.Brokers = brokers
	settings.Kafka.Partitions = 3
	settings.DataDir = t.TempDir()
	settings.HTTP.Addr = "127.0.0.1:0"
	settings.Channels = settings.Channels[:1] // the web shop: enough to keep the sinks in the loop
	in, err := instance.Start(context.Background(), instance.Config{Settings: settings, Backend: os.Getenv(config.EnvBackend),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	eng, srvURL := in.Engine(), in.URL()
	waitFor(t, "the engine is ready", 90*time.Second, in, func() bool { return eng.Ready() == nil })

	sku := func(i int) string { return fmt.Sprintf("R-%02d", i) }
	for i := 0; i < skus; i++ {
		put(t, srvURL+"/v1/stock/"+sku(i)+"/locations/msk-wh-1", fmt.Sprintf(`{"on_hand":%d,"source":"erp","version":1}`, startStock))
	}
	orders, err := client.NewKafka(context.Background(), client.KafkaConfig{Brokers: brokers, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()

	// Orders and adjusts, each repeated with the same id until answered.
	load, stopLoad := context.WithCancel(context.Background())
	var mu sync.Mutex
	reserved := map[string]int64{} // SKU → units held by answered reserves
	adjusted := map[string]int64{}
	var answered, retried int
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; load.Err() == nil; n++ {
				s := sku((w*7 + n) % skus)
				id := fmt.Sprintf("r-%d-%d", w, n)
				for {
					res, err := orders.Reserve(context.Background(), id, []contract.Line{{SKU: s, Qty: 1}}, "", time.Hour)
					if err == nil {
						mu.Lock()
						answered++
						if res.Status == contract.StatusReserved {
							reserved[s]++
						}
						mu.Unlock()
						break
					}
					mu.Lock()
					retried++
					mu.Unlock()
					time.Sleep(200 * time.Millisecond)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; load.Err() == nil; n++ {
			s := sku(n % skus)
			body := fmt.Sprintf(`{"delta":2,"reason":"restock","id":"adj-%d"}`, n)
			for post(srvURL+"/v1/stock/"+s+"/locations/msk-wh-1/adjust", body) != nil {
				time.Sleep(200 * time.Millisecond)
			}
			mu.Lock()
			adjusted[s] += 2
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()

	time.Sleep(4 * time.Second)
	mu.Lock()
	before := answered
	mu.Unlock()
	begin := time.Now()
	broker(t, data, "down")
	t.Logf("broker stopped after %d answers; down for 3s", before)
	time.Sleep(3 * time.Second)
	broker(t, data, "up")
	t.Logf("broker back after %s", time.Since(begin).Round(time.Millisecond))
	waitFor(t, "orders are answered again", 90*time.Second, in, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return answered > before+50
	})
	t.Logf("orders answered again %s after the broker went down", time.Since(begin).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	stopLoad()
	wg.Wait()
	t.Logf("%d reserves answered, %d calls repeated during the outage", answered, retried)

	// Nothing accepted is lost, nothing is applied twice.
	waitFor(t, "the engine shows exactly the history", 60*time.Second, in, func() bool {
		for i := 0; i < skus; i++ {
			v, err := eng.Stock(context.Background(), sku(i))
			if err != nil || v.Reserved != reserved[sku(i)] || v.OnHand != startStock+adjusted[sku(i)] {
				return false
			}
		}
		return true
	})
	for i := 0; i < skus; i++ {
		v, _ := eng.Stock(context.Background(), sku(i))
		if v.Reserved != reserved[sku(i)] || v.OnHand != startStock+adjusted[sku(i)] {
			t.Errorf("%s: engine reserved %d on_hand %d; history reserved %d on_hand %d",
				sku(i), v.Reserved, v.OnHand, reserved[sku(i)], startStock+adjusted[sku(i)])
		}
	}
}

// waitFor polls cond; it fails when the engine stops or the time is up.
func waitFor(t *testing.T, what string, within time.Duration, in *instance.Instance, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		select {
		case <-in.Done():
			t.Fatalf("the instance stopped while waiting until %s: %v", what, in.Err())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader([]byte(body)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 {
		t.Fatalf("PUT %s: %d %s", url, res.StatusCode, b)
	}
}

// post sends an adjust; nil once the engine applied or queued it.
func post(url, body string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 && res.StatusCode != 202 {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}
