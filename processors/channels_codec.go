package processors

import (
	"errors"
	"slices"

	"github.com/stocksync/stocksync/internal/binenc"
)

// The channels table value is read and written on every stock change and
// every marketplace verdict, so it is binary like the ledger rather than
// JSON (which cost 6% of a busy engine's CPU decoding it). Layout (integers
// varints, strings length-prefixed, maps as a count and entries sorted by
// key): format, seq, at, rules, version, available per location, ATS per
// channel, then per channel want, want_version, want_at, acked,
// acked_version, acked_at, parked.
const channelsFormatV1 = 1

// ErrCorruptChannelsState is returned for bytes that are not a channels
// table value.
var ErrCorruptChannelsState = errors.New("processors: corrupt channels state")

// AppendBinary appends the encoding of st to buf.
func (st *ChannelsState) AppendBinary(buf []byte) []byte {
	buf = append(buf, channelsFormatV1)
	buf = binenc.AppendVarint(buf, st.Seq)
	buf = binenc.AppendVarint(buf, st.At)
	buf = binenc.AppendUvarint(buf, st.Rules)
	buf = binenc.AppendVarint(buf, st.Version)
	buf = appendQuantities(buf, st.Available)
	buf = appendQuantities(buf, st.ATS)
	buf = binenc.AppendUvarint(buf, uint64(len(st.Sinks)))
	var keys [8]string
	for _, ch := range sortedKeys(st.Sinks, keys[:0]) {
		s := st.Sinks[ch]
		buf = binenc.AppendString(buf, ch)
		for _, v := range []int64{s.Want, s.WantVersion, s.WantAt, s.Acked, s.AckedVersion, s.AckedAt} {
			buf = binenc.AppendVarint(buf, v)
		}
		buf = binenc.AppendString(buf, s.Parked)
	}
	return buf
}

func appendQuantities(buf []byte, m map[string]int64) []byte {
	buf = binenc.AppendUvarint(buf, uint64(len(m)))
	var keys [8]string
	for _, k := range sortedKeys(m, keys[:0]) {
		buf = binenc.AppendString(buf, k)
		buf = binenc.AppendVarint(buf, m[k])
	}
	return buf
}

// sortedKeys appends m's keys to buf, sorted: with buf on the caller's
// stack, a state's few channels and locations cost no allocation (sorting
// them through an iterator was 6 % of the engine's allocations).
func sortedKeys[V any](m map[string]V, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// DecodeChannelsState decodes a channels table value. Values written as
// JSON by builds before the binary encoding are read too.
func DecodeChannelsState(v []byte) (*ChannelsState, error) {
	st := &ChannelsState{}
	d, _, err := binenc.Open(v, st, ErrCorruptChannelsState, channelsFormatV1)
	if err != nil {
		return nil, err
	}
	if d == nil { // an earlier build's JSON
		return st, nil
	}
	st.Seq, st.At, st.Rules, st.Version = d.Varint(), d.Varint(), d.Uvarint(), d.Varint()
	st.Available = decodeQuantities(d)
	st.ATS = decodeQuantities(d)
	if n := d.Count(); n > 0 {
		st.Sinks = make(map[string]*SinkState, n)
		prev := ""
		for i := range n {
			ch := d.String()
			if i > 0 && ch <= prev {
				d.Fail("channel order")
			}
			prev = ch
			st.Sinks[ch] = &SinkState{Want: d.Varint(), WantVersion: d.Varint(), WantAt: d.Varint(),
				Acked: d.Varint(), AckedVersion: d.Varint(), AckedAt: d.Varint(), Parked: d.String()}
		}
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return st, nil
}

func decodeQuantities(d *binenc.Decoder) map[string]int64 {
	n := d.Count()
	if n == 0 {
		return nil
	}
	m := make(map[string]int64, n)
	prev := ""
	for i := range n {
		k := d.String()
		if i > 0 && k <= prev {
			d.Fail("key order")
		}
		prev = k
		m[k] = d.Varint()
	}
	return m
}
