package soak

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// broker is the soak's own Kafka, run by scripts/kafka.sh.
type broker struct {
	script string
	env    []string
	log    string // the script's output, appended
}

func newBroker(cfg *Config, dir string) *broker {
	env := append(os.Environ(),
		"KAFKA_PORT="+strconv.Itoa(cfg.KafkaPort),
		"KAFKA_CONTROLLER_PORT="+strconv.Itoa(cfg.ControllerPort),
		"KAFKA_DATA="+filepath.Join(dir, "kafka"),
		"KAFKA_START_TIMEOUT=180", // a loaded 2-core machine starts a JVM slowly
		"KAFKA_HEAP_OPTS=-Xmx384m -Xms384m",
	)
	if cfg.KafkaCache != "" {
		env = append(env, "KAFKA_CACHE="+cfg.KafkaCache)
	}
	return &broker{script: filepath.Join(cfg.Repo, "scripts", "kafka.sh"), env: env, log: filepath.Join(dir, "kafka.sh.log")}
}

func (b *broker) run(ctx context.Context, verb string) error {
	out, err := os.OpenFile(b.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, b.script, verb)
	cmd.Env, cmd.Stdout, cmd.Stderr = b.env, out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/kafka.sh %s: %w (see %s)", verb, err, b.log)
	}
	return nil
}

func (b *broker) up(ctx context.Context) error   { return b.run(ctx, "up") }
func (b *broker) down(ctx context.Context) error { return b.run(ctx, "down") }

// instance is one `stocksync serve` process.
type instance struct {
	idx     int
	bin     string
	config  string
	dataDir string
	logPath string
	base    string // http://127.0.0.1:port
	// logLevel is its STOCKSYNC_LOG_LEVEL; "" leaves the environment's.
	logLevel string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process exits
	exits  []string      // unexpected exits, "at: status"
	killed bool          // the harness killed it on purpose
}

// writeConfig writes the instance's configuration: examples/stocksync.yaml
// with the soak's broker, topic prefix, data directory and port.
func writeConfig(cfg *Config, inst *instance) error {
	raw, err := os.ReadFile(filepath.Join(cfg.Repo, "examples", "stocksync.yaml"))
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("examples/stocksync.yaml: %w", err)
	}
	kafka, _ := doc["kafka"].(map[string]any)
	httpc, _ := doc["http"].(map[string]any)
	engine, _ := doc["engine"].(map[string]any)
	if kafka == nil || httpc == nil || engine == nil {
		return fmt.Errorf("examples/stocksync.yaml lacks kafka, http or engine: the soak adapts those")
	}
	kafka["brokers"] = []string{fmt.Sprintf("127.0.0.1:%d", cfg.KafkaPort)}
	kafka["topic_prefix"] = topicPrefix
	httpc["addr"] = fmt.Sprintf("127.0.0.1:%d", cfg.HTTPPort+inst.idx)
	httpc["rate_per_s"] = 100000
	doc["data_dir"] = inst.dataDir
	engine["sweep_interval"] = "250ms" // expiries within TTL + 1 s need a sweep well under 1 s
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(inst.config, out, 0o644)
}

// topicPrefix keeps the soak's topics apart (its broker is its own anyway).
const topicPrefix = "soak."

func (in *instance) start() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	out, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(in.bin, "serve", "--config", in.config, "--insecure-open")
	cmd.Stdout, cmd.Stderr = out, out
	if in.logLevel != "" {
		cmd.Env = append(os.Environ(), "STOCKSYNC_LOG_LEVEL="+in.logLevel)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // signals from the terminal are the harness's to pass
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start instance %d: %w", in.idx, err)
	}
	in.cmd, in.killed = cmd, false
	exited := make(chan struct{})
	in.exited = exited
	go func() {
		err := cmd.Wait()
		out.Close()
		in.mu.Lock()
		if !in.killed {
			in.exits = append(in.exits, fmt.Sprintf("%s: %v", time.Now().UTC().Format("15:04:05.000"), err))
		}
		in.mu.Unlock()
		close(exited)
	}()
	return nil
}

// running reports whether the current process has not exited.
func (in *instance) running() bool {
	in.mu.Lock()
	ch := in.exited
	in.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// signal sends sig to the process; kill marks the exit as the harness's.
func (in *instance) signal(sig syscall.Signal) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil || in.cmd.Process == nil {
		return fmt.Errorf("instance %d is not running", in.idx)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		in.killed = true
	}
	return in.cmd.Process.Signal(sig)
}

// stop ends the process (SIGCONT first, in case it is paused) and waits.
func (in *instance) stop(sig syscall.Signal, wait time.Duration) {
	if !in.running() {
		return
	}
	_ = in.signal(syscall.SIGCONT)
	_ = in.signal(sig)
	in.mu.Lock()
	ch := in.exited
	in.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(wait):
		_ = in.signal(syscall.SIGKILL)
		<-ch
	}
}

// waitReady polls /readyz until 200 or ctx ends.
func (in *instance) waitReady(ctx context.Context, hc *http.Client) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.base+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !in.running() {
			return fmt.Errorf("instance %d exited while starting (see %s)", in.idx, in.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance %d not ready: %w (see %s)", in.idx, ctx.Err(), in.logPath)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stackDumper returns a func that asks every running instance for its
// goroutine stacks (SIGUSR1: they go to the instance's log), at most once
// per 10 s. The load calls it when an attempt went unanswered: the stacks
// taken while answers stall show where a stuck instance waits.
func stackDumper(insts []*instance, log func(msg string, args ...any)) func() {
	var mu sync.Mutex
	var last time.Time
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 10*time.Second {
			return
		}
		last = time.Now()
		log("soak: an attempt went unanswered; the instances' goroutine stacks go to their logs")
		for _, in := range insts {
			if in.running() {
				_ = in.signal(syscall.SIGUSR1)
			}
		}
	}
}
