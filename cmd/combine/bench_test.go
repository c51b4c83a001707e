package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartup starts `combine serve` on SQLite (the binary as the
// Dockerfile builds it) and reports the time from exec to the first 200 on
// /health/ready, and the resident memory after a few seconds idle.
//
//	go test -run '^$' -bench Startup -benchtime 20x ./cmd/combine
func BenchmarkStartup(b *testing.B) {
	db := "sqlite://" + filepath.Join(b.TempDir(), "combine.db")
	var total time.Duration
	n := 0
	for b.Loop() {
		cmd, ready := launch(b, db)
		total += ready
		n++
		stopProcess(b, cmd)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms-to-ready")

	cmd, _ := launch(b, db)
	time.Sleep(5 * time.Second)
	rss := vmRSS(b, cmd.Process.Pid)
	stopProcess(b, cmd)
	b.ReportMetric(float64(rss)/1024, "MB-idle-RSS")
	b.ReportMetric(0, "ns/op")
}

// launch starts serve on a free port and polls readiness every 1 ms.
func launch(b *testing.B, db string) (*exec.Cmd, time.Duration) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(binary, "serve")
	cmd.Env = baseEnv("ADDR="+addr, "DATABASE_URL="+db, "SECRET_KEY=0123456789abcdef0123456789abcdef", "LOG_LEVEL=WARN")
	cmd.Dir = b.TempDir()
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for {
		resp, err := client.Get("http://" + addr + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, time.Since(start)
			}
		}
		if time.Since(start) > 20*time.Second {
			_ = cmd.Process.Kill()
			b.Fatalf("not ready after 20s: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func stopProcess(b *testing.B, cmd *exec.Cmd) {
	b.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("serve exited with %v", err)
	}
}

// vmRSS reads the resident set size in KiB from /proc.
func vmRSS(b *testing.B, pid int) int {
	b.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
