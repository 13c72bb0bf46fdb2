package imports

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

// recordingSender keeps what it is sent and refuses for good after
// failAfter batches (0: never).
type recordingSender struct {
	sent      []contract.FeedMessage
	batches   int
	failAfter int
}

func (r *recordingSender) Target() string { return "memory" }

func (r *recordingSender) Send(ctx context.Context, batch []contract.FeedMessage) (map[int]string, error) {
	if r.batches++; r.failAfter > 0 && r.batches > r.failAfter {
		return nil, fmt.Errorf("%w: the target went away", ErrRefused)
	}
	r.sent = append(r.sent, batch...)
	return nil, nil
}

// TestResumeAfterAFailedBatch: an import that stops at a batch keeps its
// checkpoint; the next run sends the rest, with the file's line numbers.
func TestResumeAfterAFailedBatch(t *testing.T) {
	for _, format := range []string{CSV, JSONL} {
		t.Run(format, func(t *testing.T) {
			var b strings.Builder
			if format == CSV {
				b.WriteString("sku,location,on_hand\n")
			}
			first := 1
			if format == CSV {
				first = 2
			}
			const rows = 50
			for i := 0; i < rows; i++ {
				switch {
				case i == 37: // line first+37
					if format == CSV {
						b.WriteString("bad,l,-5\n")
					} else {
						b.WriteString(`{"sku":"bad","location":"l","on_hand":-5}` + "\n")
					}
				case format == CSV:
					fmt.Fprintf(&b, "s%d,l,%d\n", i, i)
				default:
					fmt.Fprintf(&b, `{"sku":"s%d","location":"l","on_hand":%d}`+"\n", i, i)
				}
			}
			file := filepath.Join(t.TempDir(), "export."+format)
			if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			failing := &recordingSender{failAfter: 2}
			sum, err := Run(context.Background(), Config{File: file, Version: 1, Sender: failing, BatchRows: 10, Retries: 1})
			if !errors.Is(err, ErrRefused) || sum.Sent != 20 {
				t.Fatalf("first run: %+v, %v", sum, err)
			}
			done := &recordingSender{}
			sum, err = Run(context.Background(), Config{File: file, Version: 1, Sender: done, BatchRows: 10})
			if !errors.Is(err, ErrBadRows) {
				t.Fatalf("second run: %v", err)
			}
			if sum.Resumed != int64(first-1+20) || sum.Rows != rows || sum.Sent != rows-1 || sum.Bad != 1 ||
				len(sum.BadRows) != 1 || sum.BadRows[0].Line != int64(first+37) {
				t.Errorf("second run: %+v", sum)
			}
			if len(done.sent) != rows-1-20 || done.sent[0].SKU != "s20" || done.sent[len(done.sent)-1].SKU != "s49" {
				t.Errorf("the second run sent %d rows from %s", len(done.sent), done.sent[0].SKU)
			}
		})
	}
}
