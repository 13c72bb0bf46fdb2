#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, combined broker+controller) run
# from the Maven Central jars: no Docker, no Kafka tarball.
#
#   scripts/kafka.sh up        fetch jars (first run), format the store (first run), start, wait until ready
#   scripts/kafka.sh down      stop the broker (SIGTERM, SIGKILL after 30 s)
#   scripts/kafka.sh reset     down, then wipe the data directory (keeps the jar cache)
#   scripts/kafka.sh status    running or not, pid, address, log file (exit 0 running, 3 not running)
#   scripts/kafka.sh logs [--no-follow] [LINES]    tail the broker log (follows unless --no-follow)
#   scripts/kafka.sh topics-create NAME PARTITIONS [compact]   create a topic (replication 1)
#
# Environment (all optional):
#   KAFKA_PORT=19092             PLAINTEXT listener on 127.0.0.1 (the bootstrap address)
#   KAFKA_CONTROLLER_PORT=19093  KRaft controller listener on 127.0.0.1
#   KAFKA_CACHE=$REPO/.cache/kafka/<version>/libs   jar directory
#   KAFKA_DATA=$REPO/.cache/kafka/data             store, logs, pid file, generated server.properties
#   KAFKA_HEAP_OPTS="-Xmx512m -Xms512m"
#   KAFKA_OPTS=""                extra JVM options for the broker
#   KAFKA_OVERRIDES=""           extra broker settings, "k=v k2=v2" (passed as --override k=v)
#   KAFKA_START_TIMEOUT=60       seconds `up` waits for the broker
# Needs Java 17+ and (for the first `up` only) Maven. kcat is used for the readiness check when present.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"   # pinned; jars come from scripts/kafka/pom.xml
LOG4J_VERSION="2.24.3"                    # log4j-slf4j-impl (SLF4J 1.7 binding), log4j-api, log4j-core

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd -P)"
CONF_DIR="$SCRIPT_DIR/kafka"

PORT="${KAFKA_PORT:-19092}"
CPORT="${KAFKA_CONTROLLER_PORT:-19093}"
LIBS="${KAFKA_CACHE:-$REPO/.cache/kafka/$KAFKA_VERSION/libs}"
DATA="${KAFKA_DATA:-$REPO/.cache/kafka/data}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"

LOG_DIR="$DATA/logs"            # broker's own log4j output
LOG="$LOG_DIR/server.log"
OUT="$LOG_DIR/kafka.out"        # JVM stdout/stderr (crashes before log4j starts, OOM, ...)
STORE="$DATA/kraft-logs"        # log.dirs (topic data + __cluster_metadata)
PROPS="$DATA/server.properties"
PIDFILE="$DATA/kafka.pid"
MARKER="$DATA/.kafka-sh-data"   # `reset` only wipes a directory carrying this marker
FORMATTED_CPORT="$DATA/.controller-port"

