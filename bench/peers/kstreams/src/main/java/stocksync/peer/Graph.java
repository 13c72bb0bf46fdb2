package stocksync.peer;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.state.Stores;

/**
 * The topology, in the shape of Confluent's orders/inventory example:
 *
 * <pre>
 * orders.commands ─selectKey(order id)→ repartition ─┐
 *                                                    ├→ OrderProcessor [orders, expiry] ─┬→ orders.results
 * kstreams.line-answers ─────────────────────────────┘                                   └→ kstreams.line-requests (key SKU)
 * stock.feed + kstreams.line-requests → SkuProcessor [stock, adjusts] → kstreams.line-answers (key order id)
 * </pre>
 *
 * Every store is a RocksDB store with a changelog topic. The two
 * kstreams.* topics close the loop between the order side and the SKU side,
 * which the DSL cannot express as one stream; the benchmark creates them.
 */
final class Graph {
    private Graph() {}

    static final String ORDER_STORE = "orders";
    static final String EXPIRY_STORE = "expiry";
    static final String STOCK_STORE = "stock";
    static final String ADJUST_STORE = "adjusts";

    /** The topic names under a prefix, as stocksync's. */
    record Names(String prefix) {
        String commands() { return prefix + "orders.commands"; }
        String results() { return prefix + "orders.results"; }
        String feed() { return prefix + "stock.feed"; }
        String lineRequests() { return prefix + "kstreams.line-requests"; }
        String lineAnswers() { return prefix + "kstreams.line-answers"; }
    }

    /** A record of the order side and the topic it goes to. */
    record Out(String topic, String json) {}

    private static final Serde<Out> OUT = Serdes.serdeFrom(
            (topic, out) -> out.json().getBytes(StandardCharsets.UTF_8),
            (topic, bytes) -> { throw new UnsupportedOperationException("Out is written, never read"); });

    static Topology build(Names n) {
        StreamsBuilder b = new StreamsBuilder();
        for (String store : List.of(ORDER_STORE, EXPIRY_STORE, STOCK_STORE, ADJUST_STORE)) {
            b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(store), Serdes.String(), Serdes.String()));
        }
        Consumed<String, String> strings = Consumed.with(Serdes.String(), Serdes.String());

        // Clients may key a command by anything (a SKU, nothing): the order
        // id inside it is the key, and a repartition puts it on its task.
        KStream<String, String> commands = b.stream(n.commands(), strings)
                .selectKey((key, json) -> orderIdOf(key, json))
                .repartition(Repartitioned.<String, String>as("orders-by-id")
                        .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()));
        commands.merge(b.stream(n.lineAnswers(), strings))
                .process(() -> new OrderProcessor(n), ORDER_STORE, EXPIRY_STORE)
                .to((key, out, ctx) -> out.topic(), Produced.with(Serdes.String(), OUT));

        b.stream(List.of(n.feed(), n.lineRequests()), strings)
                .process(() -> new SkuProcessor(n.feed()), STOCK_STORE, ADJUST_STORE)
                .to(n.lineAnswers(), Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    private static String orderIdOf(String key, String json) {
        try {
            String id = Messages.read(json, Messages.Command.class).orderId;
            return id == null ? key : id;
        } catch (IllegalArgumentException e) {
            return key; // the order side logs it and skips it
        }
    }
}
