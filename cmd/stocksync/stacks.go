package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"time"
)

// dumpStacksOn writes every goroutine's stack to w each time sig arrives,
// and the process carries on: a look inside an instance that seems stuck,
// without SIGQUIT's exit (the soak sends it when answers stop).
func dumpStacksOn(sig os.Signal, w io.Writer) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	for range ch {
		buf := make([]byte, 1<<20)
		for {
			n := runtime.Stack(buf, true)
			if n < len(buf) {
				buf = buf[:n]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		fmt.Fprintf(w, "=== stocksync: goroutine stacks at %s (%s) ===\n%s=== end of goroutine stacks ===\n",
			time.Now().UTC().Format(time.RFC3339Nano), sig, buf)
	}
}
