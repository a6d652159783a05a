package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notifications wake up whoever waits for a change ("a job was queued",
// "pipeline P changed") in this process and, on PostgreSQL, in every server
// sharing the database. They are hints, not messages: a listener that gets
// one re-reads the state it cares about. An empty payload means "something
// may have been missed, re-check everything"; it is sent after the
// PostgreSQL listening connection was lost and re-established, and when a
// slow listener's backlog overflowed.
//
// On PostgreSQL every notification travels on the single PostgreSQL
// channel pgChannel as "instance\nchannel\npayload", so one connection per
// server listens for every channel, and a server recognises (and skips) its
// own notifications, which it has already delivered in process.

const (
	// pgChannel is the PostgreSQL channel all notifications travel on.
	pgChannel = "baton"
	// maxNotifyPayload is PostgreSQL's limit on a payload, less a margin.
	maxNotifyPayload = 7900
	// listenBacklog is how many notifications a listener may fall behind
	// before they collapse into one "" (re-check everything).
	listenBacklog = 1024
	// listenCheckInterval is how often an idle listening connection is
	// pinged, so that a silently dead connection is noticed.
	listenCheckInterval = 30 * time.Second
	// reconnect delays of the listening connection.
	minReconnectDelay = 100 * time.Millisecond
	maxReconnectDelay = 5 * time.Second
)

type note struct{ channel, payload string }

func checkChannel(channel string) error {
	if channel == "" || strings.ContainsAny(channel, "\n\x00") {
		return fmt.Errorf("invalid notification channel %q", channel)
	}
	return nil
}

func (db *DB) encodeNote(channel, payload string) (string, error) {
	if err := checkChannel(channel); err != nil {
		return "", err
	}
	if strings.ContainsRune(payload, 0) {
		return "", errors.New("notification payload contains NUL")
	}
	msg := db.instance + "\n" + channel + "\n" + payload
	if len(msg) > maxNotifyPayload {
		return "", fmt.Errorf("notification payload of %d bytes is too long", len(payload))
	}
	return msg, nil
}

// Notify sends payload to the listeners of channel: those of this process
// and, on PostgreSQL, those of every server sharing the database.
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	msg, err := db.encodeNote(channel, payload)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	db.hub.deliver(channel, payload)
	if db.dialect == Postgres {
		if _, err := db.write.ExecContext(ctx, `SELECT pg_notify($1, $2)`, pgChannel, msg); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	return nil
}

// Notify sends payload to the listeners of channel, as [DB.Notify] does,
// when and if the transaction commits.
func (tx *Tx) Notify(channel, payload string) error {
	msg, err := tx.db.encodeNote(channel, payload)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if tx.db.dialect == Postgres {
		// PostgreSQL delivers it at commit.
		if _, err := tx.exec(`SELECT pg_notify($1, $2)`, pgChannel, msg); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	tx.notes = append(tx.notes, note{channel, payload})
	return nil
}

// Listen returns a channel that receives the payloads notified on channel
// until ctx is done or the DB is closed; then it is closed. A listener that
// falls far behind receives one "" in place of its backlog.
//
// On SQLite only notifications of this process arrive (a SQLite database
// has one server). On PostgreSQL the first Listen opens the connection that
// listens for the whole DB, and fails if it cannot; after that connection
// is lost, it is re-established in the background and every listener
// receives "".
func (db *DB) Listen(ctx context.Context, channel string) (<-chan string, error) {
	if err := checkChannel(channel); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if db.listener != nil {
		if err := db.listener.start(ctx); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	ch, err := db.hub.subscribe(ctx, channel)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ch, nil
}

// hub fans notifications out to this process's listeners.
type hub struct {
	db   *DB
	mu   sync.Mutex
	subs map[string]map[*sub]struct{}
}

func newHub(db *DB) *hub {
	return &hub{db: db, subs: map[string]map[*sub]struct{}{}}
}

func (h *hub) subscribe(ctx context.Context, channel string) (<-chan string, error) {
	s := &sub{out: make(chan string), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.subs[channel] == nil {
		h.subs[channel] = map[*sub]struct{}{}
	}
	h.subs[channel][s] = struct{}{}
	h.mu.Unlock()
	err := h.db.spawn(func() {
		s.run(ctx, h.db.bg.Done())
		h.remove(channel, s)
	})
	if err != nil {
		h.remove(channel, s)
		return nil, err
	}
	return s.out, nil
}

func (h *hub) remove(channel string, s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[channel], s)
	if len(h.subs[channel]) == 0 {
		delete(h.subs, channel)
	}
}

// deliver queues payload for the listeners of channel.
func (h *hub) deliver(channel, payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[channel] {
		s.push(payload)
	}
}

// broadcast queues payload for every listener.
func (h *hub) broadcast(payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for s := range subs {
			s.push(payload)
		}
	}
}

// sub is one listener: a queue that a goroutine feeds into out, so that a
// slow listener never blocks Notify.
type sub struct {
	out  chan string
	wake chan struct{}
	mu   sync.Mutex
	q    []string
}

func (s *sub) push(payload string) {
	s.mu.Lock()
	if len(s.q) >= listenBacklog {
		s.q = append(s.q[:0], "")
	} else {
		s.q = append(s.q, payload)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sub) run(ctx context.Context, closing <-chan struct{}) {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			case <-closing:
				return
			}
		}
		p := s.q[0]
		s.q = s.q[1:]
		s.mu.Unlock()
		select {
		case s.out <- p:
		case <-ctx.Done():
			return
		case <-closing:
			return
		}
	}
}

// pgListener owns the connection that LISTENs on PostgreSQL.
type pgListener struct {
	db      *DB
	mu      sync.Mutex
	running bool
}

// start connects and listens, if no connection does yet, then keeps the
// connection in a goroutine that the DB's Close stops.
func (l *pgListener) start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		return nil
	}
	conn, err := l.connect(ctx)
	if err != nil {
		return err
	}
	if err := l.db.spawn(func() { l.run(conn) }); err != nil {
		closeConn(conn)
		return err
	}
	l.running = true
	return nil
}

func (l *pgListener) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(l.db.dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = "baton-listen"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// run receives notifications until the DB closes, re-connecting after a
// loss; after each re-connection every listener gets "".
func (l *pgListener) run(conn *pgx.Conn) {
	ctx := l.db.bg
	delay := minReconnectDelay
	for {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			c, err := l.connect(ctx)
			if err != nil {
				delay = min(2*delay, maxReconnectDelay)
				continue
			}
			conn, delay = c, minReconnectDelay
			l.db.hub.broadcast("")
		}
		waitCtx, waitCancel := context.WithTimeout(ctx, listenCheckInterval)
		n, err := conn.WaitForNotification(waitCtx)
		timedOut := waitCtx.Err() != nil
		waitCancel()
		switch {
		case ctx.Err() != nil:
			closeConn(conn)
			return
		case err != nil && timedOut:
			// Idle: make sure the connection still works.
			pingCtx, pingCancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pingCtx)
			pingCancel()
			if err != nil {
				closeConn(conn)
				conn = nil
			}
		case err != nil:
			closeConn(conn)
			conn = nil
		default:
			l.dispatch(n.Payload)
		}
	}
}

func (l *pgListener) dispatch(msg string) {
	instance, rest, ok := strings.Cut(msg, "\n")
	if !ok || instance == l.db.instance {
		return
	}
	channel, payload, ok := strings.Cut(rest, "\n")
	if !ok {
		return
	}
	l.db.hub.deliver(channel, payload)
}

// closeConn closes a listening connection, giving up on a polite goodbye
// after a second.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}
