package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stocksync runs the command line as main does, with env as the whole
// environment, and returns what the user sees.
func stocksync(t *testing.T, envVars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runMain(context.Background(), args, func(k string) string { return envVars[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("kafka:\n  brokers: [x:1]\n  partitionz: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		stdout     string // a substring; "" means empty
		stderr     string // a substring; "" means empty
		stdoutHead string // the start of stdout, when set
	}{
		{name: "help", args: []string{"--help"}, stdoutHead: "stocksync: a real-time stock engine"},
		{name: "-h", args: []string{"-h"}, stdout: "STOCKSYNC_LOG_FORMAT"},
		{name: "serve --help", args: []string{"serve", "--help"}, stdoutHead: "Usage: stocksync serve [flags]", stdout: "$STOCKSYNC_CONFIG"},
		{name: "dev -h", args: []string{"dev", "-h"}, stdoutHead: "Usage: stocksync dev [flags]", stdout: "-kafka-port"},
		{name: "admin --help", args: []string{"admin", "--help"}, stdoutHead: "Usage: stocksync admin [flags]", stdout: "$STOCKSYNC_BROKERS"},
		{name: "help wins over other flags", args: []string{"serve", "--brokers", "x:1", "--help"}, stdoutHead: "Usage: stocksync serve"},
		{name: "version", args: []string{"version"}, stdoutHead: "stocksync ", stdout: "(revision "},
		{name: "no command", args: nil, code: 2, stderr: "Usage:"},
		{name: "unknown command", args: []string{"srve"}, code: 2, stderr: `stocksync: unknown command "srve"`},
		{name: "unknown flag", args: []string{"serve", "--brokerz", "x"}, code: 2,
			stderr: "stocksync serve: flag provided but not defined: -brokerz\n\nUsage: stocksync serve [flags]"},
		{name: "stray argument", args: []string{"admin", "config.yaml"}, code: 2, stderr: `stocksync admin: unexpected argument "config.yaml"`},
		{name: "no config", args: []string{"serve"}, code: 1,
			stderr: "stocksync: serve needs --config FILE or $STOCKSYNC_CONFIG (try examples/stocksync.yaml)\n"},
		{name: "unknown config key, file from the environment", env: map[string]string{"STOCKSYNC_CONFIG": badConfig},
			args: []string{"admin"}, code: 1,
			stderr: "stocksync: config " + badConfig + ": kafka.partitionz: unknown key (known: brokers, topic_prefix, partitions, replication, tls, sasl), line 3\n"},
		{name: "reconcile --help", args: []string{"reconcile", "--help"}, stdoutHead: "Usage: stocksync reconcile [flags]", stdout: "STOCKSYNC_TOKEN"},
		{name: "reconcile without a file", args: []string{"reconcile"}, code: 1, stderr: "stocksync: reconcile needs --file FILE\n"},
		{name: "reconcile through an instance and Kafka at once", args: []string{"reconcile", "--file", "x.csv", "--api", "http://h:1", "--config", "c.yaml"},
			code: 1, stderr: "--api and --config exclude each other"},
		{name: "bad log format", env: map[string]string{"STOCKSYNC_LOG_FORMAT": "jsn"}, args: []string{"serve"}, code: 2,
			stderr: `stocksync: STOCKSYNC_LOG_FORMAT="jsn" is neither text nor json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := stocksync(t, tt.env, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			check := func(what, got, want string) {
				if want == "" && got != "" {
					t.Errorf("%s should be empty, got:\n%s", what, got)
				}
				if !strings.Contains(got, want) {
					t.Errorf("%s lacks %q:\n%s", what, want, got)
				}
			}
			check("stderr", stderr, tt.stderr)
			if tt.stdoutHead != "" {
				if !strings.HasPrefix(stdout, tt.stdoutHead) {
					t.Errorf("stdout does not start with %q:\n%s", tt.stdoutHead, stdout)
				}
			} else {
				check("stdout", stdout, tt.stdout)
			}
			if tt.stdoutHead != "" && tt.stdout != "" && !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout)
			}
		})
	}
}

func TestFlagsWinOverEnvironmentOverFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stocksync.yaml")
	other := filepath.Join(dir, "other.yaml")
	write := func(path, brokers, addr string) {
		y := "kafka: {brokers: [" + brokers + "]}\nhttp: {addr: \"" + addr + "\"}\nlocations: [{name: a, kind: store}]\n"
		if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(file, "file:9092", "127.0.0.1:1111")
	write(other, "other:9092", "127.0.0.1:2222")
	env := map[string]string{"STOCKSYNC_CONFIG": file, "STOCKSYNC_BROKERS": "env-a:9092, env-b:9092", "STOCKSYNC_HTTP": "0.0.0.0:3333"}
	tests := []struct {
		name        string
		env         map[string]string
		flags       overrides
		wantBrokers string
		wantAddr    string
	}{
		{name: "file alone", env: map[string]string{"STOCKSYNC_CONFIG": file},
			wantBrokers: "file:9092", wantAddr: "127.0.0.1:1111"},
		{name: "environment over file", env: env,
			wantBrokers: "env-a:9092,env-b:9092", wantAddr: "0.0.0.0:3333"},
		{name: "flags over environment", env: env,
			flags:       overrides{config: other, brokers: "flag:9092", http: "127.0.0.1:4444"},
			wantBrokers: "flag:9092", wantAddr: "127.0.0.1:4444"},
		{name: "--config over STOCKSYNC_CONFIG, environment over that file", env: env, flags: overrides{config: other},
			wantBrokers: "env-a:9092,env-b:9092", wantAddr: "0.0.0.0:3333"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := loadSettings("serve", func(k string) string { return tt.env[k] }, tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(s.Kafka.Brokers, ","); got != tt.wantBrokers || s.HTTP.Addr != tt.wantAddr {
				t.Errorf("brokers %s, http %s; want %s, %s", got, s.HTTP.Addr, tt.wantBrokers, tt.wantAddr)
			}
		})
	}

	// Brokers from the environment complete a file that names none.
	bare := filepath.Join(dir, "bare.yaml")
	if err := os.WriteFile(bare, []byte("locations: [{name: a, kind: store}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSettings("serve", func(k string) string { return map[string]string{"STOCKSYNC_BROKERS": "k:9092"}[k] },
		overrides{config: bare}); err != nil {
		t.Errorf("STOCKSYNC_BROKERS should complete a file without brokers: %v", err)
	}
	_, err := loadSettings("serve", func(string) string { return "" }, overrides{config: bare})
	if want := "config " + bare + " with flags and environment: kafka.brokers: name at least one broker"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %q…", err, want)
	}
}

func TestJSONLogFormat(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger("", "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("stocksync serving", "http", "0.0.0.0:8080")
	log.Debug("not at info")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("the log is not one JSON object a line: %v\n%s", err, buf.String())
	}
	if line["level"] != "INFO" || line["msg"] != "stocksync serving" || line["http"] != "0.0.0.0:8080" {
		t.Errorf("log line: %s", buf.String())
	}
}
