package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stocksync/stocksync/contract"
)

// PostgresSystemConfig configures the PostgreSQL baseline.
type PostgresSystemConfig struct {
	// Server is where PostgreSQL listens (StartPostgres). Required.
	Server *Server
	// Conns is the pool size. Default 16: on 2 cores a larger pool only
	// queues more transactions behind the same hot row locks.
	Conns int
	// SweepInterval is how often expired reservations are released.
	// Default 1s, as stocksync's sweeper.
	SweepInterval time.Duration
}

// Postgres is the system stocksync replaces: one transaction per command,
// the stock rows locked with SELECT … FOR UPDATE in (sku, location) order
// so that two orders never deadlock, a reservations table with expiry
// (a sweeper releases what expired), an orders table whose primary key
// makes every command idempotent. Statements are prepared (pgx's statement
// cache); the stock table has fillfactor 80 so updates stay HOT.
type Postgres struct {
	pool   *pgxpool.Pool
	server *Server
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

const pgSchema = `
DROP TABLE IF EXISTS stock, orders, reservations, adjustments;
CREATE TABLE stock (
  sku text NOT NULL, location text NOT NULL,
  on_hand bigint NOT NULL, reserved bigint NOT NULL DEFAULT 0, committed bigint NOT NULL DEFAULT 0,
  erp_version bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (sku, location)
) WITH (fillfactor = 80);
CREATE TABLE orders (
  order_id text PRIMARY KEY, state text NOT NULL, expires_at timestamptz NOT NULL,
  reason text, reason_sku text, available bigint
);
CREATE INDEX orders_held_expiry ON orders (expires_at) WHERE state = 'held';
CREATE TABLE reservations (
  order_id text NOT NULL, line int NOT NULL, sku text NOT NULL, location text NOT NULL, qty bigint NOT NULL,
  PRIMARY KEY (order_id, line)
);
CREATE TABLE adjustments (id text PRIMARY KEY);
`

// NewPostgres connects to the server and creates the schema.
func NewPostgres(ctx context.Context, cfg PostgresSystemConfig) (*Postgres, error) {
	if cfg.Server == nil {
		return nil, errors.New("bench: PostgresSystemConfig.Server is required")
	}
	cfg.Conns = or(cfg.Conns, 16)
	cfg.SweepInterval = or(cfg.SweepInterval, time.Second)
	pc, err := pgxpool.ParseConfig(fmt.Sprintf("postgres://bench@%s/postgres?sslmode=disable", cfg.Server.Addr))
	if err != nil {
		return nil, err
	}
	pc.MaxConns, pc.MinConns = int32(cfg.Conns), int32(cfg.Conns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for { // the server listens before it accepts: wait out "starting up"
		_, err = pool.Exec(ctx, pgSchema)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("bench: postgres schema: %w", err)
	}
	sctx, stop := context.WithCancel(context.Background())
	p := &Postgres{pool: pool, server: cfg.Server, stop: stop}
	p.wg.Add(1)
	go p.sweep(sctx, cfg.SweepInterval)
	return p, nil
}

func (p *Postgres) Name() string { return "postgres" }

func (p *Postgres) Processes() []Process { return []Process{{Name: "postgres", PID: p.server.PID()}} }

func (p *Postgres) Close() error {
	p.stop()
	p.wg.Wait()
	p.pool.Close()
	return nil
}

// Load copies the catalogue into the stock table.
func (p *Postgres) Load(ctx context.Context, cat *Catalogue) error {
	rows := make([][]any, 0, cat.Rows())
	_ = cat.Each(func(k Key, onHand int64) error {
		rows = append(rows, []any{k.SKU, k.Location, onHand, int64(1)})
		return nil
	})
	if _, err := p.pool.Exec(ctx, "TRUNCATE stock, orders, reservations, adjustments"); err != nil {
		return err
	}
	n, err := p.pool.CopyFrom(ctx, pgx.Identifier{"stock"}, []string{"sku", "location", "on_hand", "erp_version"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("bench: copy stock: %w", err)
	}
	if int(n) != len(rows) {
		return fmt.Errorf("bench: copied %d of %d stock rows", n, len(rows))
	}
	_, err = p.pool.Exec(ctx, "VACUUM ANALYZE stock")
	return err
}

// Reserve: lock the lines' stock rows in key order, check every line, then
// hold all of them or none, and record the order (its primary key makes a
// repeat answer from the record instead of reserving twice).
func (p *Postgres) Reserve(ctx context.Context, orderID string, lines []contract.Line, _ string, ttl time.Duration) (contract.OrderResult, error) {
	res := contract.OrderResult{OrderID: orderID, Type: contract.Reserve}
	skus, locs, qtys := make([]string, len(lines)), make([]string, len(lines)), make([]int64, len(lines))
	for i, l := range lines {
		skus[i], locs[i], qtys[i] = l.SKU, l.Location, l.Qty
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT sku, location, on_hand - reserved - committed FROM stock
			WHERE (sku, location) IN (SELECT * FROM unnest($1::text[], $2::text[]))
			ORDER BY sku, location FOR UPDATE`, skus, locs)
		if err != nil {
			return err
		}
		avail := map[Key]int64{}
		var k Key
		var a int64
		_, err = pgx.ForEachRow(rows, []any{&k.SKU, &k.Location, &a}, func() error { avail[k] = a; return nil })
		if err != nil {
			return err
		}
		for _, l := range lines {
			if a := avail[Key{l.SKU, l.Location}]; a < l.Qty {
				res.Status = contract.StatusRejected
				av := max(a, 0)
				res.Error = &contract.Reason{Type: contract.ErrInsufficientStock, SKU: l.SKU, Location: l.Location, Requested: l.Qty, Available: &av}
				tag, err := tx.Exec(ctx, `INSERT INTO orders (order_id, state, expires_at, reason, reason_sku, available)
					VALUES ($1, 'rejected', now(), $2, $3, $4) ON CONFLICT DO NOTHING`, orderID, res.Error.Type, l.SKU, av)
				if err == nil && tag.RowsAffected() == 0 {
					return errDuplicate
				}
				return err
			}
		}
		tag, err := tx.Exec(ctx, `WITH o AS (
				INSERT INTO orders (order_id, state, expires_at) VALUES ($1, 'held', now() + $5 * interval '1 millisecond')
				ON CONFLICT DO NOTHING RETURNING order_id),
			s AS (UPDATE stock SET reserved = stock.reserved + l.qty
				FROM unnest($2::text[], $3::text[], $4::bigint[]) AS l(sku, location, qty)
				WHERE stock.sku = l.sku AND stock.location = l.location AND EXISTS (SELECT 1 FROM o))
			INSERT INTO reservations (order_id, line, sku, location, qty)
			SELECT o.order_id, l.n, l.sku, l.location, l.qty
			FROM o, unnest($2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS l(sku, location, qty, n)`,
			orderID, skus, locs, qtys, ttl.Milliseconds())
		if err == nil && tag.RowsAffected() == 0 {
			return errDuplicate
		}
		res.Status, res.Lines = contract.StatusReserved, lines
		return err
	})
	if errors.Is(err, errDuplicate) {
		return p.answerOf(ctx, orderID, contract.Reserve)
	}
	return res, err
}

var errDuplicate = errors.New("bench: duplicate order id")

// answerOf answers a repeated command from the order's record.
func (p *Postgres) answerOf(ctx context.Context, orderID, typ string) (contract.OrderResult, error) {
	res := contract.OrderResult{OrderID: orderID, Type: typ}
	var state string
	var reason, sku *string
	var avail *int64
	if err := p.pool.QueryRow(ctx, `SELECT state, reason, reason_sku, available FROM orders WHERE order_id = $1`, orderID).
		Scan(&state, &reason, &sku, &avail); err != nil {
		return res, err
	}
	res.Status = map[string]string{"held": contract.StatusReserved, "rejected": contract.StatusRejected, "confirmed": contract.StatusConfirmed,
		"released": contract.StatusReleased, "shipped": contract.StatusShipped, "expired": contract.StatusExpired}[state]
	if reason != nil {
		res.Error = &contract.Reason{Type: *reason, SKU: deref(sku), Available: avail}
	}
	if res.Status != contract.StatusRejected {
		lines, err := p.lines(ctx, p.pool, orderID, false)
		res.Lines = lines
		return res, err
	}
	return res, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// lines reads an order's lines; with lock, their stock rows are locked in
// key order too.
func (p *Postgres) lines(ctx context.Context, q querier, orderID string, lock bool) ([]contract.Line, error) {
	sql := `SELECT r.sku, r.location, r.qty FROM reservations r WHERE r.order_id = $1 ORDER BY r.line`
	if lock {
		sql = `SELECT r.sku, r.location, r.qty FROM reservations r JOIN stock s USING (sku, location)
			WHERE r.order_id = $1 ORDER BY s.sku, s.location FOR UPDATE OF s`
	}
	rows, err := q.Query(ctx, sql, orderID)
	if err != nil {
		return nil, err
	}
	var out []contract.Line
	var l contract.Line
	_, err = pgx.ForEachRow(rows, []any{&l.SKU, &l.Location, &l.Qty}, func() error { out = append(out, l); return nil })
	return out, err
}

// transition moves an order from one of the states in from to state to,
// applying stockSQL ($1 order id) to its lines' stock rows, locked in key
// order.
func (p *Postgres) transition(ctx context.Context, orderID, typ string, from map[string]bool, to, status, stockSQL string) (contract.OrderResult, error) {
	res := contract.OrderResult{OrderID: orderID, Type: typ}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var state string
		var expires time.Time
		err := tx.QueryRow(ctx, `SELECT state, expires_at FROM orders WHERE order_id = $1 FOR UPDATE`, orderID).Scan(&state, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			res.Status, res.Error = contract.StatusRejected, &contract.Reason{Type: contract.ErrUnknownOrder}
			return nil
		case err != nil:
			return err
		case state == to:
			res.Status = status // a repeat
			return nil
		case state == "held" && !time.Now().Before(expires):
			res.Status, res.Error = contract.StatusRejected, &contract.Reason{Type: contract.ErrExpired, State: "expired"}
			return nil // the sweeper releases it
		case !from[state]:
			res.Status, res.Error = contract.StatusRejected, &contract.Reason{Type: contract.ErrInvalidTransition, State: state}
			return nil
		}
		if res.Lines, err = p.lines(ctx, tx, orderID, true); err != nil {
			return err
		}
		if state == "held" && to == "released" {
			stockSQL = pgReleaseHeld
		}
		if _, err := tx.Exec(ctx, stockSQL, orderID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE orders SET state = $2 WHERE order_id = $1`, orderID, to)
		res.Status = status
		return err
	})
	return res, err
}

const (
	pgConfirm = `UPDATE stock s SET reserved = s.reserved - r.qty, committed = s.committed + r.qty
		FROM reservations r WHERE r.order_id = $1 AND s.sku = r.sku AND s.location = r.location`
	pgReleaseHeld = `UPDATE stock s SET reserved = s.reserved - r.qty
		FROM reservations r WHERE r.order_id = $1 AND s.sku = r.sku AND s.location = r.location`
	pgReleaseCommitted = `UPDATE stock s SET committed = s.committed - r.qty
		FROM reservations r WHERE r.order_id = $1 AND s.sku = r.sku AND s.location = r.location`
	pgShip = `UPDATE stock s SET committed = s.committed - r.qty, on_hand = s.on_hand - r.qty
		FROM reservations r WHERE r.order_id = $1 AND s.sku = r.sku AND s.location = r.location`
)

func (p *Postgres) Confirm(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return p.transition(ctx, orderID, contract.Confirm, map[string]bool{"held": true}, "confirmed", contract.StatusConfirmed, pgConfirm)
}

func (p *Postgres) Release(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return p.transition(ctx, orderID, contract.Release, map[string]bool{"held": true, "confirmed": true}, "released", contract.StatusReleased, pgReleaseCommitted)
}

func (p *Postgres) Ship(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return p.transition(ctx, orderID, contract.Ship, map[string]bool{"confirmed": true}, "shipped", contract.StatusShipped, pgShip)
}

// Snapshot is one statement: the version check and the write together.
func (p *Postgres) Snapshot(ctx context.Context, k Key, onHand, version int64) error {
	_, err := p.pool.Exec(ctx, `UPDATE stock SET on_hand = $3, erp_version = $4
		WHERE sku = $1 AND location = $2 AND erp_version < $4`, k.SKU, k.Location, onHand, version)
	return err
}

// Adjust is one statement: the id's first use applies the delta.
func (p *Postgres) Adjust(ctx context.Context, k Key, delta int64, id string) error {
	_, err := p.pool.Exec(ctx, `WITH a AS (INSERT INTO adjustments (id) VALUES ($4) ON CONFLICT DO NOTHING RETURNING id)
		UPDATE stock SET on_hand = on_hand + $3 WHERE sku = $1 AND location = $2 AND EXISTS (SELECT 1 FROM a)`,
		k.SKU, k.Location, delta, id)
	return err
}

// sweep releases held orders past their expiry, each in its own
// transaction through the same locking path as a release.
func (p *Postgres) sweep(ctx context.Context, every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rows, err := p.pool.Query(ctx, `SELECT order_id FROM orders WHERE state = 'held' AND expires_at <= now() LIMIT 1000`)
		if err != nil {
			continue
		}
		ids, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, id := range ids {
			_ = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
				var state string
				if err := tx.QueryRow(ctx, `SELECT state FROM orders WHERE order_id = $1 AND expires_at <= now() FOR UPDATE`, id).Scan(&state); err != nil || state != "held" {
					return err
				}
				if _, err := p.lines(ctx, tx, id, true); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, pgReleaseHeld, id); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE orders SET state = 'expired' WHERE order_id = $1`, id)
				return err
			})
		}
	}
}
