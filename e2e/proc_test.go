package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The process tests run the real binary: built once per test run into a
// temporary directory (removed by TestMain), started with `combine serve`
// on a free loopback port, and killed with SIGKILL.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// combineBinary builds cmd/combine once and returns its path.
func combineBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "combine-e2e-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "combine")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/thecombine/combine/cmd/combine")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// procEnv is the environment shared by every process of one test: the
// same database and secret key, quiet logs.
type procEnv struct {
	t     testing.TB
	dbURL string
	dir   string
	extra []string
}

func newProcEnv(t testing.TB, dbURL string, extra ...string) *procEnv {
	return &procEnv{t: t, dbURL: dbURL, dir: t.TempDir(), extra: extra}
}

func (e *procEnv) environ(more ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.dir,
		"ENVIRONMENT=development",
		"DATABASE_URL=" + e.dbURL,
		"SECRET_KEY=e2e-test-secret-key-0123456789abcdef",
		"LOG_FORMAT=json",
		"LOG_LEVEL=WARN",
	}
	env = append(env, e.extra...)
	return append(env, more...)
}

// cli runs a short combine command and returns its stdout.
func (e *procEnv) cli(args ...string) string {
	e.t.Helper()
	// Build first: the build (minutes on a loaded machine, with the LLM
	// SDKs) must not eat the command's own time limit.
	bin := combineBinary(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("combine %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// token creates a user with roles and returns a personal access token for
// it, through the contract's CLI.
func (e *procEnv) token(email string, roles ...string) string {
	e.t.Helper()
	e.cli("users", "create", "--email", email, "--name", strings.Split(email, "@")[0], "--role", strings.Join(roles, ","))
	out := e.cli("tokens", "create", "--email", email, "--name", "e2e")
	tok, _, _ := strings.Cut(out, "\n")
	tok = strings.TrimSpace(tok)
	if !strings.HasPrefix(tok, "pat_") {
		e.t.Fatalf("tokens create printed %q, want a pat_ token on its first line", tok)
	}
	return tok
}

// instance is one running `combine serve`.
type instance struct {
	env  *procEnv
	name string
	port int
	more []string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	// starts counts how many times the process was started.
	starts int
}

// URL is the instance's base URL.
func (in *instance) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", in.port) }

// startInstance starts `combine serve` and waits until it is ready.
func (e *procEnv) startInstance(name string, more ...string) *instance {
	e.t.Helper()
	in := &instance{env: e, name: name, port: freePort(e.t), more: more}
	in.start()
	e.t.Cleanup(in.kill)
	return in
}

func (in *instance) start() {
	t := in.env.t
	t.Helper()
	in.starts++
	f, err := os.OpenFile(filepath.Join(in.env.dir, in.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "--- start %d\n", in.starts)
	in.log = f
	cmd := exec.Command(combineBinary(t), "serve")
	cmd.Env = in.env.environ(append([]string{fmt.Sprintf("ADDR=127.0.0.1:%d", in.port)}, in.more...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd = cmd
	in.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(in.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(in.URL() + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-in.done:
			t.Fatalf("instance %s exited during start; log:\n%s", in.name, in.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not ready after 30 s; log:\n%s", in.name, in.tail())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (in *instance) kill() {
	if in.cmd == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
	in.cmd = nil
	in.log.Close()
}

// restart kills the instance (if running) and starts it again on the same
// port and database.
func (in *instance) restart() {
	in.env.t.Helper()
	in.kill()
	in.start()
}

// tail returns the end of the instance's log, for failure messages.
func (in *instance) tail() string {
	b, _ := os.ReadFile(filepath.Join(in.env.dir, in.name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
