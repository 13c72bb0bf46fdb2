package main

import (
	"strings"
	"testing"
)

const configMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: s}
data:
  stocksync.yaml: |
    kafka: {brokers: [k:9092], partitions: 12}
    locations: [{name: a, kind: store}]
---
`

func TestCheckScaledObject(t *testing.T) {
	statefulSet := func(replicas string) string {
		return "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec: {" + replicas + "}\n---\n"
	}
	scaledObject := func(target string, min, max string) string {
		return `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: ` + target + `}
  minReplicaCount: ` + min + `
  maxReplicaCount: ` + max + `
  triggers:
    - type: prometheus
      metadata: {serverAddress: "http://p:9090", query: "sum(stocksync_consumer_lag)", threshold: "2000"}
`
	}
	tests := []struct {
		name      string
		manifests string
		want      string // the error; "" for none
	}{
		{name: "valid", manifests: configMap + statefulSet("") + scaledObject("s", "3", "12")},
		{name: "more replicas than partitions", manifests: configMap + statefulSet("") + scaledObject("s", "3", "13"),
			want: "ScaledObject s: maxReplicaCount 13 exceeds kafka.partitions 12"},
		{name: "min over max", manifests: configMap + statefulSet("") + scaledObject("s", "5", "4"),
			want: "ScaledObject s: minReplicaCount 5 is outside 1..maxReplicaCount (4)"},
		{name: "the StatefulSet keeps its replicas", manifests: configMap + statefulSet("replicas: 3") + scaledObject("s", "3", "12"),
			want: "ScaledObject s: StatefulSet s sets replicas (3): helm upgrade would fight the autoscaler"},
		{name: "another target", manifests: configMap + statefulSet("") + scaledObject("t", "3", "12"),
			want: `ScaledObject s: scaleTargetRef names StatefulSet "t", which is not rendered`},
		{name: "no config", manifests: statefulSet(""), want: "no ConfigMap with stocksync.yaml on stdin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := check(strings.NewReader(tt.manifests), &out)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}
