package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stocksync/stocksync/contract"
)

// RedisSystemConfig configures the Redis baseline.
type RedisSystemConfig struct {
	// Server is where Redis listens (StartRedis). Required.
	Server *Server
	// PoolSize is the connection pool. Default 64.
	PoolSize int
}

// Redis is the reservation store stocksync replaces: a hash per stock row
// (st:<sku>:<location>: on_hand, reserved, committed, ver), a hash per
// order (o:<id>) with a TTL equal to the reservation's, and a sorted set
// per row of its held reservations by expiry (ex:<sku>:<location>), from
// which each script first gives back what expired (a key's TTL alone
// cannot return units to a counter). Every command is one Lua script,
// atomic on the single-threaded server; EVALSHA, so one round trip.
//
// The confirm, release and ship scripts read the order's lines and derive
// the row keys inside the script: fine on one server, not on a cluster
// (there, hash-tag each order's keys).
type Redis struct {
	rdb    *redis.Client
	server *Server
}

var (
	redisReserve = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'dup'}
end
local n = (#KEYS - 1) / 2
for i = 1, n do
  local sk, ek = KEYS[2*i], KEYS[2*i+1]
  local gone = redis.call('ZRANGEBYSCORE', ek, '-inf', now)
  if #gone > 0 then
    for _, m in ipairs(gone) do
      redis.call('HINCRBY', sk, 'reserved', -tonumber(string.match(m, '|(%d+)$')))
    end
    redis.call('ZREMRANGEBYSCORE', ek, '-inf', now)
  end
end
for i = 1, n do
  local v = redis.call('HMGET', KEYS[2*i], 'on_hand', 'reserved', 'committed')
  local avail = (tonumber(v[1]) or 0) - (tonumber(v[2]) or 0) - (tonumber(v[3]) or 0)
  if avail < tonumber(ARGV[2 + 2*(i-1) + 1]) then
    redis.call('HSET', KEYS[1], 'state', 'rejected', 'line', i, 'available', avail)
    redis.call('PEXPIRE', KEYS[1], ttl)
    return {'rejected', tostring(i), tostring(avail)}
  end
end
for i = 1, n do
  local q = ARGV[2 + 2*(i-1) + 1]
  redis.call('HINCRBY', KEYS[2*i], 'reserved', q)
  redis.call('ZADD', KEYS[2*i+1], now + ttl, ARGV[2] .. '|' .. q)
end
local lines = {}
for i = 1, n do lines[i] = ARGV[2 + 2*(i-1) + 2] .. '|' .. ARGV[2 + 2*(i-1) + 1] end
redis.call('HSET', KEYS[1], 'state', 'held', 'lines', table.concat(lines, ';'))
redis.call('PEXPIRE', KEYS[1], ttl)
return {'reserved'}
`)
	// KEYS[1] order; ARGV[1] the command, ARGV[2] order id. Answers the
	// state after, or an error word.
	redisTransition = redis.NewScript(`
local cmd, id = ARGV[1], ARGV[2]
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'unknown_order'} end
local target = ({confirm='confirmed', release='released', ship='shipped'})[cmd]
if st == target then return {target, redis.call('HGET', KEYS[1], 'lines')} end
local ok = (cmd == 'confirm' and st == 'held') or (cmd == 'release' and (st == 'held' or st == 'confirmed'))
  or (cmd == 'ship' and st == 'confirmed')
if not ok then return {'invalid_transition', st} end
local lines = redis.call('HGET', KEYS[1], 'lines')
if st == 'held' then
  for line in string.gmatch(lines, '[^;]+') do
    local sku, loc, q = string.match(line, '^([^|]*)|([^|]*)|(%d+)$')
    -- gone: the hold expired and a later reserve gave its units back
    if not redis.call('ZSCORE', 'ex:' .. sku .. ':' .. loc, id .. '|' .. q) then return {'expired'} end
  end
end
for line in string.gmatch(lines, '[^;]+') do
  local sku, loc, q = string.match(line, '^([^|]*)|([^|]*)|(%d+)$')
  local sk, ek = 'st:' .. sku .. ':' .. loc, 'ex:' .. sku .. ':' .. loc
  local member = id .. '|' .. q
  if st == 'held' then
    redis.call('ZREM', ek, member)
    redis.call('HINCRBY', sk, 'reserved', -tonumber(q))
    if cmd == 'confirm' then redis.call('HINCRBY', sk, 'committed', q) end
  else
    redis.call('HINCRBY', sk, 'committed', -tonumber(q))
    if cmd == 'ship' then redis.call('HINCRBY', sk, 'on_hand', -tonumber(q)) end
  end
end
redis.call('HSET', KEYS[1], 'state', target)
if cmd == 'confirm' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], 86400000) end
return {target, lines}
`)
	redisSnapshot = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if v >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'on_hand', ARGV[1], 'ver', ARGV[2])
return 1
`)
	redisAdjust = redis.NewScript(`
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', 604800) then
  redis.call('HINCRBY', KEYS[1], 'on_hand', ARGV[1])
  return 1
end
return 0
`)
)

