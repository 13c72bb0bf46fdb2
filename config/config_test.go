package config

import (
	"strings"
	"testing"
)

func TestParseReportsEveryProblemWithItsPath(t *testing.T) {
	_, err := Parse([]byte(`
kafka: {partitions: 0, brokers: []}
locations:
  - {name: a, kind: warehouse}
  - {name: a, kind: garage}
channels:
  - {name: ozon, marketplace: ozon, locations: [a, b], share: 1.5, safety_stock: -1}
`))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"kafka.brokers", "locations[1].name: \"a\" is listed twice", "locations[1].kind",
		"channels[0].locations[1]: unknown location \"b\"", "channels[0].share", "channels[0].safety_stock",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestParseRefusesUnknownKeys(t *testing.T) {
	_, err := Parse([]byte("kafka: {brokers: [x:1]}\nlocatoins: []\n"))
	if err == nil || !strings.Contains(err.Error(), "locatoins") {
		t.Fatalf("want the misspelt key named, got %v", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	c, err := Load("../examples/stocksync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Locations) != 3 || len(c.Channels) == 0 || c.Kafka.Brokers[0] != "127.0.0.1:19092" {
		t.Fatalf("example config: %+v", c)
	}
}
