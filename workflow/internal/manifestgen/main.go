// Command manifestgen rewrites a prompt set's manifest.json with the
// SHA-256 of every prompt file. Run it (via `go generate ./workflow`) only
// after a deliberate, reviewed prompt change: the manifest is what makes a
// silent edit of a prompt refuse to load.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/thecombine/combine/workflow"
)

func main() {
	dir := flag.String("dir", "prompts", "prompt set directory (holding roles/ and tasks/)")
	flag.Parse()
	m, err := workflow.BuildManifest(os.DirFS(*dir), ".")
	if err == nil {
		var b []byte
		if b, err = m.Encode(); err == nil {
			err = os.WriteFile(filepath.Join(*dir, "manifest.json"), b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifestgen:", err)
		os.Exit(1)
	}
	fmt.Printf("manifestgen: pinned %d prompt files in %s\n", len(m.Prompts), filepath.Join(*dir, "manifest.json"))
}
