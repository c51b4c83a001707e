package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// binary is the combine binary built once for the package's tests.
var binary string

// testVersion is stamped into the test binary with the Dockerfile's ldflag.
const testVersion = "v0.0.0-test"

// TestMain builds the binary once with the Dockerfile's own build command
// (so a broken image build fails the tests), stamping testVersion.
func TestMain(m *testing.M) {
	if addr := os.Getenv(bareServerEnv); addr != "" {
		os.Exit(serveBare(addr)) // the load benchmark's ceiling
	}
	dir, err := os.MkdirTemp("", "combine-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "combine")
	if err := buildLikeDockerfile(binary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildLikeDockerfile runs the Dockerfile's `CGO_ENABLED=0 go build` line
// from the repository root, writing the binary to out.
func buildLikeDockerfile(out string) error {
	env, args, err := dockerfileBuild("../../Dockerfile")
	if err != nil {
		return err
	}
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "${VERSION}", testVersion)
		if i > 0 && args[i-1] == "-o" {
			args[i] = out
		}
	}
	build := exec.Command(args[0], args[1:]...)
	build.Dir = "../.."
	build.Env = append(os.Environ(), env...)
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("the Dockerfile's build command %q failed: %v\n%s", args, err, b)
	}
	return nil
}

// dockerfileBuild finds the `RUN CGO_ENABLED=0 go build …` line and splits
// it into its environment assignments and the command (double quotes group).
func dockerfileBuild(path string) (env, args []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "RUN ")
		if !ok || !strings.Contains(rest, "go build") {
			continue
		}
		var words []string
		var cur strings.Builder
		quoted, started := false, false
		for _, r := range rest + " " {
			switch {
			case r == '"':
				quoted, started = !quoted, true
			case r == ' ' && !quoted:
				if started {
					words = append(words, cur.String())
				}
				cur.Reset()
				started = false
			default:
				cur.WriteRune(r)
				started = true
			}
		}
		for len(words) > 0 && strings.Contains(words[0], "=") {
			env, words = append(env, words[0]), words[1:]
		}
		return env, words, nil
	}
	return nil, nil, fmt.Errorf("%s has no RUN … go build line", path)
}

// baseEnv is a minimal environment: no variable of the host leaks in.
func baseEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, extra...)
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// runCombine runs the binary to completion with env.
func runCombine(t testing.TB, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run combine %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// process is a running `combine serve`.
type process struct {
	cmd  *exec.Cmd
	base string // http://addr
	mu   sync.Mutex
	logs []map[string]any
	done chan error
}

// startServe starts `combine serve` on a free loopback port and waits for
// its "combine is ready" log line.
func startServe(t testing.TB, env ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = baseEnv(append([]string{"ADDR=127.0.0.1:0"}, env...)...)
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				line = map[string]any{"msg": "NOT JSON: " + sc.Text()}
			}
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			if line["msg"] == "combine is ready" {
				ready <- line["addr"].(string)
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case addr := <-ready:
		p.base = "http://" + addr
	case err := <-p.done:
		t.Fatalf("serve exited before ready: %v\n%s", err, p.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve not ready after 30s\n%s", p.logText())
	}
	return p
}

// logText is the log so far, for failure messages.
func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.logs {
		j, _ := json.Marshal(l)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// findLog returns the first log line with msg.
func (p *process) findLog(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.logs {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// stop sends SIGTERM and returns the exit code.
func (p *process) stop(t testing.TB) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

func (p *process) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit 30s after SIGTERM\n%s", p.logText())
	}
	return p.cmd.ProcessState.ExitCode()
}

// getJSON fetches url and decodes a JSON body.
func getJSON(t testing.TB, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: not JSON: %s", url, b)
	}
	return resp.StatusCode, v
}
