package contract

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeFastAgrees: a command the fast decoder accepts is one
// encoding/json accepts too, as the same command. (What the fast one
// refuses goes to encoding/json anyway.)
//
//	go test ./contract -run '^$' -fuzz FuzzDecodeFastAgrees -fuzztime 2m
func FuzzDecodeFastAgrees(f *testing.F) {
	for _, seed := range []string{
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":2,"location":"dc-1"}],"channel":"web","ttl_s":600,"request_id":"r-1"}`,
		`{"type":"confirm","order_id":"o-1"}`,
		`{"TYPE":"reserve","Order_Id":"o-1","lines":[{"SKU":"milk","Qty":1}]}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1.0}]}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1e2}]}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":99999999999999999999}]}`,
		`{"type":"reserve","order_id":"o-1","order_id":"o-2","lines":[{"sku":"milk","qty":1}]}`,
		`{"type":"reserve","order_id":"o\u00e9\ud800","lines":[{"sku":"milk","qty":1}]}`,
		"{\"type\":\"reserve\",\"order_id\":\"o\xff\",\"lines\":[{\"sku\":\"milk\",\"qty\":1}]}",
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1}]} {}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1}]}` + "\f",
		`{"type":"reserve","order_id":"o-1","lines":null,"ttl_s":null}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1,"price":3}]}`,
		`{"type":"ship","order_id":"o-1","lines":[]}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":"1"}]}`,
		`[{"type":"confirm","order_id":"o-1"}]`,
		` {"type":"release","order_id":"o-1"}` + "\n",
		"{\"type\":\"confirm\",\"order_id\":\"o\xff\xff\xff\xff\xff\"}xxxxxxxxxx",
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1}],"ttl_s":-00}`,
		`{"type":"confirm","order_id":"o\u0041\"x"}`,
		`{"type":"reserve","order_id":"o","lines":[{"sku":"a","qty":1},{"sku":"b","qty":1,"location":"x"}],"lines":[{"sku":"a","qty":1}],"lines":[{"sku":"a","qty":1},{"sku":"c","qty":2}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeValidFast(data)
		if !ok {
			return
		}
		var std OrderCommand
		err := DecodeStrict(data, &std)
		if err == nil {
			err = std.Validate()
		}
		if err != nil {
			t.Fatalf("%q: the fast decoder accepted %+v, encoding/json refuses it: %v", data, fast, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q: the fast decoder read %+v, encoding/json %+v", data, fast, std)
		}
	})
}

// The fast decoder refuses unknown fields itself (goccy does only through
// a Decoder): whatever is not a command's own key, written as the contract
// spells it, goes to encoding/json.
func TestPlainFieldsTakesOnlyTheContractsKeys(t *testing.T) {
	for in, want := range map[string]bool{
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":2,"location":"dc-1"}],"channel":"web","ttl_s":600,"request_id":"r-1"}`: true,
		` { "type" : "confirm" , "order_id" : "o-\"1" } `:                                true,
		`{"type":"reserve","order_id":"o-1","lines":null}`:                               true,
		`{"type":"reserve","order_id":"o-1","lines":[1,"x",{}]}`:                         true, // goccy then refuses the numbers
		`{"type":"reserve","order_id":"o-1","price":3}`:                                  false,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1,"price":3}]}`: false,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","x":{"qty":1}}]}`:     false,
		`{"TYPE":"confirm","order_id":"o-1"}`:                                            false, // encoding/json takes it, case-blind
		`{"typ\u0065":"confirm","order_id":"o-1"}`:                                       false, // an escape in a key
		`{"type":"confirm","order_id":"o-1","channel":{"lines":[{"price":1}]}}`:          true,  // a wrong type goccy refuses
		`[{"type":"confirm","order_id":"o-1"}]`:                                          false,
		`{"type":"confirm","order_id":"o-1","order_id":"o-2"}`:                           false, // a repeated key
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"a","qty":1,"qty":2}]}`:      false,
	} {
		if got := plainFields([]byte(in)); got != want {
			t.Errorf("plainFields(%s) = %v, want %v", in, got, want)
		}
	}
	if c, ok := decodeValidFast([]byte(`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":2}],"request_id":"r-1"}`)); !ok || c.Lines[0].Qty != 2 {
		t.Errorf("the fast decoder did not take a plain reserve: %+v, %v", c, ok)
	}
	if _, ok := decodeValidFast([]byte(`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1,"price":3}]}`)); ok {
		t.Error("the fast decoder took a line with an unknown field")
	}
	if _, err := DecodeOrderCommand([]byte(`{"type":"reserve","order_id":"o-1","lines":[{"sku":"milk","qty":1,"price":3}]}`)); err == nil || !strings.Contains(err.Error(), "price") {
		t.Errorf("a line with an unknown field: %v, want encoding/json's refusal naming it", err)
	}
}
