package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/stocksync/stocksync/contract"
)

// importer is one Run in progress.
type importer struct {
	cfg    Config
	cp     checkpoint
	cpPath string
	sum    Summary
	bar    *progressbar.ProgressBar
	start  time.Time
	fresh  int64 // rows read by this run, for the rate
	size   int64 // of the file, for the share done
	shown  time.Time

	batch []contract.FeedMessage
	lines []int64 // file line of each batch row
	end   Row     // the last row read: where the checkpoint moves after the batch
}

func (im *importer) run(ctx context.Context, rows rowSource) error {
	im.start = time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := rows.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("imports: %s after line %d: %w", im.cfg.File, im.end.Line, err)
		}
		im.sum.Rows++
		im.fresh++
		im.end = row
		if row.Bad != "" {
			im.bad(row.Line, row.Bad)
		} else {
			im.batch = append(im.batch, row.Msg)
			im.lines = append(im.lines, row.Line)
		}
		if len(im.batch) >= im.cfg.BatchRows {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
	return im.flush(ctx)
}

// bad records a row that is not sent.
func (im *importer) bad(line int64, reason string) {
	im.sum.Bad++
	if len(im.sum.BadRows) < im.cfg.MaxBadRows {
		im.sum.BadRows = append(im.sum.BadRows, BadRow{Line: line, Reason: reason})
	}
	if im.cfg.Report != nil {
		if im.bar != nil {
			_ = im.bar.Clear()
		}
		fmt.Fprintf(im.cfg.Report, "line %d: %s\n", line, reason)
	}
}

// flush sends the batch, retrying failures, then moves the checkpoint past
// the last row read.
func (im *importer) flush(ctx context.Context) error {
	if len(im.batch) > 0 {
		refused, err := im.send(ctx)
		if err != nil {
			return err
		}
		im.sum.Sent += int64(len(im.batch) - len(refused))
		for i, line := range im.lines {
			if reason, ok := refused[i]; ok {
				im.bad(line, reason)
			}
		}
	}
	if im.end.End == 0 {
		return nil // nothing read
	}
	im.cp.Offset, im.cp.Line = im.end.End, im.end.Line
	im.cp.Rows, im.cp.Sent, im.cp.Bad = im.sum.Rows, im.sum.Sent, im.sum.Bad
	im.batch, im.lines = im.batch[:0], im.lines[:0]
	rate := float64(im.fresh) / max(time.Since(im.start).Seconds(), 1e-3)
	status := fmt.Sprintf("import: %d rows, %.0f rows/s, %d bad", im.sum.Rows, rate, im.sum.Bad)
	switch {
	case im.bar != nil:
		im.bar.Describe(status)
		_ = im.bar.Set64(im.cp.Offset)
	case im.cfg.Progress != nil && im.cfg.ProgressLines > 0 && time.Since(im.shown) >= im.cfg.ProgressLines:
		im.shown = time.Now()
		fmt.Fprintf(im.cfg.Progress, "%s, %.1f%% of the file\n", status, 100*float64(im.cp.Offset)/float64(max(im.size, 1)))
	}
	return im.cp.save(im.cpPath)
}

func (im *importer) send(ctx context.Context) (map[int]string, error) {
	wait := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		refused, err := im.cfg.Sender.Send(ctx, im.batch)
		if err == nil {
			return refused, nil
		}
		if errors.Is(err, ErrRefused) || ctx.Err() != nil || attempt >= im.cfg.Retries {
			return nil, fmt.Errorf("imports: sending lines %d..%d of %s to %s: %w (the checkpoint keeps what was done: run again to go on)",
				im.lines[0], im.lines[len(im.lines)-1], im.cfg.File, im.cfg.Sender.Target(), err)
		}
		var re *retryError
		if errors.As(err, &re) && re.wait > wait {
			wait = re.wait
		}
		if im.cfg.Report != nil {
			fmt.Fprintf(im.cfg.Report, "import: %v; retrying in %s\n", err, wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
