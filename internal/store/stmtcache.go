package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// maxCachedStmts bounds the statements a stmtCache keeps prepared; the
// store's statements are a few hundred texts, and the few built with a
// variable number of parameters beyond it run unprepared.
const maxCachedStmts = 1024

// stmtCache keeps SQLite statements prepared on a pool, by their text:
// SQLite parses and plans a statement each time it is run unprepared,
// which was a tenth of a busy server's CPU. (PostgreSQL's driver keeps
// its own cache per connection.)
//
// A statement is prepared on the pool only while the caller holds none
// of its connections: the writer pool has one connection, held by the
// running transaction, so a statement first seen in a transaction runs
// unprepared and is prepared before the next transaction begins.
type stmtCache struct {
	pool *sql.DB

	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool // seen in a transaction, to prepare
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// cacheable tells whether query may be prepared: one statement (a
// prepared statement runs only the first of several).
func cacheable(query string) bool {
	return !strings.Contains(query, ";")
}

// lookup returns query's prepared statement, or nil; in a transaction
// (inTx) a miss is noted for prepareNoted, otherwise the statement is
// prepared at once.
func (c *stmtCache) lookup(ctx context.Context, query string, inTx bool) *sql.Stmt {
	if !cacheable(query) {
		return nil
	}
	c.mu.Lock()
	st, ok := c.stmts[query]
	if !ok && inTx && len(c.stmts)+len(c.pending) < maxCachedStmts {
		c.pending[query] = true
	}
	c.mu.Unlock()
	if ok || inTx {
		return st
	}
	return c.prepare(ctx, query)
}

// prepareNoted prepares the statements noted in transactions; callers
// hold no connection of the pool.
func (c *stmtCache) prepareNoted(ctx context.Context) {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(c.pending))
	for q := range c.pending {
		queries = append(queries, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range queries {
		c.prepare(ctx, q)
	}
}

// prepare prepares query on the pool and keeps it, unless the cache is
// full or preparing fails (the statement then runs unprepared, and
// reports its error itself).
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.stmts[query]
	full := len(c.stmts) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stmts[query]; ok {
		st.Close()
		return old
	}
	c.stmts[query] = st
	return st
}

// close closes the prepared statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}
