package fraud

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stocksync/stocksync/config"
)

// fourReturns alerts a customer at 4 returns within the window, whatever
// the population: what the restart and duplicate tests count on.
var fourReturns = config.Fraud{Rules: []config.FraudRule{{Name: "four_returns", Feature: config.FeatureReturnsCount, MinValue: 4}},
	Cooldown: config.Duration{Duration: 1e9}}

// TestRestartKeepsFeaturesAndDuplicatesCountOnce sends a customer's returns
// over three lives of the service, with duplicates: the count that fires
// the rule is the number of distinct returns, whether the table came back
// from its Pebble files or, on a new data directory, from its changelog.
func TestRestartKeepsFeaturesAndDuplicatesCountOnce(t *testing.T) {
	for name, b := range backends(t, "t1") {
		t.Run(name, func(t *testing.T) { restartAndDuplicates(t, b.brokers, b.prefix) })
	}
}

func restartAndDuplicates(t *testing.T, brokers []string, prefix string) {
	s := testSettings(brokers, prefix, fourReturns)
	topic := string(NewNames(s.Kafka.TopicPrefix).Returns)
	dir := filepath.Join(t.TempDir(), "a")

	first := start(t, s, dir)
	produce(t, brokers, topic, "c1", ret("c1", "r1", 0), ret("c1", "r2", 1), ret("c1", "r2", 1), ret("c1", "r1", 0), ret("c1", "r3", 2))
	// A marker customer's fourth return shows the three above were processed.
	produce(t, brokers, topic, "m1", ret("m1", "m-1", 0), ret("m1", "m-2", 1), ret("m1", "m-3", 2), ret("m1", "m-4", 3))
	got := waitAlerts(t, first.Service, 1)
	if len(got) != 1 || got[0].EntityID != "m1" {
		t.Fatalf("alerts after r1, r2, r2, r1, r3: %+v; want only the marker's (c1 has 3 distinct returns)", got)
	}
	first.stop()

	// Same data directory: the table comes back from Pebble.
	second := start(t, s, dir)
	produce(t, brokers, topic, "c1", ret("c1", "r3", 2), ret("c1", "r4", 3))
	got = waitAlerts(t, second.Service, 2)
	c1 := alertsOf(got, "c1")
	if len(c1) != 1 || c1[0].Reasons[0].Value != 4 || !slices.Equal(c1[0].EventIDs, []string{"r1", "r2", "r3", "r4"}) {
		t.Fatalf("after a restart and r3 again, r4: c1's alerts %+v; want one at 4 returns r1..r4", c1)
	}
	second.stop()

	// A new data directory: the table comes back from its changelog.
	third := start(t, s, filepath.Join(t.TempDir(), "b"))
	produce(t, brokers, topic, "c1", ret("c1", "r4", 3), ret("c1", "r5", 4))
	deadline := 3 // c1@4, m1@4 read back from the alerts topic, then c1@5
	got = waitAlerts(t, third.Service, deadline)
	c1 = alertsOf(got, "c1")
	if len(c1) != 2 || c1[0].Reasons[0].Value != 5 {
		t.Fatalf("on a fresh data directory after r4 again, r5: c1's alerts %+v; want the newest at 5 returns", c1)
	}
}

func alertsOf(as []Alert, entity string) []Alert {
	var out []Alert
	for _, a := range as {
		if a.EntityID == entity {
			out = append(out, a)
		}
	}
	return out
}

// TestInvalidEventsGoToTheDLQ: a message that is not a valid event of its
// topic is parked with the reason, and processing goes on.
func TestInvalidEventsGoToTheDLQ(t *testing.T) {
	brokers := startKfake(t)
	s := testSettings(brokers, "t2.", fourReturns)
	n := NewNames(s.Kafka.TopicPrefix)
	start(t, s, t.TempDir())
	produce(t, brokers, string(n.Returns), "c1", []byte(`{"type":"return","return_id":"x"}`))
	produce(t, brokers, string(n.Loyalty), "c2", ret("c2", "r1", 0))
	produce(t, brokers, string(n.Returns), "other", ret("c3", "r1", 0))
	recs := consume(t, brokers, string(n.DLQ), 3)
	var reasons []string
	for _, r := range recs {
		var dl deadLetter
		if err := json.Unmarshal(r.Value, &dl); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, dl.Topic+": "+dl.Reason)
	}
	slices.Sort(reasons)
	for i, want := range []string{"loyalty: contract: invalid type", "returns: contract: invalid", "returns: the key \"other\" is not the customer_id"} {
		if !strings.Contains(reasons[i], want) {
			t.Errorf("DLQ reason %d = %q, want it to contain %q", i, reasons[i], want)
		}
	}
}
