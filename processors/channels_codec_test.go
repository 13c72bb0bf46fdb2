package processors

import (
	"errors"
	"reflect"
	"testing"
)

func TestChannelsStateCodec(t *testing.T) {
	st := &ChannelsState{Seq: 7, At: 1700000000123, Rules: 1<<63 + 5, Version: 3,
		Available: map[string]int64{"msk-1": 4, "dark-1": -2},
		ATS:       map[string]int64{"web": 4, "ozon": 0},
		Sinks: map[string]*SinkState{
			"web":  {Want: 4, WantVersion: 3, WantAt: 1700000000123, Acked: 5, AckedVersion: 2, AckedAt: 1700000000100},
			"ozon": {Want: 0, WantVersion: 3, Parked: "offer archived"},
		}}
	raw := st.AppendBinary(nil)
	got, err := DecodeChannelsState(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, st)
	}
	if again := got.AppendBinary(nil); string(again) != string(raw) {
		t.Fatal("the same state encodes to different bytes")
	}

	for name, bad := range map[string][]byte{
		"empty":          {},
		"other format":   append([]byte{2}, raw[1:]...),
		"trailing bytes": append(raw[:len(raw):len(raw)], 0),
		"truncated":      raw[:len(raw)-3],
		// seq 1, at 0, rules 0, version 0, locations "b" then "a", no ATS, no sinks
		"unsorted keys": {channelsFormatV1, 2, 0, 0, 0, 2, 1, 'b', 2, 1, 'a', 2, 0, 0},
	} {
		if _, err := DecodeChannelsState(bad); !errors.Is(err, ErrCorruptChannelsState) {
			t.Errorf("%s: got %v, want ErrCorruptChannelsState", name, err)
		}
	}
}

func TestChannelsStateReadsJSONOfEarlierBuilds(t *testing.T) {
	got, err := DecodeChannelsState([]byte(`{"seq":4,"at":10,"available":{"msk-1":3},"ats":{"web":3},"rules":9,"version":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 4 || got.Version != 2 || got.ATS["web"] != 3 || got.Available["msk-1"] != 3 || got.Rules != 9 {
		t.Fatalf("decoded %+v", got)
	}
}

// FuzzDecodeChannelsState: any bytes decode or fail cleanly, and a binary
// value that decodes encodes back to the same bytes (one encoding per state).
func FuzzDecodeChannelsState(f *testing.F) {
	f.Add((&ChannelsState{Seq: 1, Available: map[string]int64{"a": 1}, ATS: map[string]int64{"web": 1},
		Sinks: map[string]*SinkState{"web": {Want: 1, WantVersion: 1, Parked: "x"}}}).AppendBinary(nil))
	f.Add([]byte(`{"seq":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := DecodeChannelsState(raw)
		if err != nil || (len(raw) > 0 && raw[0] == '{') {
			return
		}
		if again := st.AppendBinary(nil); string(again) != string(raw) {
			t.Fatalf("decoded %x, re-encoded %x", raw, again)
		}
	})
}