// NewRedis connects to the server and loads the scripts.
func NewRedis(ctx context.Context, cfg RedisSystemConfig) (*Redis, error) {
	if cfg.Server == nil {
		return nil, errors.New("bench: RedisSystemConfig.Server is required")
	}
	cfg.PoolSize = or(cfg.PoolSize, 64)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Server.Addr, PoolSize: cfg.PoolSize, MinIdleConns: cfg.PoolSize / 4,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	for _, s := range []*redis.Script{redisReserve, redisTransition, redisSnapshot, redisAdjust} {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			rdb.Close()
			return nil, fmt.Errorf("bench: redis script: %w", err)
		}
	}
	return &Redis{rdb: rdb, server: cfg.Server}, nil
}

func (r *Redis) Name() string { return "redis" }

func (r *Redis) Processes() []Process { return []Process{{Name: "redis", PID: r.server.PID()}} }

func (r *Redis) Close() error { return r.rdb.Close() }

func rowKey(k Key) string    { return "st:" + k.SKU + ":" + k.Location }
func expiryKey(k Key) string { return "ex:" + k.SKU + ":" + k.Location }

// Load writes the catalogue, pipelined in batches.
func (r *Redis) Load(ctx context.Context, cat *Catalogue) error {
	if err := r.rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}
	pipe := r.rdb.Pipeline()
	n := 0
	flush := func() error {
		_, err := pipe.Exec(ctx)
		n = 0
		return err
	}
	err := cat.Each(func(k Key, onHand int64) error {
		pipe.HSet(ctx, rowKey(k), "on_hand", onHand, "reserved", 0, "committed", 0, "ver", 1)
		if n++; n == 2000 {
			return flush()
		}
		return nil
	})
	if err == nil && n > 0 {
		err = flush()
	}
	return err
}

func (r *Redis) Reserve(ctx context.Context, orderID string, lines []contract.Line, _ string, ttl time.Duration) (contract.OrderResult, error) {
	res := contract.OrderResult{OrderID: orderID, Type: contract.Reserve}
	keys := make([]string, 0, 1+2*len(lines))
	keys = append(keys, "o:"+orderID)
	args := make([]any, 0, 2+2*len(lines))
	args = append(args, ttl.Milliseconds(), orderID)
	for _, l := range lines {
		k := Key{l.SKU, l.Location}
		keys = append(keys, rowKey(k), expiryKey(k))
		args = append(args, l.Qty, l.SKU+"|"+l.Location)
	}
	out, err := redisReserve.EvalSha(ctx, r.rdb, keys, args...).StringSlice()
	if err != nil {
		return res, err
	}
	switch out[0] {
	case "reserved":
		res.Status, res.Lines = contract.StatusReserved, lines
	case "rejected":
		i, _ := strconv.Atoi(out[1])
		a, _ := strconv.ParseInt(out[2], 10, 64)
		a = max(a, 0)
		l := lines[i-1]
		res.Status = contract.StatusRejected
		res.Error = &contract.Reason{Type: contract.ErrInsufficientStock, SKU: l.SKU, Location: l.Location, Requested: l.Qty, Available: &a}
	case "dup":
		return r.answerOf(ctx, orderID, lines)
	}
	return res, nil
}

// answerOf answers a repeated reserve from the order's hash.
func (r *Redis) answerOf(ctx context.Context, orderID string, lines []contract.Line) (contract.OrderResult, error) {
	res := contract.OrderResult{OrderID: orderID, Type: contract.Reserve, Status: contract.StatusReserved, Lines: lines}
	st, err := r.rdb.HGet(ctx, "o:"+orderID, "state").Result()
	if err != nil {
		return res, err
	}
	if st == "rejected" {
		res.Status, res.Lines = contract.StatusRejected, nil
		res.Error = &contract.Reason{Type: contract.ErrInsufficientStock}
	}
	return res, nil
}

func (r *Redis) transition(ctx context.Context, cmd, orderID string) (contract.OrderResult, error) {
	res := contract.OrderResult{OrderID: orderID, Type: cmd}
	out, err := redisTransition.EvalSha(ctx, r.rdb, []string{"o:" + orderID}, cmd, orderID).StringSlice()
	if err != nil {
		return res, err
	}
	switch out[0] {
	case contract.StatusConfirmed, contract.StatusReleased, contract.StatusShipped:
		res.Status = out[0]
		for _, l := range strings.Split(out[1], ";") {
			f := strings.Split(l, "|")
			if len(f) == 3 {
				q, _ := strconv.ParseInt(f[2], 10, 64)
				res.Lines = append(res.Lines, contract.Line{SKU: f[0], Location: f[1], Qty: q})
			}
		}
	default:
		res.Status, res.Error = contract.StatusRejected, &contract.Reason{Type: out[0]}
		if len(out) > 1 {
			res.Error.State = out[1]
		}
	}
	return res, nil
}

func (r *Redis) Confirm(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return r.transition(ctx, contract.Confirm, orderID)
}

func (r *Redis) Release(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return r.transition(ctx, contract.Release, orderID)
}

func (r *Redis) Ship(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return r.transition(ctx, contract.Ship, orderID)
}

func (r *Redis) Snapshot(ctx context.Context, k Key, onHand, version int64) error {
	return redisSnapshot.EvalSha(ctx, r.rdb, []string{rowKey(k)}, onHand, version).Err()
}

func (r *Redis) Adjust(ctx context.Context, k Key, delta int64, id string) error {
	return redisAdjust.EvalSha(ctx, r.rdb, []string{rowKey(k), "adj:" + id}, delta).Err()
}
