package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stocksync/stocksync/config"
)

// testTableTopics checks on a real broker what the engine created: the table
// topics are compacted (a changelog deleted by age would lose stock on the
// next rebuild) and have the configured partition count, like the streams.
func testTableTopics(t *testing.T, e *env) {
	if !e.b.real {
		t.Skip("topic configs are checked on a real broker only (set " + brokersEnv + ")")
	}
	e.start(t.TempDir())
	adm := kadm.NewClient(e.client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	var mine []string
	for _, name := range details.Names() {
		if strings.HasPrefix(name, e.prefix) {
			mine = append(mine, name)
		}
	}
	tables := []string{string(e.names.InventoryTable()), string(e.names.OrdersTable())}
	if e.engine == config.BackendTxloop {
		tables = []string{string(e.names.EngineTable())}
	}
	streams := []string{string(e.names.OrderCommands), string(e.names.OrderResults), string(e.names.StockFeed),
		string(e.names.StockCommands), string(e.names.StockReplies), string(e.names.StockChanges), string(e.names.DLQ)}
	for _, name := range append(tables, streams...) {
		d, ok := details[name]
		switch {
		case !ok || d.Err != nil:
			t.Errorf("topic %s: missing (%v); the prefix has %v", name, d.Err, mine)
		case len(d.Partitions) != partitions:
			t.Errorf("topic %s: %d partitions, want %d (kafka.partitions)", name, len(d.Partitions), partitions)
		}
	}

	configs, err := adm.DescribeTopicConfigs(ctx, mine...)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	policies := map[string]string{}
	for _, rc := range configs {
		if rc.Err != nil {
			t.Errorf("topic %s: describing its config: %v", rc.Name, rc.Err)
			continue
		}
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" {
				policies[rc.Name] = c.MaybeValue()
			}
		}
		t.Logf("%s: %d partitions, cleanup.policy=%s", rc.Name, len(details[rc.Name].Partitions), policies[rc.Name])
	}
	for _, name := range mine {
		isTable := slices.Contains(tables, name) || strings.HasSuffix(name, "-table")
		switch {
		case isTable && policies[name] != "compact":
			t.Errorf("table topic %s: cleanup.policy=%q, want compact", name, policies[name])
		case slices.Contains(streams, name) && policies[name] == "compact":
			t.Errorf("stream topic %s: cleanup.policy=compact, want delete: a stream is not a table", name)
		}
	}
}
