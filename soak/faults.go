package soak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Fault is one fault injected, and what it did to the service.
type Fault struct {
	Kind    string    `json:"kind"` // kill | stop | broker | disk | latency
	Target  string    `json:"target"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"` // the fault lifted (restarted, resumed, freed)
	Skipped string    `json:"skipped,omitempty"`
	Note    string    `json:"note,omitempty"`
	// Pause is the longest time without a decided order command from
	// Start to the next fault; Recovery is from Start until answers per
	// second are back to half the rate before it (computed by the report).
	Pause    time.Duration `json:"pause_ns"`
	Recovery time.Duration `json:"recovery_ns"`
	// Recovered is false when the rate never came back before the next fault.
	Recovered bool `json:"recovered"`
}

// FaultKinds are the faults, in the order they rotate by default.
var FaultKinds = []string{"kill", "broker", "stop", "disk", "latency"}

// holdFor is how long a stop, a full disk or added latency lasts.
const holdFor = 20 * time.Second

// faulter injects the faults; it runs on one goroutine.
type faulter struct {
	cfg      *Config
	broker   *broker
	insts    []*instance
	hc       *http.Client
	diskIdx  int    // the instance whose data directory is a tmpfs
	diskSkip string // why the disk fault cannot run, "" when it can
	log      func(msg string, args ...any)
}

// inject runs fault number k (0-based) and returns it once lifted.
func (f *faulter) inject(ctx context.Context, k int) Fault {
	kinds := f.cfg.Faults
	kind := kinds[k%len(kinds)]
	n := len(f.insts)
	fl := Fault{Kind: kind, Start: time.Now()}
	switch kind {
	case "kill":
		in := f.insts[(k/len(kinds))%n]
		fl.Target = fmt.Sprintf("instance %d", in.idx)
		in.stop(syscall.SIGKILL, 10*time.Second)
		time.Sleep(time.Second)
		fl.Note = f.restart(ctx, in)
	case "stop":
		in := f.insts[(k/len(kinds)+1)%n]
		fl.Target = fmt.Sprintf("instance %d", in.idx)
		if err := in.signal(syscall.SIGSTOP); err != nil {
			fl.Skipped = err.Error()
			break
		}
		sleep(ctx, holdFor)
		_ = in.signal(syscall.SIGCONT)
	case "broker":
		fl.Target = "broker"
		if err := f.broker.down(ctx); err != nil {
			fl.Note = err.Error()
		}
		if err := f.broker.up(ctx); err != nil {
			fl.Note = strings.TrimSpace(fl.Note + " " + err.Error())
		}
	case "disk":
		in := f.insts[f.diskIdx]
		fl.Target = fmt.Sprintf("instance %d data dir", in.idx)
		if f.diskSkip != "" {
			fl.Skipped = f.diskSkip
			break
		}
		fl.Note = fillDisk(ctx, in.dataDir)
	case "latency":
		fl.Target = "loopback, the soak's ports"
		fl.Skipped = f.latency(ctx)
	}
	fl.End = time.Now()
	// An instance that died of the fault (or during it) is restarted, so
	// the soak goes on; its exit is in the instance's record.
	for _, in := range f.insts {
		if !in.running() {
			fl.Note = strings.TrimSpace(fl.Note + fmt.Sprintf(" instance %d had exited; restarted.", in.idx))
			f.restart(ctx, in)
		}
	}
	f.log("soak: fault", "kind", fl.Kind, "target", fl.Target, "took", fl.End.Sub(fl.Start).Round(time.Millisecond), "skipped", fl.Skipped, "note", fl.Note)
	return fl
}

// restart starts the instance again and waits for it to be ready; it
// returns a note when it could not.
func (f *faulter) restart(ctx context.Context, in *instance) string {
	if err := in.start(); err != nil {
		return err.Error()
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := in.waitReady(rctx, f.hc); err != nil {
		return err.Error()
	}
	return ""
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// fillDisk fills the filesystem under dir, holds it full, then frees it.
func fillDisk(ctx context.Context, dir string) string {
	path := filepath.Join(dir, "soak-fill")
	f, err := os.Create(path)
	if err != nil {
		return "could not create the filler: " + err.Error()
	}
	buf := make([]byte, 1<<20) // 1 MiB
	var wrote int
	for wrote < 2<<10 { // at most 2 GiB: the tmpfs is 1 GiB
		if _, err = f.Write(buf); err != nil {
			break
		}
		wrote++
	}
	f.Close()
	note := fmt.Sprintf("filled with %d MiB (%v)", wrote, err)
	if !errors.Is(err, syscall.ENOSPC) {
		note += "; the disk did not fill"
	}
	sleep(ctx, holdFor)
	if err := os.Remove(path); err != nil {
		note += "; could not free: " + err.Error()
	}
	return note
}

// latency adds 100 ms ± 20 ms to the loopback packets of the soak's own
// ports only (a prio qdisc, netem on one band, u32 filters), holds it, and
// removes it. It returns why it was skipped, or "".
func (f *faulter) latency(ctx context.Context) string {
	tc := func(args ...string) error {
		out, err := exec.CommandContext(ctx, "tc", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tc %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if _, err := exec.LookPath("tc"); err != nil {
		return "tc is not installed (Debian: iproute2)"
	}
	if err := tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio"); err != nil {
		return "this machine does not allow it: " + err.Error()
	}
	defer tc("qdisc", "del", "dev", "lo", "root")
	if err := tc("qdisc", "add", "dev", "lo", "parent", "1:3", "handle", "30:", "netem", "delay", "100ms", "20ms"); err != nil {
		return "this machine does not allow it: " + err.Error()
	}
	ports := []int{f.cfg.KafkaPort}
	for _, in := range f.insts {
		ports = append(ports, f.cfg.HTTPPort+in.idx)
	}
	for _, p := range ports {
		for _, dir := range []string{"dport", "sport"} {
			if err := tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
				"match", "ip", dir, strconv.Itoa(p), "0xffff", "flowid", "1:3"); err != nil {
				return "this machine does not allow it: " + err.Error()
			}
		}
	}
	sleep(ctx, holdFor)
	return ""
}
