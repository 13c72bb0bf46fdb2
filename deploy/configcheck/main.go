// Command configcheck validates what the Helm chart renders with stocksync's
// own rules, so a chart change that would stop the pods at start, or scale
// them past the partitions, fails in CI instead.
//
//	helm template x deploy/helm/stocksync | go run ./deploy/configcheck
//
// It reads Kubernetes manifests on stdin (several documents allowed) and
// checks data["stocksync.yaml"] of every ConfigMap that has one with the
// parser `stocksync serve` uses. When a KEDA ScaledObject is among them, it
// checks that it targets the rendered StatefulSet, that the StatefulSet then
// leaves its replicas to the autoscaler, and that minReplicaCount ≤
// maxReplicaCount ≤ kafka.partitions. It exits 1 on the first problem and 2
// when it found no config. The files the config names (TLS, passwords,
// tokens) are not read: they exist only in the pod.
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
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas       *int `yaml:"replicas"` // StatefulSet
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"` // ScaledObject
		MinReplicaCount *int `yaml:"minReplicaCount"`
		MaxReplicaCount *int `yaml:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `yaml:"type"`
			Metadata map[string]string `yaml:"metadata"`
		} `yaml:"triggers"`
	} `yaml:"spec"`
}

func main() {
	if err := check(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "configcheck: %v\n", err)
		if errors.Is(err, errNoConfig) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errNoConfig = errors.New("no ConfigMap with stocksync.yaml on stdin")

func check(in io.Reader, out io.Writer) error {
	dec := yaml.NewDecoder(in)
	var configs []*config.Config
	var sets, scaled []manifest
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading manifests: %w", err)
		}
		switch m.Kind {
		case "ConfigMap":
			file, ok := m.Data["stocksync.yaml"]
			if !ok {
				continue
			}
			c, err := config.Parse([]byte(file))
			if err != nil {
				return fmt.Errorf("ConfigMap %s: stocksync.yaml is invalid:\n%w", m.Metadata.Name, err)
			}
			configs = append(configs, c)
			fmt.Fprintf(out, "configcheck: ConfigMap %s: valid (%d brokers, %d partitions, %d locations, %d channels)\n",
				m.Metadata.Name, len(c.Kafka.Brokers), c.Kafka.Partitions, len(c.Locations), len(c.Channels))
		case "StatefulSet":
			sets = append(sets, m)
		case "ScaledObject":
			scaled = append(scaled, m)
		}
	}
	if len(configs) == 0 {
		return errNoConfig
	}
	for _, so := range scaled {
		if err := checkScaledObject(so, sets, configs[0].Kafka.Partitions); err != nil {
			return fmt.Errorf("ScaledObject %s: %w", so.Metadata.Name, err)
		}
		fmt.Fprintf(out, "configcheck: ScaledObject %s: scales StatefulSet %s within %d..%d (kafka.partitions %d)\n",
			so.Metadata.Name, so.Spec.ScaleTargetRef.Name, *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount, configs[0].Kafka.Partitions)
	}
	return nil
}

func checkScaledObject(so manifest, sets []manifest, partitions int32) error {
	ref := so.Spec.ScaleTargetRef
	if so.APIVersion != "keda.sh/v1alpha1" {
		return fmt.Errorf("apiVersion %q, want keda.sh/v1alpha1", so.APIVersion)
	}
	if ref.Kind != "StatefulSet" || ref.APIVersion != "apps/v1" {
		return fmt.Errorf("scaleTargetRef %s %s, want apps/v1 StatefulSet", ref.APIVersion, ref.Kind)
	}
	var target *manifest
	for i := range sets {
		if sets[i].Metadata.Name == ref.Name {
			target = &sets[i]
		}
	}
	switch {
	case target == nil:
		return fmt.Errorf("scaleTargetRef names StatefulSet %q, which is not rendered", ref.Name)
	case target.Spec.Replicas != nil:
		return fmt.Errorf("StatefulSet %s sets replicas (%d): helm upgrade would fight the autoscaler", ref.Name, *target.Spec.Replicas)
	case so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil:
		return errors.New("minReplicaCount and maxReplicaCount must be set")
	case *so.Spec.MinReplicaCount < 1 || *so.Spec.MinReplicaCount > *so.Spec.MaxReplicaCount:
		return fmt.Errorf("minReplicaCount %d is outside 1..maxReplicaCount (%d)", *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount)
	case *so.Spec.MaxReplicaCount > int(partitions):
		return fmt.Errorf("maxReplicaCount %d exceeds kafka.partitions %d", *so.Spec.MaxReplicaCount, partitions)
	case len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "prometheus":
		return errors.New("want one prometheus trigger")
	}
	md := so.Spec.Triggers[0].Metadata
	for _, k := range []string{"serverAddress", "query", "threshold"} {
		if md[k] == "" {
			return fmt.Errorf("the prometheus trigger lacks %s", k)
		}
	}
	return nil
}
