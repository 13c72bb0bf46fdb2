#!/usr/bin/env bash
# deploy/check.sh: checks stocksync's deployment artefacts, installing the
# tools it lacks.
#
#   deploy/check.sh              everything below
#   deploy/check.sh prometheus   promtool check + unit tests of the alerts, and
#                                each alert's runbook_url names an existing section
#   deploy/check.sh helm         helm lint + template of the chart, with the KEDA
#                                ScaledObject on too (make helm-lint)
#   deploy/check.sh grafana      the dashboard parses and names only real metrics
#
# Tools: promtool from Debian's `prometheus` package (installed with apt-get
# when missing and running as root); helm built from source with `go
# install` into .cache/bin (Helm is not in Debian; about 3 minutes on 2
# cores the first time, seconds after that). HELM=/path/to/helm uses another.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=${HELM_VERSION:-v3.22.0}
# The Kubernetes version helm's release builds assume when no cluster is
# asked (lint, template); a `go install` build needs it passed in, or it
# assumes 1.20. v3.22.0 is built with the 1.37 client libraries.
HELM_K8S_MINOR=${HELM_K8S_MINOR:-37}
CHART=deploy/helm/stocksync
GO=${GO:-go}

say() { printf '==> %s\n' "$*"; }

need_promtool() {
	command -v promtool >/dev/null && return
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "installing promtool (Debian package prometheus)"
		apt-get install -y --no-install-recommends prometheus >/dev/null ||
			{ apt-get update -qq && apt-get install -y --no-install-recommends prometheus >/dev/null; }
	else
		echo "promtool is missing: apt-get install prometheus (Debian), or go install github.com/prometheus/prometheus/cmd/promtool@latest" >&2
		exit 1
	fi
}

