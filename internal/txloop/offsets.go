package txloop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// The loop commits its input offsets itself, in the cycle's transaction
// (docs/design.md, "What bounds the loop"). franz-go's GroupTransactSession
// followed the commit with a heartbeat: three round trips one after the
// other at the end of every cycle, and a request more for the broker. Here
// no heartbeat follows. A commit from a member the group expelled is
// refused (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID), and one that was
// accepted holds the partitions' offsets unstable until EndTxn, so a new
// owner waits for the transaction to end before it reads them (KIP-447;
// the client asks for stable offsets).

// span is what a cycle polled of one input partition.
type span struct {
	first int64 // where an aborted cycle reads again
	next  int64 // what a committed cycle stores: the offset after its last record
	epoch int32 // the leader epoch of the last record
}

// inputOffsets are the spans of a cycle's inputs by topic and partition.
type inputOffsets map[string]map[int32]span

func inputsOf(recs []*kgo.Record) inputOffsets {
	in := inputOffsets{}
	for _, r := range recs {
		ps := in[r.Topic]
		if ps == nil {
			ps = map[int32]span{}
			in[r.Topic] = ps
		}
		s, seen := ps[r.Partition]
		if !seen {
			s.first = r.Offset
		}
		s.next, s.epoch = r.Offset+1, r.LeaderEpoch
		ps[r.Partition] = s
	}
	return in
}

// rewind is where the client fetches from again after the cycle aborted.
func (in inputOffsets) rewind() map[string]map[int32]kgo.EpochOffset {
	at := map[string]map[int32]kgo.EpochOffset{}
	for t, ps := range in {
		at[t] = map[int32]kgo.EpochOffset{}
		for p, s := range ps {
			at[t][p] = kgo.EpochOffset{Epoch: -1, Offset: s.first}
		}
	}
	return at
}

// clientVersions caps TxnOffsetCommit at v5, which names topics, so the
// raw request needs no topic ids (v6, KIP-1319, carries ids only). The
// loop's client sends no other TxnOffsetCommit.
func clientVersions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), 5)
	return v
}

// errBrokersTooOld: before Kafka 2.5 a TxnOffsetCommit carries no group
// generation (KIP-447), so nothing refuses the commit of a member the group
// expelled, which the loop relies on.
var errBrokersTooOld = errors.New("txloop: the brokers are older than Kafka 2.5 (no TxnOffsetCommit v3, KIP-447): " +
	"the engine's transactions need Kafka 2.5 or later; upgrade the brokers, or run the goka engine (engine.backend: goka)")

// implicitOffsets asks a broker whether a TxnOffsetCommit adds the group's
// offsets to the transaction by itself (transaction version 2, KIP-890);
// before it, AddOffsetsToTxn must come first.
func implicitOffsets(ctx context.Context, cl *kgo.Client) (bool, error) {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return false, &sessionError{fmt.Errorf("txloop: asking the brokers for their versions: %w", err)}
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return false, &sessionError{fmt.Errorf("txloop: asking the brokers for their versions: %w", err)}
	}
	if !slices.ContainsFunc(resp.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool {
		return k.ApiKey == int16(kmsg.TxnOffsetCommit) && k.MaxVersion >= 3
	}) {
		return false, errBrokersTooOld
	}
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" && f.MaxVersionLevel >= 2 {
			return true, nil
		}
	}
	return false, nil
}

// concurrentTxnRetries bounds the retries of a commit the broker refused
// with CONCURRENT_TRANSACTIONS (the previous transaction's markers still
// being written); after them the cycle aborts and its inputs come again.
const concurrentTxnRetries = 20

func (l *Loop) txnOffsetCommit(ctx context.Context, in inputOffsets) error {
	cl := l.client
	id, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("the producer id: %w", err)
	}
	retry := func(name string, send func() error) error {
		for tries := 0; ; tries++ {
			err := send()
			if !errors.Is(err, kerr.ConcurrentTransactions) || tries == concurrentTxnRetries {
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if !l.implicitOffsets {
		err := retry("AddOffsetsToTxn", func() error {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = l.cfg.TransactionalID, id, epoch, l.cfg.Group
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		})
		if err != nil {
			return err
		}
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = l.cfg.TransactionalID, l.cfg.Group, id, epoch
	req.MemberID, req.Generation = cl.GroupMetadata()
	for t, ps := range in {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = t
		for p, s := range ps {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, s.next, s.epoch
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return retry("TxnOffsetCommit", func() error {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		var errs []error
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err))
				}
			}
		}
		return errors.Join(errs...)
	})
}

// emptyCycleKey is the changelog key of the tombstone a cycle writes when
// its inputs changed nothing (a fence marker alone): the client ends a
// transaction it produced nothing in without EndTxn, which would leave the
// committed offsets open until the transaction times out. A tombstone of a
// key no handler writes deletes nothing, in the stores and in goka's views.
const emptyCycleKey = "\x00txloop/empty-cycle"

// endTransaction ends the cycle's transaction and reports whether it
// committed. An end the client did not attempt, or one the broker says must
// abort, is retried as an abort, as franz-go's session does. A commit whose
// outcome is unknown (UNKNOWN_SERVER_ERROR: the coordinator may have
// committed it) is ended as an abort too, which resets the producer, and
// then fails the session: deciding the inputs again here could repeat a
// committed cycle, so the member rejoins, and its stores and offsets come
// from what the brokers hold.
func (l *Loop) endTransaction(ctx context.Context, try kgo.TransactionEndTry) (bool, error) {
	var unknown error
	for tries := 0; ; tries++ {
		err := l.client.EndTransaction(ctx, try)
		switch {
		case err == nil && unknown != nil:
			return false, fmt.Errorf("the outcome of a commit is unknown: %w", unknown)
		case err == nil:
			return bool(try), nil
		case tries < 10 && (errors.Is(err, kerr.OperationNotAttempted) || errors.Is(err, kerr.TransactionAbortable) ||
			errors.Is(err, kerr.UnknownServerError)):
			if try == kgo.TryCommit && errors.Is(err, kerr.UnknownServerError) {
				unknown = err
			}
			l.log.Info("txloop: ending a transaction failed; ending it as an abort", "err", err)
			try = kgo.TryAbort
		default:
			return false, err
		}
	}
}
