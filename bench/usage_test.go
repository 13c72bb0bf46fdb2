package bench

import (
	"os"
	"runtime"
	"syscall"
	"testing"
)

// The meter's sampling is taken out of the generator's CPU by its thread's
// CPU time: that time must be the thread's own and grow as it works.
func TestThreadCPUCountsTheThreadsOwnWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := syscall.Gettid()
	before, proc := threadCPU(tid), procCPU(os.Getpid())
	x := 0
	for procCPU(os.Getpid()) < proc+0.1 { // 10 clock ticks of work, on this thread
		for i := range 1_000_000 {
			x += i
		}
	}
	got, total := threadCPU(tid)-before, procCPU(os.Getpid())-proc
	if got < total/2 || got > total+0.01 {
		t.Fatalf("the thread did %.2fs of its process's %.2fs of CPU, all of the work: not the thread's own time", got, total)
	}
	_ = x
}
