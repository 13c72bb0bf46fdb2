package bench

import (
	"os"
	"runtime"
	"syscall"
	"testing"
)

// The meter's sampling is taken out of the generator's CPU by its thread's
// CPU time, which must be that thread's alone: while the measured thread
// works, another thread of the process works too, and the measured
// thread's time must leave the other's out.
func TestThreadCPUCountsOnlyItsOwnThread(t *testing.T) {
	const tick = 1.0 / clockTicks
	other := make(chan float64)
	go func() { // another thread of the process: 20 ticks of work
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := syscall.Gettid()
		before := threadCPU(tid)
		burn(func() bool { return threadCPU(tid) < before+20*tick })
		other <- threadCPU(tid) - before
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := syscall.Gettid()
	before, proc := threadCPU(tid), procCPU(os.Getpid())
	burn(func() bool { return threadCPU(tid) < before+10*tick }) // this thread: 10 ticks
	otherGot := <-other
	got, total := threadCPU(tid)-before, procCPU(os.Getpid())-proc
	// /proc rounds each figure down to a tick on its own: allow 4 ticks.
	if got < 10*tick-4*tick || got > total-otherGot+4*tick {
		t.Fatalf("this thread's CPU read %.2fs: it did about 0.10s of the process's %.2fs, and another thread %.2fs of it", got, total, otherGot)
	}
}

// burn works until more says stop.
func burn(more func() bool) {
	x := 0
	for more() {
		for i := range 100_000 {
			x += i
		}
	}
	_ = x
}

// A run's steal is what the hypervisor took of the machine's CPU time
// meanwhile: the eighth figure of /proc/stat's cpu line, over the first
// eight.
func TestStealIsTheHypervisorsShareOfTheMachinesTime(t *testing.T) {
	start := parseHostCPU("cpu  5151834 3179 1670037 5207694 39569 0 202733 139974 0 0")
	end := parseHostCPU("cpu  5151934 3179 1670087 5207744 39569 0 202733 140024 0 0")
	if got := end.stealSince(start); got != 0.2 { // 50 of 250 ticks
		t.Fatalf("steal %.3f, want 0.2 (50 ticks stolen of 250)", got)
	}
	if got := parseHostCPU("intr 1 2 3").stealSince(start); got != 0 {
		t.Fatalf("steal from an unreadable line: %.3f, want 0", got)
	}
	if h := readHostCPU(); h.total == 0 {
		t.Fatal("/proc/stat's cpu line unread on Linux")
	}
}
