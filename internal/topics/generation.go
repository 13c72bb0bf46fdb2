package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stocksync/stocksync/topology"
)

// ErrPartitionMismatch is returned by Generation when orders.commands has
// another partition count than the config and no repartition made it so.
var ErrPartitionMismatch = errors.New("topics: the partition count differs from kafka.partitions")

// Generation finds the engine's generation (docs/operations.md, "Growing
// the partitions"): the partition count is orders.commands', and a count
// reached by `stocksync admin repartition` has a group and table of its own
// (topology.Names.AtPartitions). Before the first start (no orders.commands
// yet) it is the configured count. configured 0 skips the check that the
// count is the configured one (for readers such as the lag metric).
func Generation(ctx context.Context, adm *kadm.Client, names topology.Names, configured int32) (topology.Names, int32, error) {
	td, err := adm.ListTopics(ctx, string(names.OrderCommands))
	if err != nil {
		return names, 0, fmt.Errorf("describing %s: %w", names.OrderCommands, err)
	}
	d, ok := td[string(names.OrderCommands)]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return names, configured, nil
	}
	p := int32(len(d.Partitions))
	grown := names.AtPartitions(p)
	td, err = adm.ListTopics(ctx, string(grown.EngineTable()))
	if err != nil {
		return names, 0, fmt.Errorf("describing %s: %w", grown.EngineTable(), err)
	}
	if d, ok := td[string(grown.EngineTable())]; ok && d.Err == nil && len(d.Partitions) == int(p) {
		return grown, p, nil
	}
	if p != configured && configured > 0 {
		return names, p, fmt.Errorf("%w: %s has %d partitions, the config asks for %d, and no table %s says a repartition made it so; revert kafka.partitions, or grow with stocksync admin repartition --to N",
			ErrPartitionMismatch, names.OrderCommands, p, configured, grown.EngineTable())
	}
	return names, p, nil
}

// DeleteRetention is how long the engine table keeps a tombstone
// (delete.retention.ms): a store that was not caught up with the table for
// that long is rebuilt from scratch (txloop.Config.StaleAfter).
const DeleteRetention = 24 * time.Hour

// TableConfigs are the engine table's topic settings: compacted, in
// segments small enough to be cleaned while the stock changes, tombstones
// of finished orders kept a day (a reader restoring meanwhile sees the
// delete), so a rebuild reads about the live set.
func TableConfigs() map[string]*string {
	s := func(v string) *string { return &v }
	return map[string]*string{
		"cleanup.policy":            s("compact"),
		"segment.bytes":             s(strconv.Itoa(64 << 20)),
		"min.cleanable.dirty.ratio": s("0.2"),
		"delete.retention.ms":       s(strconv.FormatInt(DeleteRetention.Milliseconds(), 10)),
	}
}
