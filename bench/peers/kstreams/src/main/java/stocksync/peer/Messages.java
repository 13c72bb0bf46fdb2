package stocksync.peer;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The JSON of stocksync's public contract (contract/contract.go) and of this
 * peer's own topics and stores. Fields are public: Jackson maps them by name.
 */
final class Messages {
    private Messages() {}

    static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL);

    static <T> T read(String json, Class<T> type) {
        try {
            return JSON.readValue(json, type);
        } catch (IOException e) {
            throw new IllegalArgumentException("unreadable " + type.getSimpleName() + ": " + e.getMessage(), e);
        }
    }

    static String write(Object v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** contract.Line. */
    public static final class Line {
        public String sku;
        public long qty;
        public String location;

        Line copy() {
            Line l = new Line();
            l.sku = sku;
            l.qty = qty;
            l.location = location;
            return l;
        }

        boolean sameAs(Line o) {
            return sku.equals(o.sku) && qty == o.qty && java.util.Objects.equals(location, o.location);
        }
    }

    /** contract.OrderCommand, plus the request id the caller matches answers on. */
    public static final class Command {
        public String type;
        @JsonProperty("order_id") public String orderId;
        public List<Line> lines;
        public String channel;
        @JsonProperty("ttl_s") public long ttlS;
        @JsonProperty("request_id") public String requestId;
    }

    /** contract.Reason. */
    public static final class Reason {
        public String type;
        public String message;
        public String sku;
        public String location;
        public Long requested;
        public Long available;
        public String state;

        static Reason of(String type, String state) {
            Reason r = new Reason();
            r.type = type;
            r.state = state;
            return r;
        }
    }

    /** contract.OrderResult, plus the request id of the command it answers. */
    public static final class Result {
        @JsonProperty("order_id") public String orderId;
        public String type;
        public String status;
        public List<Line> lines;
        public Reason error;
        @JsonProperty("expires_at") public String expiresAt;
        @JsonProperty("request_id") public String requestId;
    }

    /** contract.FeedMessage. */
    public static final class Feed {
        public String type;
        public String sku;
        public String location;
        @JsonProperty("on_hand") public Long onHand;
        public String source;
        public long version;
        public long delta;
        public String reason;
        public String id;
    }

    /** What the order side asks of a SKU (topic kstreams.line-requests, key SKU). */
    public static final class LineRequest {
        public String op; // hold | unhold | commit | uncommit | ship
        @JsonProperty("order_id") public String orderId;
        public int index;
        public String sku;
        public String location;
        public long qty;
    }

    /** A SKU's answer to a hold (topic kstreams.line-answers, key order id). */
    public static final class LineAnswer {
        @JsonProperty("order_id") public String orderId;
        public int index;
        public boolean ok;
        public String location; // where the units are held, when ok
        public Reason refusal; // why not, when not ok
    }

    /** Store "orders": one order, keyed by order id. */
    public static final class Order {
        public String status; // pending, then reserved, rejected, confirmed, released, shipped, expired
        public List<Line> lines = new ArrayList<>();
        public String channel;
        @JsonProperty("ttl_s") public long ttlS;
        @JsonProperty("expires_at_ms") public long expiresAtMs;
        @JsonProperty("request_id") public String requestId; // of the reserve
        public List<Boolean> held = new ArrayList<>(); // per line: null until its SKU answered
        public Reason refusal; // the first line refused
        public Result answer; // the reserve's answer, replayed to a repeated reserve
    }

    /** One stock row: a SKU at a location. */
    public static final class Row {
        @JsonProperty("on_hand") public long onHand;
        public long reserved;
        public long committed;
        @JsonProperty("erp_version") public long erpVersion;

        long available() {
            return onHand - reserved - committed;
        }
    }

    /** Store "stock": one SKU's rows by location, keyed by SKU. */
    public static final class Stock {
        public Map<String, Row> rows = new TreeMap<>();
    }
}
