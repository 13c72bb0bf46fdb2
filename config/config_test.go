package config

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseReportsEveryProblemWithItsPath(t *testing.T) {
	_, err := Parse([]byte(`
kafka: {partitions: 0, brokers: []}
locations:
  - {name: a, kind: warehouse}
  - {name: a, kind: garage}
channels:
  - {name: ozon, marketplace: ozon, locations: [a, b], share: 1.5, safety_stock: -1}
engine: {order_values: protobuf}
`))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"kafka.brokers", "locations[1].name: \"a\" is listed twice", "locations[1].kind",
		"channels[0].locations[1]: unknown location \"b\"", "channels[0].share", "channels[0].safety_stock",
		"engine.order_values: \"protobuf\": want binary (default) or json",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestParseNamesUnknownKeysWithTheirPaths(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each a line of the error
	}{
		{name: "top level", yaml: "kafka: {brokers: [x:1]}\nlocatoins: []\n",
			want: []string{"locatoins: unknown key (known: kafka, http, data_dir, engine, locations, channels, wms, fraud, reconcile), line 2"}},
		{name: "nested", yaml: "kafka:\n  brokers: [x:1]\n  partitionz: 4\nlocations: [{name: a, kind: store}]\n",
			want: []string{"kafka.partitionz: unknown key (known: brokers, topic_prefix, partitions, replication, tls, sasl), line 3"}},
		{name: "in a list, every one at once", yaml: "kafka: {brokers: [x:1], tls: {enable: true}}\n" +
			"locations: [{name: a, kind: store}, {nmae: b, kind: store}]\n" +
			"channels: [{name: web, marketplace: webhook, locations: [a], endpoint: {mock: true, urll: x}}]\n",
			want: []string{
				"kafka.tls.enable: unknown key (known: enabled, ca_file, cert_file, key_file, insecure_skip_verify), line 1",
				"locations[1].nmae: unknown key (known: name, kind), line 2",
				"channels[0].endpoint.urll: unknown key (known: mock, url, token, token_file, client_id, warehouse_id, campaign_id), line 3",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("want an error")
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadNamesTheFileAndThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stocksync.yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  brokers: [x:1]\n  partitionz: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := "config " + path + ": kafka.partitionz: unknown key (known: brokers, topic_prefix, partitions, replication, tls, sasl), line 3"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
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

func TestHTTPLimitsAndKafkaSecurity(t *testing.T) {
	const base = "kafka: {brokers: [x:1]}\nlocations: [{name: a, kind: store}]\n"
	tests := []struct {
		name  string
		yaml  string
		want  []string // every one must be in the error; none means valid
		check func(t *testing.T, c *Config)
	}{
		{name: "defaults", yaml: base, check: func(t *testing.T, c *Config) {
			if c.HTTP.RatePerS != 1000 || c.HTTP.MaxInFlight != 512 || c.Kafka.TLS.Enabled || c.Kafka.SASL.Mechanism != "" {
				t.Errorf("defaults: %+v %+v", c.HTTP, c.Kafka)
			}
		}},
		{name: "set", yaml: "kafka:\n  brokers: [x:1]\n  tls: {enabled: true, ca_file: ca.pem, cert_file: c.pem, key_file: k.pem}\n" +
			"  sasl: {mechanism: SCRAM-SHA-512, username: stocksync, password_file: /run/secrets/kafka}\n" +
			"http: {rate_per_s: 2.5, max_in_flight: 64}\nlocations: [{name: a, kind: store}]\n",
			check: func(t *testing.T, c *Config) {
				if c.HTTP.RatePerS != 2.5 || c.HTTP.MaxInFlight != 64 || c.Kafka.TLS.CAFile != "ca.pem" || c.Kafka.SASL.PasswordFile != "/run/secrets/kafka" {
					t.Errorf("parsed: %+v %+v", c.HTTP, c.Kafka)
				}
			}},
		{name: "everything wrong at once", yaml: "kafka:\n  brokers: [x:1]\n" +
			"  tls: {enabled: false, ca_file: ca.pem}\n" +
			"  sasl: {mechanism: GSSAPI, password: a, password_file: b}\n" +
			"http: {rate_per_s: -1, max_in_flight: -2}\nlocations: [{name: a, kind: store}]\n",
			want: []string{
				"kafka.tls.enabled: is false, but other kafka.tls settings are given",
				`kafka.sasl.mechanism: "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`,
				"kafka.sasl.username: must not be empty",
				"kafka.sasl: give exactly one of password and password_file",
				"http.rate_per_s: -1 is outside (0, 1e6]",
				"http.max_in_flight: -2 is outside 1..1000000",
			}},
		{name: "half a client certificate", yaml: "kafka:\n  brokers: [x:1]\n  tls: {enabled: true, cert_file: c.pem}\nlocations: [{name: a, kind: store}]\n",
			want: []string{"kafka.tls: cert_file and key_file go together"}},
		{name: "credentials without a mechanism", yaml: "kafka:\n  brokers: [x:1]\n  sasl: {username: u, password: p}\nlocations: [{name: a, kind: store}]\n",
			want: []string{"kafka.sasl.mechanism: is empty, but credentials are given"}},
		{name: "mechanism without a password", yaml: "kafka:\n  brokers: [x:1]\n  sasl: {mechanism: PLAIN, username: u}\nlocations: [{name: a, kind: store}]\n",
			want: []string{"kafka.sasl: give exactly one of password and password_file"}},
		{name: "unknown tls key", yaml: "kafka:\n  brokers: [x:1]\n  tls: {enable: true}\nlocations: [{name: a, kind: store}]\n",
			want: []string{"kafka.tls.enable: unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				tc.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("Parse: nil error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// FuzzParse holds that no file makes the config parser panic, and that what
// it accepts is valid and keeps its defaults.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../examples/stocksync.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		"kafka: {brokers: [x:1]}\nlocations: [{name: a, kind: store}]\n",
		"kafka: {brokers: [x:1], tls: {enabled: true, cert_file: c, key_file: k}, sasl: {mechanism: PLAIN, username: u, password: p}}\nlocations: [{name: a, kind: store}]\n",
		"kafka: {partitions: 0, brokers: []}\nlocations: [{name: a, kind: garage}]\nchannels: [{name: x, marketplace: ozon, locations: [b], share: .nan}]\n",
		"engine: {sweep_interval: 1h, write_timeout: x}\n", "http: {rate_per_s: .inf, max_in_flight: 9999999999999}\n",
		"", "---", "[]", "&a {b: *a}", "kafka: !!binary aGVsbG8=",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		before := *c
		c.Defaults()
		if c.HTTP != before.HTTP || c.Kafka.TopicPrefix != before.Kafka.TopicPrefix || c.Engine != before.Engine || c.DataDir != before.DataDir {
			t.Fatalf("Defaults changed a parsed config: %+v -> %+v", before, *c)
		}
	})
}

// TestKafkaSecurityAgainstKfake connects franz-go (FranzOpts) and sarama
// (SaramaNet) to a kfake cluster that requires TLS with a client
// certificate and each SASL mechanism, with the right password and a wrong one.
func TestKafkaSecurityAgainstKfake(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	passFile := filepath.Join(dir, "password")
	if err := os.WriteFile(passFile, []byte("s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(pki.server),
				kfake.EnableSASL(), kfake.Superuser(mech, "stocksync", "s3cret-pass"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			k := Kafka{
				Brokers: cluster.ListenAddrs(),
				TLS:     TLS{Enabled: true, CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile},
				SASL:    SASL{Mechanism: mech, Username: "stocksync", PasswordFile: passFile},
			}
			if err := franzPing(k); err != nil {
				t.Errorf("franz-go: %v", err)
			}
			if err := saramaPing(k); err != nil {
				t.Errorf("sarama: %v", err)
			}
			wrong := k
			wrong.SASL.PasswordFile, wrong.SASL.Password = "", "wrong"
			if err := franzPing(wrong); err == nil {
				t.Error("franz-go with a wrong password: connected")
			}
			if err := saramaPing(wrong); err == nil {
				t.Error("sarama with a wrong password: connected")
			}
			plaintext := k
			plaintext.TLS = TLS{}
			if err := franzPing(plaintext); err == nil {
				t.Error("franz-go without TLS: connected")
			}
		})
	}
}

func TestKafkaSecurityFileErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		k    Kafka
		want string
	}{
		{name: "missing CA", k: Kafka{TLS: TLS{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}}, want: "kafka.tls.ca_file: open"},
		{name: "CA not PEM", k: Kafka{TLS: TLS{Enabled: true, CAFile: notPEM}}, want: "holds no PEM certificate"},
		{name: "bad key pair", k: Kafka{TLS: TLS{Enabled: true, CertFile: notPEM, KeyFile: notPEM}}, want: "kafka.tls.cert_file, key_file:"},
		{name: "missing password file", k: Kafka{SASL: SASL{Mechanism: SASLPlain, Username: "u", PasswordFile: filepath.Join(dir, "nope")}},
			want: "kafka.sasl.password_file: open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.k.FranzOpts(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FranzOpts: %v, want %q", err, tc.want)
			}
			if err := tc.k.SaramaNet(sarama.NewConfig()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SaramaNet: %v, want %q", err, tc.want)
			}
		})
	}
	opts, err := Kafka{}.FranzOpts()
	if err != nil || len(opts) != 0 {
		t.Errorf("FranzOpts without TLS and SASL = %d options, %v", len(opts), err)
	}
	c := sarama.NewConfig()
	if err := (Kafka{}).SaramaNet(c); err != nil || c.Net.TLS.Enable || c.Net.SASL.Enable {
		t.Errorf("SaramaNet without TLS and SASL changed the config: %v", err)
	}
}

func franzPing(k Kafka) error {
	opts, err := k.FranzOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(k.Brokers...))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func saramaPing(k Kafka) error {
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.Metadata.Retry.Max = 0
	c.Net.DialTimeout = 5 * time.Second
	if err := k.SaramaNet(c); err != nil {
		return err
	}
	cl, err := sarama.NewClient(k.Brokers, c)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.Topics()
	return err
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, in PEM files, and the server's TLS config that requires the
// client certificate.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    *tls.Config
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
		key := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair, certPEM, keyPEM
	}
	serverPair, _, _ := issue(2, x509.ExtKeyUsageServerAuth)
	_, clientCert, clientKey := issue(3, x509.ExtKeyUsageClientAuth)
	p := testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client-key.pem")}
	for path, data := range map[string][]byte{
		p.caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.certFile: clientCert,
		p.keyFile:  clientKey,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p.server = &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	return p
}

func TestParseSurvivesAliasCycles(t *testing.T) {
	for _, doc := range []string{"kafka: &a {brokers: [x:1], tls: *a}\n", "locations: &l [*l]\n", "a: &a [*a, *a]\nb: *a\n"} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%q: want an error", doc)
		}
	}
}
