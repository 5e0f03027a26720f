// Package harness runs SeaChat the way the benchmarks and fault tests need
// it: bin/seachat as a real subprocess on a real database, a fake Meta Graph
// API served in-process that timestamps every reply and can fail on demand,
// signed webhook bodies, and direct reads of the database to check what was
// stored. Everything listens and connects on loopback only.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FreeAddr returns a loopback address with a port that was free a moment
// ago. A server restarted after kill -9 can take the same port again, so
// clients keep one URL across restarts.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Process is a server subprocess: bin/seachat or the bare baseline.
type Process struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // set before done is closed
}

// SeaChatConfig is how a bin/seachat subprocess is started.
type SeaChatConfig struct {
	Bin         string // path of the seachat binary
	Addr        string // SEACHAT_ADDR; default: a free loopback port
	DatabaseURL string // DATABASE_URL
	GraphAPIURL string // SEACHAT_GRAPH_API_URL
	AdminToken  string // SEACHAT_ADMIN_TOKEN
	SecretKey   string // SEACHAT_SECRET_KEY (64 hex characters)
	LogLevel    string // SEACHAT_LOG_LEVEL; default info
	// Log, when set, receives the process's stdout and stderr as well as
	// the in-memory copy that Output returns.
	Log io.Writer
	// Env holds extra KEY=VALUE settings.
	Env []string
}

// StartSeaChat starts bin/seachat and waits until /readyz answers 200.
func StartSeaChat(ctx context.Context, c SeaChatConfig) (*Process, error) {
	if c.Addr == "" {
		var err error
		if c.Addr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"SEACHAT_ADDR=" + c.Addr,
		"DATABASE_URL=" + c.DatabaseURL,
		"SEACHAT_GRAPH_API_URL=" + c.GraphAPIURL,
		"SEACHAT_ADMIN_TOKEN=" + c.AdminToken,
		"SEACHAT_SECRET_KEY=" + c.SecretKey,
		"SEACHAT_LOG_FORMAT=json",
		"SEACHAT_LOG_LEVEL=" + or(c.LogLevel, "info"),
		"SEACHAT_SHUTDOWN_TIMEOUT=10s",
	}
	env = append(env, c.Env...)
	p, err := start(c.Bin, nil, env, c.Log)
	if err != nil {
		return nil, err
	}
	p.URL = "http://" + c.Addr
	if err := p.WaitReady(ctx, 60*time.Second); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// StartBaseline starts the bare baseline server (bench/cmd/barehook) and
// waits until it prints its address.
func StartBaseline(ctx context.Context, bin string, args []string, log io.Writer) (*Process, error) {
	p, err := start(bin, args, []string{"PATH=" + os.Getenv("PATH")}, log)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.Output(), "\n") {
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				p.URL = strings.TrimSpace(u)
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before listening: %v\n%s", bin, p.err, p.Output())
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.Kill()
	return nil, fmt.Errorf("%s did not print its address:\n%s", bin, p.Output())
}

func start(bin string, args, env []string, log io.Writer) (*Process, error) {
	out := &syncBuffer{}
	var w io.Writer = out
	if log != nil {
		w = io.MultiWriter(out, log)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, so that Kill reaches everything it starts;
	// and killed with us, so that a crashed load generator or a test that
	// timed out leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// WaitReady polls /readyz until it answers 200.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get(p.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last error %v):\n%s", p.URL, timeout, err, tail(p.Output(), 4000))
		}
		select {
		case <-p.done:
			return fmt.Errorf("server exited before it was ready: %v\n%s", p.err, tail(p.Output(), 4000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits for it to be gone.
func (p *Process) Kill() {
	syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to drain with SIGTERM and waits at most timeout
// before killing it. It returns the exit error (nil for exit status 0).
func (p *Process) Stop(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("did not stop within %s after SIGTERM; killed", timeout)
	}
}

// RSS returns the process's resident set size in bytes, from /proc.
func (p *Process) RSS() (int64, error) { return RSS(p.PID()) }

// CPUTime returns the user plus system CPU time the process has used.
func (p *Process) CPUTime() (time.Duration, error) { return CPUTime(p.PID()) }

// RSS returns the resident set size of process pid in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v) // "12345 kB"
			if len(fields) == 2 && fields[1] == "kB" {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// clockTicks is USER_HZ, which is 100 on every Linux this runs on.
const clockTicks = 100

// CPUTime returns the user plus system CPU time of process pid, from
// /proc/pid/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after ")" are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