say() { printf 'kafka: %s\n' "$*"; }
err() { printf 'kafka: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
fmt_ms() { printf '%d.%01ds' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

check_java() {
  local j v major
  j="$(java_bin)"
  command -v "$j" >/dev/null 2>&1 || die "java not found: install a JDK/JRE 17+ (Debian: apt-get install -y openjdk-17-jre-headless)"
  v="$("$j" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  major="${v%%.*}"
  [[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] || die "Kafka $KAFKA_VERSION needs Java 17+, found '${v:-unknown}' ($j)"
}

# ---------------------------------------------------------------- process state

pid_alive() {  # pid exists, is not a zombie, and is a Kafka broker
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/stat" ]]; then
    state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ "$state" == Z || "$state" == X ]] && return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  else
    ps -p "$pid" -o args= 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  fi
}

running_pid() {  # prints the pid and succeeds when our broker runs; cleans a stale pid file
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid="$(tr -dc '0-9' <"$PIDFILE")"
  if pid_alive "$pid"; then echo "$pid"; return 0; fi
  rm -f "$PIDFILE"
  return 1
}

bootstrap_addr() {  # the address the running broker was started with (falls back to env)
  local a=""
  [[ -f "$PROPS" ]] && a="$(sed -n 's/^advertised\.listeners=.*PLAINTEXT:\/\/\([^,]*\).*$/\1/p' "$PROPS" | head -n1)"
  echo "${a:-127.0.0.1:$PORT}"
}

port_open() {  # something accepts TCP connections on 127.0.0.1:$1
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# A real Kafka request with no client installed: ApiVersions v0
# (size=10, api_key=18, api_version=0, correlation_id=0x2a, client_id=null).
# Success = a response frame carrying our correlation id.
api_versions_ok() {
  local hostport="$1" out
  # shellcheck disable=SC2016  # expanded by the inner bash
  out="$(timeout 3 bash -c '
      exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
      printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x2a\xff\xff" >&3
      head -c 10 <&3 | od -An -tx1' _ "$hostport" 2>/dev/null)" || return 1
  # shellcheck disable=SC2086
  set -- $out
  [[ $# -ge 10 && "$5$6$7$8" == "0000002a" ]]
}

broker_ready() {
  local addr="$1"
  api_versions_ok "$addr" || return 1
  grep -q 'Kafka Server started' "$LOG" 2>/dev/null || return 1
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "$addr" -L -m 3 2>/dev/null | grep -q '1 brokers' || return 1
  fi
}

show_failure_logs() {
  if [[ -s "$LOG" ]]; then
    err "last 40 lines of $LOG:"
    tail -n 40 "$LOG" | sed 's/^/    /' >&2
  else
    err "no broker log at $LOG"
  fi
  if [[ -s "$OUT" ]] && grep -qv '^#' "$OUT"; then
    err "last 20 lines of $OUT (JVM output):"
    tail -n 20 "$OUT" | sed 's/^/    /' >&2
  fi
}

# ---------------------------------------------------------------- fetch / format

fetch_jars() {
  if [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" && -f "$LIBS/log4j-slf4j-impl-$LOG4J_VERSION.jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to fetch the Kafka jars (Debian: apt-get install -y maven)"
  local tmp t0 rc=0
  tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$LIBS")"
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS (first run only)"
  t0="$(now_ms)"
  # output kept in a file (shown on failure): -q still leaves ANSI resets on the terminal
  mvn -q -B -Dstyle.color=never -f "$CONF_DIR/pom.xml" \
      -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      </dev/null >"$tmp.log" 2>&1 || rc=$?
  if [[ $rc -ne 0 || ! -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    sed 's/^/    /' "$tmp.log" >&2 || true
    rm -rf "$tmp" "$tmp.log"
    die "jar fetch failed (mvn exit $rc): check network access to Maven Central, or run: mvn -B -f $CONF_DIR/pom.xml dependency:copy-dependencies -DoutputDirectory=/tmp/kafka-libs"
  fi
  rm -rf "$LIBS" "$tmp.log"
  mv "$tmp" "$LIBS"
  say "fetched $(find "$LIBS" -name '*.jar' | wc -l | tr -d ' ') jars in $(fmt_ms $(( $(now_ms) - t0 )))"
}

write_properties() {
  cat >"$PROPS" <<EOF
# Generated by scripts/kafka.sh on every \`up\`; edits are overwritten (use KAFKA_OVERRIDES="k=v ...").
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
# formatted with --standalone: bootstrap servers, never controller.quorum.voters (4.1+ refuses the pair)
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
log.dirs=$STORE

num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=4
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false

offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Takeovers in seconds (docs/operations.md, "Takeover"): a member may ask for
# a session of 1 s, and a transaction past its timeout (a killed member's) is
# aborted within a second. Kafka's defaults are 6 s and 10 s.
group.min.session.timeout.ms=1000
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
# A transaction's first write to a partition whose previous transaction's
# markers are still being written is held and retried (KIP-890), after 20 ms
# by default: 1-2 % of the engine's cycles met it, and it made the tail of
# an order's answer (docs/operations.md, "Prerequisites").
add.partitions.to.txn.retry.backoff.ms=2

# compaction on, with a dedupe buffer that fits a 512 MiB heap (default 128 MiB)
log.cleaner.enable=true
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
EOF
}

format_store() {
  if [[ -f "$STORE/meta.properties" ]]; then
    local was
    was="$(cat "$FORMATTED_CPORT" 2>/dev/null || true)"
    if [[ -n "$was" && "$was" != "$CPORT" ]]; then
      die "the store in $DATA was formatted for controller port $was, not $CPORT: set KAFKA_CONTROLLER_PORT=$was, or run '$0 reset'"
    fi
    return 0
  fi
  local j cid
  j="$(java_bin)"
  cid="$("$j" -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$CONF_DIR/log4j2-tools.xml" \
        -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$OUT" | tail -n1 | tr -d '[:space:]')"
  [[ "$cid" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid gave '$cid' (see $OUT)"
  if ! "$j" -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$CONF_DIR/log4j2-tools.xml" \
        -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cid" -c "$PROPS" --standalone \
        >"$LOG_DIR/format.out" 2>&1; then
    cat "$LOG_DIR/format.out" >&2
    die "formatting $STORE failed (output above); '$0 reset' wipes $DATA"
  fi
  echo "$CPORT" >"$FORMATTED_CPORT"
  say "formatted a new KRaft store in $STORE (cluster id $cid)"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local pid addr
  if pid="$(running_pid)"; then
    say "already running (pid $pid) at $(bootstrap_addr); log: $LOG"
    return 0
  fi
  check_java
  for p in "$PORT" "$CPORT"; do
    port_open "$p" && die "port $p on 127.0.0.1 is already in use by another process: stop it, or set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
  done
  fetch_jars
  mkdir -p "$DATA" "$LOG_DIR" "$STORE"
  touch "$MARKER"
  write_properties
  format_store

  local -a overrides=()
  local kv
  for kv in ${KAFKA_OVERRIDES:-}; do overrides+=(--override "$kv"); done

  local t0 j
  t0="$(now_ms)"
  j="$(java_bin)"
  printf '# %s starting kafka.Kafka %s\n' "$(date -u +%FT%TZ)" "$KAFKA_VERSION" >>"$OUT"
  rm -f "$PIDFILE"
  # setsid: own session, so the broker outlives this shell and its terminal.
  # The wrapper writes its own pid, then execs java: the pid file holds the JVM's pid.
  # shellcheck disable=SC2086,SC2016  # word-split the JVM options; $$ is the inner bash's
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    "$j" $HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true ${KAFKA_OPTS:-} \
    -Dlog4j2.configurationFile="$CONF_DIR/log4j2.xml" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" "${overrides[@]}" \
    </dev/null >>"$OUT" 2>&1 &

  local _
  for _ in $(seq 50); do [[ -s "$PIDFILE" ]] && break; sleep 0.1; done
  pid="$(tr -dc '0-9' <"$PIDFILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || die "could not start java (see $OUT)"

  addr="127.0.0.1:$PORT"
  printf 'kafka: started pid %s, waiting up to %ss for %s ' "$pid" "$START_TIMEOUT" "$addr"
  local dots=0 elapsed
  while :; do
    elapsed=$(( $(now_ms) - t0 ))
    if ! pid_alive "$pid"; then
      printf '\n'
      rm -f "$PIDFILE"
      err "the broker exited during startup after $(fmt_ms "$elapsed")"
      show_failure_logs
      err "fix the error above; if the store is damaged or from another version, '$0 reset' wipes $DATA"
      exit 1
    fi
    if broker_ready "$addr"; then
      printf '\n'
      break
    fi
    if (( elapsed >= START_TIMEOUT * 1000 )); then
      printf '\n'
      err "the broker did not become ready within ${START_TIMEOUT}s; stopping it"
      show_failure_logs
      stop_pid "$pid" >/dev/null
      rm -f "$PIDFILE"
      err "retry with a longer KAFKA_START_TIMEOUT, check the log above, or '$0 reset' to start from an empty store"
      exit 1
    fi
    while (( dots < elapsed / 1000 )); do printf '.'; dots=$((dots + 1)); done
    sleep 0.2
  done
  say "ready in $(fmt_ms $(( $(now_ms) - t0 ))) (pid $pid)"
  say "bootstrap: $addr"
  say "log: $LOG (JVM output: $OUT)"
  say "data: $STORE"
}

stop_pid() {  # SIGTERM, wait up to 30 s, then SIGKILL
  local pid="$1" deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$(( $(now_ms) + 30000 ))
  while (( $(now_ms) < deadline )); do
    pid_alive "$pid" || return 0
    sleep 0.2
  done
  err "pid $pid still alive after 30s, sending SIGKILL (the next 'up' waits ~10s for the old broker session to expire)"
  kill -KILL "$pid" 2>/dev/null || true
  deadline=$(( $(now_ms) + 5000 ))
  while (( $(now_ms) < deadline )); do pid_alive "$pid" || return 0; sleep 0.2; done
  die "pid $pid survived SIGKILL"
}

cmd_down() {
  local pid t0
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    say "not running"
    return 0
  fi
  t0="$(now_ms)"
  say "stopping pid $pid"
  stop_pid "$pid"
  rm -f "$PIDFILE"
  say "stopped in $(fmt_ms $(( $(now_ms) - t0 )))"
}

cmd_reset() {
  cmd_down
  if [[ ! -e "$DATA" ]]; then say "no data directory at $DATA"; return 0; fi
  case "$DATA" in
    /|"$HOME"|"$REPO"|"$REPO/") die "refusing to wipe $DATA" ;;
  esac
  [[ -f "$MARKER" ]] || die "refusing to wipe $DATA: it was not created by $0 (no $(basename "$MARKER"))"
  rm -rf "$DATA"
  say "wiped $DATA (jar cache kept in $LIBS)"
}

cmd_status() {
  local pid addr
  if pid="$(running_pid)"; then
    addr="$(bootstrap_addr)"
    if api_versions_ok "$addr"; then
      say "running (pid $pid), answering requests at $addr"
    else
      say "running (pid $pid) at $addr, but not answering requests yet"
    fi
    say "log: $LOG"
    say "data: $STORE"
    return 0
  fi
  say "not running (bootstrap would be 127.0.0.1:$PORT; log: $LOG)"
  return 3
}

cmd_logs() {
  local follow=1 lines=100 a
  for a in "$@"; do
    case "$a" in
      --no-follow) follow=0 ;;
      ''|*[!0-9]*) die "usage: $0 logs [--no-follow] [LINES]" ;;
      *) lines="$a" ;;
    esac
  done
  [[ -f "$LOG" ]] || die "no log yet at $LOG (run '$0 up')"
  if (( follow )); then exec tail -n "$lines" -F "$LOG"; else tail -n "$lines" "$LOG"; fi
}

cmd_topics_create() {
  [[ $# -ge 2 && $# -le 3 && "$2" =~ ^[0-9]+$ ]] || die "usage: $0 topics-create NAME PARTITIONS [compact]"
  local name="$1" parts="$2" addr
  local -a cfg=()
  if [[ $# -eq 3 ]]; then
    [[ "$3" == compact ]] || die "usage: $0 topics-create NAME PARTITIONS [compact]"
    cfg=(--config cleanup.policy=compact)
  fi
  running_pid >/dev/null || die "not running: '$0 up' first"
  addr="$(bootstrap_addr)"
  "$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$CONF_DIR/log4j2-tools.xml" \
    -cp "$LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$addr" \
    --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 "${cfg[@]}" \
    | sed 's/^/kafka: /'
  return "${PIPESTATUS[0]}"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  up) cmd_up ;;
  down|stop) cmd_down ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  logs) cmd_logs "$@" ;;
  topics-create) cmd_topics_create "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
