package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// WriteTable writes the results as a Markdown table: one row per system ×
// workload.
func WriteTable(w io.Writer, results []*Result) error {
	fmt.Fprintln(w, "| workload | system | load | decided/s | p50 | p95 | p99 | max | change→ack p50 / p99 (web) | oversold | errors + dropped | CPU s (system) | peak mem (system) | CPU s (generator) | steal |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		e2e := "–"
		if h, ok := r.E2E["web"]; ok && h.Count > 0 {
			e2e = fmt.Sprintf("%s / %s", msOrInf(h.Quantile(.5)), msOrInf(h.Quantile(.99)))
		}
		var cpu float64
		var mem int64
		var parts []string
		names := make([]string, 0, len(r.Usage))
		for n := range r.Usage {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			u := r.Usage[n]
			cpu += u.CPUSeconds
			mem += u.PeakMemBytes
			parts = append(parts, fmt.Sprintf("%s %.1f", n, u.CPUSeconds))
		}
		cpuCell, memCell := "in generator", "in generator"
		if len(parts) > 0 {
			cpuCell = fmt.Sprintf("%.1f (%s)", cpu, strings.Join(parts, ", "))
			memCell = fmt.Sprintf("%d MiB", mem>>20)
		}
		decided := fmt.Sprintf("%.0f", r.Decided)
		if len(r.AllDecided) > 1 {
			var all []string
			for _, d := range r.AllDecided {
				all = append(all, fmt.Sprintf("%.0f", d))
			}
			decided += " (" + strings.Join(all, ", ") + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s, %s | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %.1f | %.0f %% |\n",
			r.Workload, r.System, r.Mode, r.Duration, decided, msOrInf(r.P50), msOrInf(r.P95), msOrInf(r.P99), msOrInf(r.Max),
			e2e, r.Verdict.OversoldUnits, r.Errors+r.Dropped, cpuCell, memCell, r.Generator.CPUSeconds, 100*r.Steal)
	}
	return nil
}

// WriteE2E writes stock change → marketplace ack per channel.
func WriteE2E(w io.Writer, results []*Result) {
	fmt.Fprintln(w, "| workload | system | channel (decide:… = engine's reserve latency) | count | p50 | p99 |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|")
	for _, r := range results {
		chans := make([]string, 0, len(r.E2E))
		for c := range r.E2E {
			chans = append(chans, c)
		}
		// "decide:<status>" rows are the engine's own reserve latency.
		sort.Strings(chans)
		for _, c := range chans {
			h := r.E2E[c]
			fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s |\n", r.Workload, r.System, c, h.Count, msOrInf(h.Quantile(.5)), msOrInf(h.Quantile(.99)))
		}
	}
}

// WriteRequests writes the requests each system sent to the broker during
// the load, per 1000 orders answered, by kind (RequestCounters).
func WriteRequests(w io.Writer, results []*Result) {
	var rows []string
	for _, r := range results {
		if len(r.Requests) == 0 || r.Answered == 0 {
			continue
		}
		kinds := make([]string, 0, len(r.Requests))
		var total float64
		for k, n := range r.Requests {
			kinds = append(kinds, k)
			total += n
		}
		sort.Slice(kinds, func(a, b int) bool { return r.Requests[kinds[a]] > r.Requests[kinds[b]] })
		per := func(n float64) float64 { return n * 1000 / float64(r.Answered) }
		var cells []string
		for _, k := range kinds {
			if n := per(r.Requests[k]); n >= 0.5 {
				cells = append(cells, fmt.Sprintf("%s %.0f", k, n))
			}
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %.0f | %s |", r.Workload, r.System, r.Mode, per(total), strings.Join(cells, ", ")))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "| workload | system | load | engine → broker requests per 1000 orders | by kind |")
	fmt.Fprintln(w, "|---|---|---|---:|---|")
	for _, row := range rows {
		fmt.Fprintln(w, row)
	}
}

func msOrInf(s float64) string {
	switch {
	case math.IsNaN(s):
		return "–"
	case math.IsInf(s, 1):
		return "> 60 s"
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.1f ms", s*1000)
}

// WriteResults writes results.md (the tables), results.json (every
// figure but the raw latencies) and one PNG per workload into dir.
func WriteResults(dir string, results []*Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		return err
	}
	if err := WriteTable(f, results); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintln(f)
	WriteE2E(f, results)
	fmt.Fprintln(f)
	WriteRequests(f, results)
	if err := f.Close(); err != nil {
		return err
	}
	type jsonResult struct {
		*Result
		Latencies          []float64 `json:"Latencies,omitempty"`
		P50, P95, P99, Max *float64
	}
	var js []jsonResult
	for _, r := range results {
		js = append(js, jsonResult{Result: r, P50: finite(r.P50), P95: finite(r.P95), P99: finite(r.P99), Max: finite(r.Max)})
	}
	b, err := json.MarshalIndent(js, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	byWorkload := map[string][]*Result{}
	var order []string
	for _, r := range results {
		if byWorkload[r.Workload] == nil {
			order = append(order, r.Workload)
		}
		byWorkload[r.Workload] = append(byWorkload[r.Workload], r)
	}
	for _, wl := range order {
		if err := WritePlot(filepath.Join(dir, wl+".png"), wl, byWorkload[wl]); err != nil {
			return err
		}
	}
	return nil
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
