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
