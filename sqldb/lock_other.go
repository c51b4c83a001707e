//go:build !unix

package sqldb

import "context"

// lockFile is a no-op where flock is unavailable: run one instance there.
func lockFile(ctx context.Context, path string) (func(), error) { return func() {}, nil }
