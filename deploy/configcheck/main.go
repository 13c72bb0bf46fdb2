// Command configcheck validates the stocksync configuration that the Helm
// chart renders, with the same parser `stocksync serve` uses, so a chart
// change that would stop the pods at start fails in CI instead.
//
//	helm template x deploy/helm/stocksync --show-only templates/configmap.yaml | go run ./deploy/configcheck
//
// It reads Kubernetes manifests on stdin (several documents allowed) and
// checks data["stocksync.yaml"] of every ConfigMap that has one; it exits 1
// on the first invalid one and 2 when it found none. The files the config
// names (TLS, passwords, tokens) are not read: they exist only in the pod.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/config"
)

type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
}

func main() {
	dec := yaml.NewDecoder(os.Stdin)
	checked := 0
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "configcheck: reading manifests: %v\n", err)
			os.Exit(1)
		}
		file, ok := m.Data["stocksync.yaml"]
		if m.Kind != "ConfigMap" || !ok {
			continue
		}
		c, err := config.Parse([]byte(file))
		if err != nil {
			fmt.Fprintf(os.Stderr, "configcheck: ConfigMap %s: stocksync.yaml is invalid:\n%v\n", m.Metadata.Name, err)
			os.Exit(1)
		}
		checked++
		fmt.Printf("configcheck: ConfigMap %s: valid (%d brokers, %d partitions, %d locations, %d channels)\n",
			m.Metadata.Name, len(c.Kafka.Brokers), c.Kafka.Partitions, len(c.Locations), len(c.Channels))
	}
	if checked == 0 {
		fmt.Fprintln(os.Stderr, "configcheck: no ConfigMap with stocksync.yaml on stdin")
		os.Exit(2)
	}
}
