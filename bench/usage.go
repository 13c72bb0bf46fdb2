package bench

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Usage is what a process tree used during a load.
type Usage struct {
	// CPUSeconds is user + system time of the process and its children
	// (living or reaped) over the load.
	CPUSeconds float64
	// PeakMemBytes is the largest Σ PSS (proportional set size: a page
	// shared by n processes counts 1/n in each, so PostgreSQL's shared
	// buffers count once) over the tree, sampled every 2 s (reading
	// smaps_rollup of a JVM costs milliseconds of kernel time; the meter
	// takes its sampling out of the generator's CPU, see startMeter).
	PeakMemBytes int64
}

const clockTicks = 100 // USER_HZ on Linux

// meter samples process trees while a load runs.
type meter struct {
	procs  []Process
	start  map[string]float64
	self   float64
	host   hostCPU // the whole machine's, at the start
	peak   map[string]int64
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	selfPk int64
	own    float64 // CPU seconds of the sampling itself
}

func startMeter(procs []Process) *meter {
	m := &meter{procs: procs, start: map[string]float64{}, peak: map[string]int64{}, done: make(chan struct{})}
	for _, p := range procs {
		m.start[p.Name] += treeCPU(p.PID)
	}
	m.self = procCPU(os.Getpid())
	m.host = readHostCPU()
	m.wg.Add(1)
	go func() {
		// Sampling runs on a thread of its own, whose CPU time is the
		// meter's, not the load generator's: reading a JVM's smaps_rollup
		// costs milliseconds of kernel time, 5 % of the generator's CPU in
		// closed loop. stop takes it out. The thread is locked while
		// sampling, so nothing else runs on it then; it is unlocked, not
		// ended with the goroutine, because the servers a benchmark
		// starts die with the thread that started them (Pdeathsig), and
		// that may be this one.
		runtime.LockOSThread()
		tid := syscall.Gettid()
		before := threadCPU(tid)
		defer func() {
			m.own = threadCPU(tid) - before
			runtime.UnlockOSThread()
			m.wg.Done()
		}()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-m.done:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *meter) sample() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.procs {
		m.peak[p.Name] = max(m.peak[p.Name], treeMem(p.PID))
	}
	m.selfPk = max(m.selfPk, pss(os.Getpid()))
}

// stop returns each process tree's usage, the generator's, and the
// share of the machine's CPU time stolen by its hypervisor meanwhile.
func (m *meter) stop() (map[string]Usage, Usage, float64) {
	close(m.done)
	m.wg.Wait()
	m.sample()
	out := map[string]Usage{}
	for _, p := range m.procs {
		u := out[p.Name]
		u.CPUSeconds += treeCPU(p.PID)
		u.PeakMemBytes = m.peak[p.Name]
		out[p.Name] = u
	}
	for name, u := range out {
		u.CPUSeconds -= m.start[name]
		out[name] = u
	}
	return out, Usage{CPUSeconds: procCPU(os.Getpid()) - m.self - m.own, PeakMemBytes: m.selfPk}, readHostCPU().stealSince(m.host)
}

// hostCPU is the machine's CPU time from /proc/stat, in clock ticks.
type hostCPU struct{ steal, total int64 }

func readHostCPU() hostCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return parseHostCPU(string(line))
}

// parseHostCPU reads the "cpu" line of /proc/stat: user nice system idle
// iowait irq softirq steal (guest time is inside user already).
func parseHostCPU(line string) hostCPU {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return hostCPU{}
	}
	var h hostCPU
	for i, s := range f[1:9] {
		n, _ := strconv.ParseInt(s, 10, 64)
		h.total += n
		if i == 7 {
			h.steal = n
		}
	}
	return h
}

// stealSince is the share of the CPU time since start that was stolen.
func (h hostCPU) stealSince(start hostCPU) float64 {
	if d := h.total - start.total; d > 0 {
		return float64(h.steal-start.steal) / float64(d)
	}
	return 0
}

// tree is pid and its descendants.
func tree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(c); len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], c)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields are the fields of /proc/pid/stat after the command name:
// [0] state, [1] ppid, … [11] utime, [12] stime, [13] cutime, [14] cstime.
func statFields(pid int) []string {
	return statFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
}

func statFile(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// treeCPU is the CPU seconds of pid's tree, reaped children included.
func treeCPU(pid int) float64 {
	var ticks int64
	for _, p := range tree(pid) {
		f := statFields(p)
		if len(f) < 15 {
			continue
		}
		for _, s := range f[11:15] {
			n, _ := strconv.ParseInt(s, 10, 64)
			ticks += n
		}
	}
	return float64(ticks) / clockTicks
}

// procCPU is the CPU seconds of pid alone (the load generator: the
// servers it started are its children but not its cost).
func procCPU(pid int) float64 {
	return ownCPU(statFields(pid))
}

// threadCPU is the CPU seconds of one thread of this process.
func threadCPU(tid int) float64 {
	return ownCPU(statFile(filepath.Join("/proc/self/task", strconv.Itoa(tid), "stat")))
}

// ownCPU is utime + stime of stat fields, children excluded.
func ownCPU(f []string) float64 {
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(u+s) / clockTicks
}

// treeMem is Σ PSS of pid's tree (RSS where smaps_rollup is unreadable).
func treeMem(pid int) int64 {
	var total int64
	for _, p := range tree(pid) {
		total += pss(p)
	}
	return total
}

func pss(pid int) int64 {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	for _, f := range []struct{ file, field string }{{"smaps_rollup", "Pss:"}, {"status", "VmRSS:"}} {
		fh, err := os.Open(filepath.Join(dir, f.file))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 && fs[0] == f.field {
				kb, _ := strconv.ParseInt(fs[1], 10, 64)
				fh.Close()
				return kb << 10
			}
		}
		fh.Close()
	}
	return 0
}

// vmHWM is a process's peak resident set size so far, in bytes (0 when
// unknown).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if fs := strings.Fields(line); len(fs) >= 2 && fs[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
