package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGUSR1 writes every goroutine's stack, and the process goes on.
func TestSIGUSR1WritesTheStacks(t *testing.T) {
	var out syncBuffer
	go dumpStacksOn(syscall.SIGUSR1, &out)
	for deadline := time.Now().Add(30 * time.Second); ; {
		// Sent until seen: the handler may not be registered yet.
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if strings.Contains(out.String(), "=== end of goroutine stacks ===") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stacks written after SIGUSR1; got %q", out.String())
		}
	}
	if s := out.String(); !strings.Contains(s, "goroutine ") || !strings.Contains(s, "TestSIGUSR1WritesTheStacks") {
		t.Errorf("the dump lacks the goroutines (this test's among them):\n%.2000s", s)
	}
}
