package imports

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkpoint is what an interrupted import needs to go on: the file it
// read, what it sent it as, and how far the target acknowledged it. It is
// saved after every acknowledged batch; snapshots are absolute and
// versioned, so resending a batch acknowledged after the last save is
// harmless.
type checkpoint struct {
	File    string `json:"file"` // absolute path
	Size    int64  `json:"size"`
	ModTime int64  `json:"mod_time_ns"`
	Format  string `json:"format"`
	Source  string `json:"source"`
	Version int64  `json:"version"`
	Target  string `json:"target"` // API URL or Kafka topic: a checkpoint for one is no use for another
	Offset  int64  `json:"offset"` // bytes of the file done (sent, or bad)
	Line    int64  `json:"line"`   // lines of the file done
	Rows    int64  `json:"rows"`
	Sent    int64  `json:"sent"`
	Bad     int64  `json:"bad"`
}

// same reports whether c was saved by an import of the same file, unchanged,
// sent the same way.
func (c checkpoint) same(o checkpoint) bool {
	return c.File == o.File && c.Size == o.Size && c.ModTime == o.ModTime && c.Format == o.Format &&
		c.Source == o.Source && c.Version == o.Version && c.Target == o.Target
}

// checkpointPath is where the checkpoint of file lives: beside it, or in
// stateDir under a name derived from its absolute path.
func checkpointPath(abs, stateDir string) string {
	if stateDir == "" {
		return abs + ".import-checkpoint"
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(stateDir, filepath.Base(abs)+"-"+hex.EncodeToString(sum[:6])+".import-checkpoint")
}

// loadCheckpoint reads the checkpoint at path; ok is false when there is none.
func loadCheckpoint(path string) (c checkpoint, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read the checkpoint: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, false, fmt.Errorf("checkpoint %s is corrupt (delete it to start over): %w", path, err)
	}
	return c, true, nil
}

// save writes c to path atomically: a crash leaves the old or the new one.
func (c checkpoint) save(path string) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write the checkpoint (is the directory writable? --state-dir picks another): %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write the checkpoint %s: %w", path, err)
	}
	return nil
}
