package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
)

// A prepared-statement cache under database/sql.
//
// Why hand-written: modernc.org/sqlite prepares (parses and compiles) every
// statement on every ExecContext/QueryContext call, and River's SQLite
// driver runs its queries that way. Profiles of the delivery pipeline showed
// about half of all CPU in SQLite's parser and code generator. The driver
// does keep the compiled handle of an explicitly prepared statement, so this
// thin wrapper hides the connection's Exec/Query fast paths (database/sql
// then prepares) and keeps one prepared statement per SQL text for the
// connection's life. Neither database/sql nor the driver offers such a
// cache.

// stmtCacheSize bounds the statements kept per connection; beyond it new
// texts are prepared and closed as usual.
const stmtCacheSize = 256

type cachingConnector struct {
	dsn string
	drv driver.Driver
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{base: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.drv }

// cachingConn wraps one SQLite connection. database/sql never uses a
// driver connection from two goroutines at once, so no locking is needed.
type cachingConn struct {
	base  driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	driver.Stmt
	// busy while rows read from it are open: running the same statement
	// again then would reset it under them.
	busy bool
}

var errNotSupported = errors.New("sqlite: driver lacks a needed interface")

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if s, ok := c.stmts[query]; ok && !s.busy {
		return &stmtHandle{s: s}, nil
	}
	pc, ok := c.base.(driver.ConnPrepareContext)
	if !ok {
		return nil, errNotSupported
	}
	raw, err := pc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if _, exists := c.stmts[query]; exists || len(c.stmts) >= stmtCacheSize {
		return raw, nil // used once and closed by database/sql
	}
	s := &cachedStmt{Stmt: raw}
	c.stmts[query] = s
	return &stmtHandle{s: s}, nil
}

func (c *cachingConn) Close() error {
	for q, s := range c.stmts {
		s.Stmt.Close()
		delete(c.stmts, q)
	}
	return c.base.Close()
}

func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.base.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, errNotSupported
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.base.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.base.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.base.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// stmtHandle is what database/sql holds: closing it keeps the statement.
type stmtHandle struct{ s *cachedStmt }

func (h *stmtHandle) Close() error  { return nil }
func (h *stmtHandle) NumInput() int { return h.s.NumInput() }

func (h *stmtHandle) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errNotSupported // database/sql uses ExecContext
}

func (h *stmtHandle) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errNotSupported // database/sql uses QueryContext
}

func (h *stmtHandle) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := h.s.Stmt.(driver.StmtExecContext)
	if !ok {
		return nil, errNotSupported
	}
	return ec.ExecContext(ctx, args)
}

func (h *stmtHandle) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := h.s.Stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errNotSupported
	}
	rows, err := qc.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	h.s.busy = true
	return &handleRows{Rows: rows, s: h.s}, nil
}

// handleRows frees its statement for reuse when closed.
type handleRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *handleRows) Close() error {
	err := r.Rows.Close()
	r.s.busy = false
	return err
}
