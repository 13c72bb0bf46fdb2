#!/usr/bin/env bash
# The benchmark suite of issue #7: stocksync against the PostgreSQL and Redis
# baselines and the Kafka Streams peer (issue 18), same machine, same run, same
# load generator (bench/README.md).
#
#   bench/run.sh short    `make bench`: small catalogues, 20 s per run (about 17 minutes)
#   bench/run.sh full     the issue's catalogues (100k / 1M SKUs), 60 s per run, 3 runs each (about an hour)
#   bench/run.sh smoke    the CI smoke test (go test -run TestSmoke ./bench/)
# Extra arguments go to `stocksync-bench run` (e.g. --systems postgres,redis).
#
# It installs PostgreSQL, Redis, Maven and a JDK from Debian's packages when
# missing (as root), builds the Kafka Streams peer with Maven (its artefacts
# come from Maven Central into ~/.m2 on the first run), starts a Kafka broker of its own (scripts/kafka.sh on port 19192,
# data under $BENCH_KAFKA_DATA) and stops it at the end; PostgreSQL and Redis
# are started by the suite itself, on loopback, under a temporary directory.
# Results: bench/results/<mode>/{results.md,results.json,flash.png,steady.png}.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-short}"
shift || true

need_pkgs=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need_pkgs+=(postgresql)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
if [[ "$mode" != smoke ]]; then
  command -v mvn >/dev/null || need_pkgs+=(maven)
  command -v javac >/dev/null || need_pkgs+=(openjdk-17-jdk-headless)
fi
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bench: needs ${need_pkgs[*]} (Debian): run as root or apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
  echo "bench: installing ${need_pkgs[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if [[ "$mode" == smoke ]]; then
  exec go test -count=1 -run TestSmoke -v ./bench/ "$@"
fi

export KAFKA_PORT="${BENCH_KAFKA_PORT:-19192}" KAFKA_CONTROLLER_PORT="${BENCH_KAFKA_CONTROLLER_PORT:-19193}"
export KAFKA_DATA="${BENCH_KAFKA_DATA:-${TMPDIR:-/tmp}/stocksync-bench-kafka}"
started=0
if ! scripts/kafka.sh status >/dev/null 2>&1; then
  scripts/kafka.sh up
  started=1
fi
trap '[[ $started == 1 ]] && scripts/kafka.sh down >/dev/null || true' EXIT

mkdir -p bin
go build -o bin/stocksync-bench ./cmd/stocksync-bench
echo "bench: building the Kafka Streams peer (bench/peers/kstreams) with Maven"
mvn -q -B -f bench/peers/kstreams/pom.xml package
out="bench/results/$mode"
common=(--brokers "127.0.0.1:$KAFKA_PORT" --broker-pid-file "$KAFKA_DATA/kafka.pid")
case "$mode" in
  short)
    bin/stocksync-bench run "${common[@]}" --workloads flash,steady --flash-skus 10000 --steady-skus 20000 \
      --clients 128 --duration 20s --partitions 4 --channels-wait 60s --out "$out/closed" "$@"
    bin/stocksync-bench run "${common[@]}" --systems postgres,redis,stocksync,floor,stocksync-kfake,kstreams,kstreams-eos --workloads flash \
      --flash-skus 10000 --rate 5000 --duration 20s --partitions 4 --channels-wait 30s --out "$out/open5000" "$@"
    ;;
  full)
    bin/stocksync-bench run "${common[@]}" --workloads flash,steady --flash-skus 100000 --steady-skus 1000000 \
      --clients 128 --duration 60s --repeat 3 --out "$out/closed" "$@"
    bin/stocksync-bench run "${common[@]}" --workloads flash --flash-skus 100000 \
      --rate 5000 --duration 60s --repeat 3 --out "$out/open5000" "$@"
    ;;
  *)
    echo "bench: mode $mode is not short, full or smoke" >&2
    exit 2
    ;;
esac
echo "bench: results in $out"
