// Package topics waits for topics an engine just created to be served.
package topics

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WaitLed asks the brokers (uncached: kadm keeps a missing topic missing for
// seconds) until every topic of names lists at least partitions partitions,
// each with a leader, or ctx ends. A broker that just created a topic may
// not list it for a moment; a client started meanwhile would call it
// missing.
func WaitLed(ctx context.Context, cl *kgo.Client, names []string, partitions int32) error {
	for {
		req := kmsg.NewPtrMetadataRequest()
		for _, n := range names {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, t)
		}
		resp, err := req.RequestWith(ctx, cl)
		missing := ""
		if err == nil {
			for _, t := range resp.Topics {
				led := 0
				for _, p := range t.Partitions {
					if p.ErrorCode == 0 && p.Leader >= 0 {
						led++
					}
				}
				if t.ErrorCode != 0 || led < len(t.Partitions) || int32(led) < partitions {
					missing = *t.Topic
					break
				}
			}
		}
		if err == nil && missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("topic %s has no leader for some partitions yet", missing)
			}
			return fmt.Errorf("waiting for the new topics to be served: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