need_helm() {
	if [ -n "${HELM:-}" ]; then return; fi
	HELM=$PWD/.cache/bin/helm
	if [ -x "$HELM" ] && [ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
		return
	fi
	say "building helm $HELM_VERSION into .cache/bin (go install; a few minutes the first time)"
	local x="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
	for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
		x="$x -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$HELM_K8S_MINOR"
	done
	local start=$SECONDS
	GOBIN=$PWD/.cache/bin GOFLAGS=-buildvcs=false "$GO" install -ldflags "$x" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
	say "helm built in $((SECONDS - start))s"
}

check_prometheus() {
	need_promtool
	say "promtool check rules"
	promtool check rules deploy/prometheus/alerts.yaml
	say "promtool test rules"
	promtool test rules deploy/prometheus/alerts_test.yaml
	check_runbooks
	say "the chart's PrometheusRule ships the same rules"
	if ! cmp -s deploy/prometheus/alerts.yaml "$CHART/files/alerts.yaml"; then
		echo "$CHART/files/alerts.yaml differs from deploy/prometheus/alerts.yaml:" >&2
		echo "  cp deploy/prometheus/alerts.yaml $CHART/files/alerts.yaml" >&2
		exit 1
	fi
}

# Every alert has a runbook_url linking its own section of
# docs/operations.md ("### AlertName", GitHub's anchor: the name in lower case).
check_runbooks() {
	say "every alert links its runbook section in docs/operations.md"
	local base=https://github.com/stocksync/stocksync/blob/main/docs/operations.md
	local alert bad=0
	while read -r alert; do
		if ! grep -qxF "### $alert" docs/operations.md; then
			echo "  $alert: docs/operations.md has no section '### $alert'" >&2
			bad=1
		fi
	done < <(sed -nE 's/^ *- alert: *([A-Za-z0-9_]+).*/\1/p' deploy/prometheus/alerts.yaml)
	# Pair each alert with the runbook_url that follows it, before the next alert.
	awk -v base="$base" '
		/^ *- alert:/ { if (alert != "" && !seen) { print "  " alert ": no runbook_url annotation"; bad = 1 }
		                alert = $3; seen = 0 }
		/^ *runbook_url:/ { seen = 1; want = base "#" tolower(alert)
		                    if ($2 != want) { print "  " alert ": runbook_url " $2 ", want " want; bad = 1 } }
		END { if (alert != "" && !seen) { print "  " alert ": no runbook_url annotation"; bad = 1 }
		      exit bad }' deploy/prometheus/alerts.yaml >&2 || bad=1
	[ "$bad" = 0 ]
}

check_helm() {
	need_helm
	local values
	for values in "" "$CHART/ci/secure-values.yaml" "$CHART/ci/keda-values.yaml"; do
		local with=(${values:+-f "$values"})
		say "helm lint --strict ${values:-(default values)}"
		"$HELM" lint --strict "$CHART" "${with[@]}"
		say "helm template ${values:-(default values)}: the rendered stocksync.yaml (and a ScaledObject) pass stocksync's own checks"
		"$HELM" template stocksync "$CHART" "${with[@]}" | "$GO" run ./deploy/configcheck
	done
	check_keda_query
	say "the image tag defaults to the chart's appVersion"
	local app image
	app=$(sed -nE 's/^appVersion: *"?([^"]+)"?$/\1/p' "$CHART/Chart.yaml")
	image=$("$HELM" template stocksync "$CHART" --show-only templates/statefulset.yaml | sed -nE 's/^ *image: *"?([^"]+)"?$/\1/p')
	[ "$image" = "stocksync:$app" ] || { echo "image $image, want stocksync:$app (appVersion)" >&2; exit 1; }
	say "the chart refuses bad values at template time"
	local bad keda="keda.enabled=true,keda.prometheusServer=http://prometheus:9090"
	for bad in "auth.existingSecret=" "replicas=13" "kafka.sasl.mechanism=PLAIN,kafka.sasl.username=u" \
		"channels[0].endpoint.token=secret" "terminationGracePeriodSeconds=10" \
		"keda.enabled=true" "$keda,keda.maxReplicaCount=13" "$keda,keda.minReplicaCount=5,keda.maxReplicaCount=4"; do
		if "$HELM" template stocksync "$CHART" --set "$bad" >/dev/null 2>&1; then
			echo "helm template with --set $bad should fail" >&2
			exit 1
		fi
	done
}

# The ScaledObject's lag query parses as PromQL (promtool, as a recording rule).
check_keda_query() {
	need_promtool
	say "the KEDA ScaledObject's lag query parses as PromQL"
	local query rules
	query=$("$HELM" template stocksync "$CHART" -f "$CHART/ci/keda-values.yaml" --show-only templates/scaledobject.yaml |
		sed -nE 's/^ *query: (".*")$/\1/p')
	[ -n "$query" ] || { echo "no query: line in the rendered ScaledObject" >&2; exit 1; }
	rules=$(mktemp --suffix=.yaml)
	printf 'groups:\n  - name: keda\n    rules:\n      - record: keda:lag\n        expr: %s\n' "$query" >"$rules"
	promtool check rules "$rules" >/dev/null || { promtool check rules "$rules"; rm -f "$rules"; exit 1; }
	rm -f "$rules"
}

check_grafana() {
	local dash=deploy/grafana/stocksync.json
	say "$dash parses"
	if command -v python3 >/dev/null; then
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["panels"], "no panels"' "$dash"
	elif command -v jq >/dev/null; then
		jq -e '.panels | length > 0' "$dash" >/dev/null
	else
		echo "  (skipped: neither python3 nor jq)"
	fi
	if command -v python3 >/dev/null; then
		need_promtool
		say "every dashboard query parses as PromQL (promtool, variables substituted)"
		local rules
		rules=$(mktemp --suffix=.yaml)
		python3 - "$dash" >"$rules" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
print("groups:\n  - name: dashboard\n    rules:")
for i, e in enumerate(exprs):
    for k, v in {"$__rate_interval": "1m", "$namespace": ".*", "$instance": ".*", "$channel": ".*"}.items():
        e = e.replace(k, v)
    print("      - record: dashboard:expr%d" % i)
    print("        expr: %s" % json.dumps(e))
PY
		promtool check rules "$rules" >/dev/null || { promtool check rules "$rules"; rm -f "$rules"; exit 1; }
		rm -f "$rules"
	fi
	say "every stocksync_* metric of the dashboard and the alerts is registered by the code"
	local m missing=0
	while read -r m; do
		if ! grep -rqF "\"$m\"" --include='*.go' --exclude='*_test.go' --exclude-dir=deploy .; then
			echo "  $m: no such metric in the code" >&2
			missing=1
		fi
	done < <(grep -ohE 'stocksync_[a-z0-9_]+' "$dash" deploy/prometheus/alerts.yaml | sed -E 's/_(bucket|count|sum)$//' | sort -u)
	[ "$missing" = 0 ]
}

case "${1:-all}" in
prometheus) check_prometheus ;;
helm) check_helm ;;
grafana) check_grafana ;;
all)
	check_prometheus
	check_grafana
	check_helm
	;;
*)
	echo "usage: deploy/check.sh [all|prometheus|helm|grafana]" >&2
	exit 2
	;;
esac
say "ok"
