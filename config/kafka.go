package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TLS encrypts the connections to the brokers (see FranzOpts, SaramaNet).
type TLS struct {
	Enabled bool `yaml:"enabled"` // default false; the other fields need it
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates;
	// default the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are this client's PEM certificate and key, for
	// brokers that require client certificates (mTLS); both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify accepts any broker certificate: tests only.
	// Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL authenticates to the brokers (see FranzOpts, SaramaNet).
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; default none
	// (empty). PLAIN sends the password as is: use it with TLS.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"` // required with a mechanism
	// Password, or PasswordFile naming a file that holds it (a trailing
	// newline is dropped): exactly one with a mechanism.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

func (t TLS) validate(bad func(path, format string, args ...any)) {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify {
			bad("kafka.tls.enabled", "is false, but other kafka.tls settings are given: set enabled: true or remove them")
		}
		return
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("kafka.tls", "cert_file and key_file go together: give both for a client certificate, or neither")
	}
}

func (s SASL) validate(bad func(path, format string, args ...any)) {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			bad("kafka.sasl.mechanism", "is empty, but credentials are given: name one of %s, %s, %s", SASLPlain, SASLScramSHA256, SASLScramSHA512)
		}
		return
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		bad("kafka.sasl.mechanism", "%q is not one of %s, %s, %s", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if s.Username == "" {
		bad("kafka.sasl.username", "must not be empty with a mechanism")
	}
	if (s.Password == "") == (s.PasswordFile == "") {
		bad("kafka.sasl", "give exactly one of password and password_file")
	}
}

// tlsConfig builds the client TLS configuration, nil when TLS is off.
func (t TLS) tlsConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file, key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// password returns the SASL password, read from PasswordFile if set.
func (s SASL) password() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.password_file: %w", err)
	}
	p := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if p == "" {
		return "", fmt.Errorf("kafka.sasl.password_file: %s is empty", s.PasswordFile)
	}
	return p, nil
}

// FranzOpts returns the franz-go options for kafka.tls and kafka.sasl
// (none when both are off), to append to a client's own options, seed
// brokers included. It reads the files they name, so it fails on a missing
// or bad certificate, key or password file.
func (k Kafka) FranzOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tc, err := k.TLS.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASL.Mechanism == "" {
		return opts, nil
	}
	pass, err := k.SASL.password()
	if err != nil {
		return nil, err
	}
	switch auth := (scram.Auth{User: k.SASL.Username, Pass: pass}); k.SASL.Mechanism {
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: k.SASL.Username, Pass: pass}.AsMechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(auth.AsSha256Mechanism()))
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(auth.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: %q is not supported", k.SASL.Mechanism)
	}
	return opts, nil
}

// SaramaNet sets c.Net.TLS and c.Net.SASL (goka's clients) from kafka.tls
// and kafka.sasl, leaving them as they are when both are off. It reads the
// files they name, so it fails on a missing or bad file.
func (k Kafka) SaramaNet(c *sarama.Config) error {
	tc, err := k.TLS.tlsConfig()
	if err != nil {
		return err
	}
	if tc != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tc
	}
	if k.SASL.Mechanism == "" {
		return nil
	}
	pass, err := k.SASL.password()
	if err != nil {
		return err
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.Version = sarama.SASLHandshakeV1 // Kafka 4 no longer speaks v0
	c.Net.SASL.User = k.SASL.Username
	c.Net.SASL.Password = pass
	switch k.SASL.Mechanism {
	case SASLPlain:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case SASLScramSHA256, SASLScramSHA512:
		sha512 := k.SASL.Mechanism == SASLScramSHA512
		c.Net.SASL.Mechanism = sarama.SASLMechanism(k.SASL.Mechanism)
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{sha512: sha512} }
	default:
		return fmt.Errorf("kafka.sasl.mechanism: %q is not supported", k.SASL.Mechanism)
	}
	return nil
}

// saramaSCRAM is sarama's SCRAM client on franz-go's SCRAM implementation
// (sarama ships none). Sarama calls Step("") for the client-first message,
// then Step with each server message until Done.
type saramaSCRAM struct {
	sha512 bool
	mech   sasl.Mechanism
	sess   sasl.Session
	done   bool
}

func (s *saramaSCRAM) Begin(user, password, authzID string) error {
	a := scram.Auth{User: user, Pass: password, Zid: authzID}
	s.mech, s.sess, s.done = a.AsSha256Mechanism(), nil, false
	if s.sha512 {
		s.mech = a.AsSha512Mechanism()
	}
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) {
	if s.sess == nil {
		sess, first, err := s.mech.Authenticate(context.Background(), "")
		if err != nil {
			return "", err
		}
		s.sess = sess
		return string(first), nil
	}
	done, resp, err := s.sess.Challenge([]byte(challenge))
	if err != nil {
		return "", err
	}
	s.done = done
	return string(resp), nil
}

func (s *saramaSCRAM) Done() bool { return s.done }
