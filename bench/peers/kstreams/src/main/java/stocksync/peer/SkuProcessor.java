package stocksync.peer;

import java.util.Map;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import stocksync.peer.Messages.Feed;
import stocksync.peer.Messages.LineAnswer;
import stocksync.peer.Messages.LineRequest;
import stocksync.peer.Messages.Reason;
import stocksync.peer.Messages.Row;
import stocksync.peer.Messages.Stock;

/**
 * The SKU side, keyed by SKU: applies stock.feed and the order side's line
 * requests to the SKU's rows, and answers each hold on the line-answers
 * topic, keyed by order id. One SKU lives on one task, so its decisions are
 * serial; a multi-line order spans several SKUs and is decided by the order
 * side from their answers.
 */
final class SkuProcessor implements Processor<String, String, String, String> {
    private static final Logger LOG = LoggerFactory.getLogger(SkuProcessor.class);

    private final String feedTopic;
    private ProcessorContext<String, String> ctx;
    private KeyValueStore<String, String> stock;
    private KeyValueStore<String, String> adjusts;

    SkuProcessor(String feedTopic) {
        this.feedTopic = feedTopic;
    }

    @Override
    public void init(ProcessorContext<String, String> ctx) {
        this.ctx = ctx;
        this.stock = ctx.getStateStore(Graph.STOCK_STORE);
        this.adjusts = ctx.getStateStore(Graph.ADJUST_STORE);
    }

    @Override
    public void process(Record<String, String> rec) {
        String topic = ctx.recordMetadata().map(m -> m.topic()).orElse("");
        try {
            if (topic.equals(feedTopic)) {
                feed(Messages.read(rec.value(), Feed.class));
            } else {
                line(rec, Messages.read(rec.value(), LineRequest.class));
            }
        } catch (IllegalArgumentException e) {
            LOG.warn("skipping a record of {}: {}", topic, e.getMessage());
        }
    }

    private Stock load(String sku) {
        String v = stock.get(sku);
        return v == null ? new Stock() : Messages.read(v, Stock.class);
    }

    private void feed(Feed f) {
        if (f.sku == null || f.location == null) {
            throw new IllegalArgumentException("feed message without sku or location");
        }
        Stock s = load(f.sku);
        Row row = s.rows.computeIfAbsent(f.location, l -> new Row());
        switch (f.type) {
            case "snapshot" -> {
                if (f.onHand == null || f.version <= row.erpVersion) {
                    return; // older than what the ERP already told us
                }
                row.onHand = f.onHand;
                row.erpVersion = f.version;
            }
            case "adjust" -> {
                String id = f.sku + "|" + f.id;
                if (adjusts.get(id) != null) {
                    return; // applied once already
                }
                adjusts.put(id, "");
                row.onHand += f.delta;
            }
            default -> throw new IllegalArgumentException("feed type " + f.type);
        }
        stock.put(f.sku, Messages.write(s));
    }

    private void line(Record<String, String> rec, LineRequest r) {
        Stock s = load(r.sku);
        if (r.op.equals("hold")) {
            hold(rec, s, r);
            return;
        }
        Row row = s.rows.get(r.location);
        if (row == null) {
            LOG.warn("{} of order {} names no row {}@{}", r.op, r.orderId, r.sku, r.location);
            return;
        }
        switch (r.op) {
            case "unhold" -> row.reserved -= r.qty;
            case "commit" -> { row.reserved -= r.qty; row.committed += r.qty; }
            case "uncommit" -> row.committed -= r.qty;
            case "ship" -> { row.committed -= r.qty; row.onHand -= r.qty; }
            default -> throw new IllegalArgumentException("line op " + r.op);
        }
        stock.put(r.sku, Messages.write(s));
    }

    /** Holds the line at its location, or at the first one that has enough. */
    private void hold(Record<String, String> rec, Stock s, LineRequest r) {
        LineAnswer a = new LineAnswer();
        a.orderId = r.orderId;
        a.index = r.index;
        Row chosen = null;
        String where = r.location;
        if (r.location != null) {
            chosen = s.rows.get(r.location);
            if (chosen == null) {
                a.refusal = refusal("unknown_location", r, r.location, null);
            }
        } else {
            for (Map.Entry<String, Row> e : s.rows.entrySet()) {
                if (e.getValue().available() >= r.qty) {
                    chosen = e.getValue();
                    where = e.getKey();
                    break;
                }
            }
            if (chosen == null) {
                long best = s.rows.values().stream().mapToLong(Row::available).max().orElse(0);
                a.refusal = refusal("insufficient_stock", r, null, Math.max(best, 0));
            }
        }
        if (chosen != null && chosen.available() < r.qty) {
            a.refusal = refusal("insufficient_stock", r, where, Math.max(chosen.available(), 0));
            chosen = null;
        }
        if (chosen != null) {
            chosen.reserved += r.qty;
            stock.put(r.sku, Messages.write(s));
            a.ok = true;
            a.location = where;
        }
        ctx.forward(rec.withKey(r.orderId).withValue(Messages.write(a)));
    }

    private static Reason refusal(String type, LineRequest r, String location, Long available) {
        Reason why = new Reason();
        why.type = type;
        why.sku = r.sku;
        why.location = location;
        why.requested = r.qty;
        why.available = available;
        return why;
    }
}
