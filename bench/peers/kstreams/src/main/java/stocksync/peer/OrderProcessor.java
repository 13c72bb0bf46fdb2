package stocksync.peer;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import stocksync.peer.Messages.Command;
import stocksync.peer.Messages.Line;
import stocksync.peer.Messages.LineAnswer;
import stocksync.peer.Messages.LineRequest;
import stocksync.peer.Messages.Order;
import stocksync.peer.Messages.Reason;
import stocksync.peer.Messages.Result;

/**
 * The order side, keyed by order id: the order's state machine. A reserve
 * asks each line's SKU for a hold (line-requests, keyed by SKU) and is
 * decided when every SKU answered (line-answers, keyed by order id): all
 * held, it is reserved; one refused, the holds granted are given back and it
 * is rejected. Confirm, release and ship are decided here and told to the
 * SKUs. A wall-clock punctuator expires reservations past their TTL.
 */
final class OrderProcessor implements Processor<String, String, String, Graph.Out> {
    private static final Logger LOG = LoggerFactory.getLogger(OrderProcessor.class);
    static final String REQUEST_ID_HEADER = "stocksync-request-id";
    private static final long DEFAULT_TTL_S = 900;

    private final Graph.Names names;
    private ProcessorContext<String, Graph.Out> ctx;
    private KeyValueStore<String, String> orders;
    private KeyValueStore<String, String> expiry; // "<expires_at ms, 13 digits>|<order id>" → ""

    OrderProcessor(Graph.Names names) {
        this.names = names;
    }

    @Override
    public void init(ProcessorContext<String, Graph.Out> ctx) {
        this.ctx = ctx;
        this.orders = ctx.getStateStore(Graph.ORDER_STORE);
        this.expiry = ctx.getStateStore(Graph.EXPIRY_STORE);
        ctx.schedule(Duration.ofSeconds(1), PunctuationType.WALL_CLOCK_TIME, this::expire);
    }

    @Override
    public void process(Record<String, String> rec) {
        String topic = ctx.recordMetadata().map(m -> m.topic()).orElse("");
        try {
            if (topic.equals(names.lineAnswers())) {
                answered(Messages.read(rec.value(), LineAnswer.class));
                return;
            }
            Command c = Messages.read(rec.value(), Command.class);
            if (c.requestId == null) {
                Header h = rec.headers().lastHeader(REQUEST_ID_HEADER);
                c.requestId = h == null ? null : new String(h.value(), java.nio.charset.StandardCharsets.UTF_8);
            }
            command(c);
        } catch (IllegalArgumentException e) {
            LOG.warn("skipping a record of {}: {}", topic, e.getMessage());
        }
    }

    private Order load(String orderId) {
        String v = orders.get(orderId);
        return v == null ? null : Messages.read(v, Order.class);
    }

    private void save(String orderId, Order o) {
        orders.put(orderId, Messages.write(o));
    }

    private void command(Command c) {
        if (c.orderId == null || c.orderId.isEmpty() || c.type == null) {
            throw new IllegalArgumentException("command without order_id or type");
        }
        Order o = load(c.orderId);
        switch (c.type) {
            case "reserve" -> reserve(c, o);
            case "confirm" -> transition(c, o, "reserved", "confirmed", "commit");
            case "release" -> release(c, o);
            case "ship" -> transition(c, o, "confirmed", "shipped", "ship");
            default -> throw new IllegalArgumentException("command type " + c.type);
        }
    }

    private void reserve(Command c, Order o) {
        if (c.lines == null || c.lines.isEmpty()) {
            throw new IllegalArgumentException("reserve of " + c.orderId + " without lines");
        }
        long ttl = c.ttlS > 0 ? c.ttlS : DEFAULT_TTL_S;
        if (o != null) {
            if (!sameBody(o, c, ttl)) {
                reply(c, "rejected", null, Reason.of("conflict", o.status));
            } else if (o.answer == null) {
                reply(c, "rejected", null, Reason.of("pending", o.status));
            } else {
                o.answer.requestId = c.requestId; // a repeat: the same answer again
                emit(names.results(), c.orderId, o.answer);
            }
            return;
        }
        o = new Order();
        o.status = "pending";
        o.channel = c.channel;
        o.ttlS = ttl;
        o.requestId = c.requestId;
        for (int i = 0; i < c.lines.size(); i++) {
            Line l = c.lines.get(i);
            o.lines.add(l.copy());
            o.held.add(null);
            request("hold", c.orderId, i, l);
        }
        save(c.orderId, o);
    }

    private static boolean sameBody(Order o, Command c, long ttl) {
        if (o.lines.size() != c.lines.size() || o.ttlS != ttl || !Objects.equals(o.channel, c.channel)) {
            return false;
        }
        for (int i = 0; i < c.lines.size(); i++) {
            Line asked = c.lines.get(i), had = o.lines.get(i);
            if (!asked.sku.equals(had.sku) || asked.qty != had.qty
                    || (asked.location != null && !asked.location.equals(had.location))) {
                return false;
            }
        }
        return true;
    }

