package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// ErrNotInstalled is returned by StartPostgres and StartRedis when the
// server's binaries are not on this machine (Debian: postgresql,
// redis-server).
var ErrNotInstalled = errors.New("bench: server binaries not installed")

// Server is a database server the bench started; Stop ends it.
type Server struct {
	Name string
	Addr string // host:port on loopback
	Dir  string
	cmd  *exec.Cmd
	log  *os.File
}

// PID of the server's main process.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop asks the server to stop (SIGTERM; PostgreSQL: a fast shutdown)
// and waits up to 30s, then kills it.
func (s *Server) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.log.Close()
	return nil
}

// PostgresConfig says how to start PostgreSQL.
type PostgresConfig struct {
	// Dir holds the cluster; it is created. Required.
	Dir string
	// Port on 127.0.0.1. Default a free one.
	Port int
	// BinDir holds initdb and postgres. Default the newest
	// /usr/lib/postgresql/*/bin.
	BinDir string
	// SynchronousCommit is synchronous_commit: "on" (default: a commit
	// returns once its WAL is fsynced) or "off".
	SynchronousCommit string
}

// StartPostgres creates a cluster under cfg.Dir and starts it on loopback,
// as the user postgres when running as root (PostgreSQL refuses root).
// Durability is PostgreSQL's default: fsync on, synchronous_commit on,
// full_page_writes on.
func StartPostgres(ctx context.Context, cfg PostgresConfig) (*Server, error) {
	if cfg.BinDir == "" {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
		if len(dirs) > 0 {
			cfg.BinDir = dirs[0]
		}
	}
	initdb, postgres := filepath.Join(cfg.BinDir, "initdb"), filepath.Join(cfg.BinDir, "postgres")
	if _, err := os.Stat(postgres); cfg.BinDir == "" || err != nil {
		return nil, fmt.Errorf("%w: no PostgreSQL under /usr/lib/postgresql/*/bin (apt-get install postgresql)", ErrNotInstalled)
	}
	cfg.SynchronousCommit = or(cfg.SynchronousCommit, "on")
	port, err := freePort(cfg.Port)
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential(cfg.Dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(cfg.Dir, "data")
	init := exec.CommandContext(ctx, initdb, "-D", data, "-U", "bench", "--auth=trust", "-E", "UTF8", "--no-instructions")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := init.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bench: initdb: %v\n%s", err, out)
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", cfg.Dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on", "-c", "synchronous_commit=" + cfg.SynchronousCommit, "-c", "full_page_writes=on",
		"-c", "shared_buffers=512MB", "-c", "max_connections=200", "-c", "wal_level=minimal", "-c", "max_wal_senders=0",
		"-c", "max_wal_size=4GB", "-c", "checkpoint_timeout=30min", "-c", "wal_buffers=16MB",
		"-c", "deadlock_timeout=1s", "-c", "log_min_messages=warning"}
	return startServer(ctx, "postgres", cfg.Dir, port, cred, postgres, args...)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// postgresCredential is who runs PostgreSQL: the user postgres when this
// process is root (dir is handed to it), else nobody else (nil).
func postgresCredential(dir string) (*syscall.Credential, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root needs the user postgres (the Debian package creates it): %v", ErrNotInstalled, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		return nil, err
	}
	// The user postgres must be able to reach dir.
	for p := filepath.Dir(dir); p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(p, fi.Mode().Perm()|0o011)
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// RedisConfig says how to start Redis.
type RedisConfig struct {
	// Dir holds the append-only file. Required.
	Dir string
	// Port on 127.0.0.1. Default a free one.
	Port int
	// Bin is redis-server. Default found on PATH.
	Bin string
	// AppendFsync is appendfsync: "everysec" (default), "always" or "no".
	AppendFsync string
}

// StartRedis starts redis-server on loopback with the append-only file on
// (appendfsync everysec by default: at most a second of writes lost) and
// no RDB snapshots.
func StartRedis(ctx context.Context, cfg RedisConfig) (*Server, error) {
	if cfg.Bin == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			return nil, fmt.Errorf("%w: redis-server not on PATH (apt-get install redis-server)", ErrNotInstalled)
		}
		cfg.Bin = p
	}
	cfg.AppendFsync = or(cfg.AppendFsync, "everysec")
	port, err := freePort(cfg.Port)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	return startServer(ctx, "redis", cfg.Dir, port, nil, cfg.Bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", cfg.Dir, "--save", "", "--appendonly", "yes", "--appendfsync", cfg.AppendFsync,
		"--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning", "--maxclients", "10000")
}

func startServer(ctx context.Context, name, dir string, port int, cred *syscall.Credential, bin string, args ...string) (*Server, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	s := &Server{Name: name, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, cmd: cmd, log: logf}
	if err := waitListening(ctx, s.Addr, 60*time.Second); err != nil {
		_ = s.Stop()
		b, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("bench: %s did not start listening on %s: %w\n%s", name, s.Addr, err, b)
	}
	return s, nil
}

// freePort is port, or a free one when 0.
func freePort(port int) (int, error) {
	if port != 0 {
		return port, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
