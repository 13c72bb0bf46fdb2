package config

import "testing"

func TestParseBackend(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		fails          bool
	}{
		{name: "unset is the default", in: "", want: BackendDefault},
		{name: "goka", in: "goka", want: BackendGoka},
		{name: "v1", in: "V1", want: BackendGoka},
		{name: "txloop", in: "txloop", want: BackendTxloop},
		{name: "v2", in: " v2 ", want: BackendTxloop},
		{name: "unknown", in: "v3", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBackend(tc.in)
			if (err != nil) != tc.fails || got != tc.want {
				t.Fatalf("ParseBackend(%q) = %q, %v; want %q, fails %v", tc.in, got, err, tc.want, tc.fails)
			}
		})
	}
}

func TestBackendInTheFile(t *testing.T) {
	base := "kafka: {brokers: [k:9092]}\nlocations: [{name: w, kind: warehouse}]\n"
	c, err := Parse([]byte(base))
	if err != nil || c.Engine.Backend != BackendDefault {
		t.Fatalf("no engine.backend: %q, %v; want the default %s", c.Engine.Backend, err, BackendDefault)
	}
	if c, err := Parse([]byte(base + "engine: {backend: txloop}\n")); err != nil || c.Engine.Backend != BackendTxloop {
		t.Fatalf("engine.backend txloop: %v", err)
	}
	if _, err := Parse([]byte(base + "engine: {backend: kafka-streams}\n")); err == nil {
		t.Fatal("engine.backend kafka-streams was accepted")
	} else {
		t.Log(err)
	}
}
