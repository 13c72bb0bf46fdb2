package integration

import "testing"

// scenario is one end-to-end story, run on every backend.
type scenario struct {
	name  string // what a user would call it; the subtest name
	short string // in the topic prefix
	run   func(t *testing.T, e *env)
}

var scenarios = []scenario{
	{"http_user_flow", "http", testHTTPUserFlow},
	{"kafka_only_flow", "kafka", testKafkaOnlyFlow},
	{"rerouting_wrong_partition", "reroute", testRerouting},
	{"no_oversell_under_concurrency", "oversell", testNoOversell},
	{"duplicates_take_effect_once", "dup", testDuplicates},
	{"conflicting_reserves_answer_their_own_request", "conflict", testConflictingReserves},
	{"restart_and_rebuild_from_changelog", "restart", testRestartAndRebuild},
	{"table_topics_compacted", "topics", testTableTopics},
	{"kcat_third_party_client", "kcat", testKcat},
	{"erp_import_and_wms_movements", "src", testSources},
	{"reconcile_fixes_small_drift_once_reports_large", "recon", testReconcile},
}

// TestStocksync runs every scenario on kfake, then on the real broker of
// STOCKSYNC_TEST_BROKERS (skipped, saying so, when it is unset). Pick one
// with -run 'TestStocksync/kfake/rerouting'.
func TestStocksync(t *testing.T) {
	if testing.Short() {
		t.Skip("integration suite skipped under -short")
	}
	backends := []struct {
		name string
		open func(*testing.T) *backend
	}{
		{"kfake", openKfake},
		{"kafka", openKafka},
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			b := bk.open(t)
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) { sc.run(t, newEnv(t, b, sc.short)) })
			}
		})
	}
}