    /** A SKU answered one line's hold; the order is decided on the last answer. */
    private void answered(LineAnswer a) {
        Order o = load(a.orderId);
        if (o == null || !o.status.equals("pending") || o.held.get(a.index) != null) {
            return; // a replayed answer of a decided order
        }
        o.held.set(a.index, a.ok);
        if (a.ok) {
            o.lines.get(a.index).location = a.location;
        } else if (o.refusal == null) {
            o.refusal = a.refusal;
        }
        if (o.held.contains(null)) {
            save(a.orderId, o);
            return;
        }
        Result r = result(a.orderId, "reserve", o.requestId);
        if (o.refusal == null) {
            o.status = "reserved";
            o.expiresAtMs = System.currentTimeMillis() + o.ttlS * 1000;
            expiry.put(expiryKey(o.expiresAtMs, a.orderId), "");
            r.status = "reserved";
            r.lines = o.lines;
            r.expiresAt = Instant.ofEpochMilli(o.expiresAtMs).toString();
        } else {
            o.status = "rejected";
            for (int i = 0; i < o.lines.size(); i++) {
                if (o.held.get(i)) {
                    request("unhold", a.orderId, i, o.lines.get(i)); // all or none
                }
            }
            r.status = "rejected";
            r.error = o.refusal;
        }
        o.answer = r;
        save(a.orderId, o);
        emit(names.results(), a.orderId, r);
    }

    /** confirm (reserved → confirmed) and ship (confirmed → shipped). */
    private void transition(Command c, Order o, String from, String to, String op) {
        if (o == null) {
            reply(c, "rejected", null, Reason.of("unknown_order", null));
            return;
        }
        if (o.status.equals("reserved") && expired(c.orderId, o)) {
            reply(c, "rejected", null, Reason.of("expired", "expired"));
            return;
        }
        if (o.status.equals(to)) {
            reply(c, to, o.lines, null); // a repeat
            return;
        }
        if (!o.status.equals(from)) {
            reply(c, "rejected", null, refusal(o));
            return;
        }
        if (from.equals("reserved")) {
            expiry.delete(expiryKey(o.expiresAtMs, c.orderId));
        }
        o.status = to;
        for (int i = 0; i < o.lines.size(); i++) {
            request(op, c.orderId, i, o.lines.get(i));
        }
        save(c.orderId, o);
        reply(c, to, o.lines, null);
    }

    /** release: reserved or confirmed → released. */
    private void release(Command c, Order o) {
        if (o == null) {
            reply(c, "rejected", null, Reason.of("unknown_order", null));
            return;
        }
        if (o.status.equals("reserved") && expired(c.orderId, o)) {
            reply(c, "rejected", null, Reason.of("expired", "expired"));
            return;
        }
        switch (o.status) {
            case "released" -> reply(c, "released", o.lines, null);
            case "reserved", "confirmed" -> {
                String op = o.status.equals("reserved") ? "unhold" : "uncommit";
                if (op.equals("unhold")) {
                    expiry.delete(expiryKey(o.expiresAtMs, c.orderId));
                }
                for (int i = 0; i < o.lines.size(); i++) {
                    request(op, c.orderId, i, o.lines.get(i));
                }
                o.status = "released";
                save(c.orderId, o);
                reply(c, "released", o.lines, null);
            }
            default -> reply(c, "rejected", null, refusal(o));
        }
    }

    /** Why a command cannot move the order on from its state. */
    private static Reason refusal(Order o) {
        return switch (o.status) {
            case "pending" -> Reason.of("pending", o.status);
            case "expired" -> Reason.of("expired", o.status);
            default -> Reason.of("invalid_transition", o.status);
        };
    }

    /** Expires a reservation whose TTL passed before the punctuator got to it. */
    private boolean expired(String orderId, Order o) {
        if (System.currentTimeMillis() < o.expiresAtMs) {
            return false;
        }
        expiry.delete(expiryKey(o.expiresAtMs, orderId));
        expireNow(orderId, o);
        return true;
    }

    /** The punctuator: every reservation past its TTL gives its units back. */
    private void expire(long now) {
        List<String> due = new ArrayList<>();
        try (KeyValueIterator<String, String> it = expiry.range(expiryKey(0, ""), expiryKey(now, "\uffff"))) {
            while (it.hasNext()) {
                due.add(it.next().key);
            }
        }
        for (String key : due) {
            expiry.delete(key);
            String orderId = key.substring(key.indexOf('|') + 1);
            Order o = load(orderId);
            if (o != null && o.status.equals("reserved")) {
                expireNow(orderId, o);
            }
        }
    }

    private void expireNow(String orderId, Order o) {
        o.status = "expired";
        for (int i = 0; i < o.lines.size(); i++) {
            request("unhold", orderId, i, o.lines.get(i));
        }
        save(orderId, o);
        Result r = result(orderId, "expire", null);
        r.status = "expired";
        r.lines = o.lines;
        emit(names.results(), orderId, r);
    }

    private static String expiryKey(long atMs, String orderId) {
        return String.format("%013d|%s", atMs, orderId);
    }

    private void request(String op, String orderId, int index, Line l) {
        LineRequest r = new LineRequest();
        r.op = op;
        r.orderId = orderId;
        r.index = index;
        r.sku = l.sku;
        r.location = l.location;
        r.qty = l.qty;
        emit(names.lineRequests(), l.sku, r);
    }

    private static Result result(String orderId, String type, String requestId) {
        Result r = new Result();
        r.orderId = orderId;
        r.type = type;
        r.requestId = requestId;
        return r;
    }

    private void reply(Command c, String status, List<Line> lines, Reason error) {
        Result r = result(c.orderId, c.type, c.requestId);
        r.status = status;
        r.lines = lines;
        r.error = error;
        emit(names.results(), c.orderId, r);
    }

    private void emit(String topic, String key, Object value) {
        ctx.forward(new Record<>(key, new Graph.Out(topic, Messages.write(value)), System.currentTimeMillis()));
    }
}
