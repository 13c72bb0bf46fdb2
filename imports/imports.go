// Package imports sends an ERP's full stock export (a CSV or JSON Lines
// file) to stocksync as snapshots on stock.feed: straight to Kafka, or
// through a running instance's POST /v1/imports. It streams the file in
// constant memory, reports bad rows by line number and sends the good ones,
// and resumes an interrupted import from a checkpoint file: run it again and
// it finishes.
package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/stocksync/stocksync/contract"
)

// Config is one import.
type Config struct {
	File   string // the export; required
	Format string // CSV or JSONL; default from the file's extension (.jsonl, .ndjson: JSONL), else CSV
	Source string // the snapshots' source; default "erp"
	// Version of every row without its own version column; rows without
	// either are bad. Newer snapshots need larger versions (a timestamp of
	// the export works well). Default 0: rows must carry it.
	Version int64
	Sender  Sender // where the rows go; required
	// StateDir holds the checkpoint; default "": beside the file, as
	// <file>.import-checkpoint.
	StateDir string
	// BatchRows is the rows sent and acknowledged at once; the checkpoint
	// moves after each batch. Default 5000, at most 10000 (what one
	// POST /v1/imports answer lists bad rows for).
	BatchRows int
	// Progress receives a progress bar with the rate; default nil: none.
	Progress io.Writer
	// ProgressLines, when set, writes a plain line with the rows, the rate
	// and the share of the file done at most this often to Progress,
	// instead of a bar: for logs, where a bar's carriage returns make one
	// endless line. Default 0: the bar.
	ProgressLines time.Duration
	// Report receives a line per bad row ("line N: reason") and notices
	// (retries, a checkpoint not taken); default nil.
	Report io.Writer
	// MaxBadRows is how many bad rows Summary keeps; default 1000 (all
	// are counted and written to Report).
	MaxBadRows int
	// Retries is how often a failed batch is sent again, waiting longer each
	// time (from 200ms to 10s), before the import stops; default 8.
	Retries int
}

// Summary is what an import did, the resumed part included.
type Summary struct {
	Rows    int64         // rows read (blank lines excepted)
	Sent    int64         // snapshots the target acknowledged
	Bad     int64         // rows not sent: bad in the file, or refused by the target
	BadRows []BadRow      // the first MaxBadRows of them
	Resumed int64         // line a resumed import started after; 0 for a fresh one
	Took    time.Duration // this run's time
}

func (c *Config) defaults() error {
	if c.File == "" || c.Sender == nil {
		return errors.New("imports: Config.File and Config.Sender are required")
	}
	if c.Format == "" {
		switch filepath.Ext(c.File) {
		case ".jsonl", ".ndjson":
			c.Format = JSONL
		default:
			c.Format = CSV
		}
	}
	if c.Format != CSV && c.Format != JSONL {
		return fmt.Errorf("imports: format %q is not one of csv, jsonl", c.Format)
	}
	if c.Source == "" {
		c.Source = "erp"
	}
	if err := contract.CheckKey("source", c.Source); err != nil {
		return fmt.Errorf("imports: %w", err)
	}
	if c.Version < 0 {
		return fmt.Errorf("imports: version %d is negative", c.Version)
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 5000
	}
	if c.BatchRows > 10_000 {
		return fmt.Errorf("imports: batch of %d rows is over 10000", c.BatchRows)
	}
	if c.MaxBadRows <= 0 {
		c.MaxBadRows = 1000
	}
	if c.Retries <= 0 {
		c.Retries = 8
	}
	return nil
}

// Run imports cfg.File. It returns ErrBadRows (with the summary) when some
// rows were bad and the rest were sent. Interrupted, by ctx or a crash, it
// leaves a checkpoint; the next Run with the same file and settings goes on
// from there. A finished import removes its checkpoint.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	start := time.Now()
	if err := cfg.defaults(); err != nil {
		return Summary{}, err
	}
	abs, err := filepath.Abs(cfg.File)
	if err != nil {
		return Summary{}, fmt.Errorf("imports: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return Summary{}, fmt.Errorf("imports: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Summary{}, fmt.Errorf("imports: %w", err)
	}
	cpPath := checkpointPath(abs, cfg.StateDir)
	cp := checkpoint{File: abs, Size: st.Size(), ModTime: st.ModTime().UnixNano(), Format: cfg.Format,
		Source: cfg.Source, Version: cfg.Version, Target: cfg.Sender.Target()}
	saved, ok, err := loadCheckpoint(cpPath)
	if err != nil {
		return Summary{}, fmt.Errorf("imports: %w", err)
	}
	var sum Summary
	if ok && saved.same(cp) {
		cp = saved
		sum = Summary{Rows: cp.Rows, Sent: cp.Sent, Bad: cp.Bad, Resumed: cp.Line}
	} else if ok && cfg.Report != nil {
		fmt.Fprintf(cfg.Report, "import: the checkpoint %s is for another file, version or target; starting over\n", cpPath)
	}
	rows, err := open(f, cfg, cp)
	if err != nil {
		return Summary{}, fmt.Errorf("imports: %s: %w", cfg.File, err)
	}
	im := &importer{cfg: cfg, cp: cp, cpPath: cpPath, sum: sum, size: st.Size()}
	if cfg.ProgressLines == 0 {
		im.bar = newBar(cfg.Progress, st.Size(), cp.Offset)
	}
	err = im.run(ctx, rows)
	im.sum.Took = time.Since(start)
	if im.bar != nil {
		if err == nil {
			_ = im.bar.Finish()
		} else {
			_ = im.bar.Exit() // as far as it got, not 100 %
		}
		fmt.Fprintln(cfg.Progress)
	}
	if err != nil {
		return im.sum, err
	}
	if err := os.Remove(cpPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return im.sum, fmt.Errorf("imports: remove the finished checkpoint: %w", err)
	}
	if im.sum.Bad > 0 {
		return im.sum, ErrBadRows
	}
	return im.sum, nil
}

// open positions a reader of f at the checkpoint (the start for a new one).
func open(f *os.File, cfg Config, cp checkpoint) (rowSource, error) {
	if cfg.Format == JSONL {
		if _, err := f.Seek(cp.Offset, io.SeekStart); err != nil {
			return nil, err
		}
		return newJSONRows(f, cp.Offset, cp.Line, cfg.Source, cfg.Version), nil
	}
	col, headEnd, err := readCSVHeader(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		return nil, err
	}
	offset, line := cp.Offset, cp.Line
	if offset == 0 {
		offset, line = headEnd, 1
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return newCSVRows(f, offset, line, col, cfg.Source, cfg.Version), nil
}

func newBar(w io.Writer, size, done int64) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("import"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(250*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
	_ = bar.Set64(done)
	return bar
}
