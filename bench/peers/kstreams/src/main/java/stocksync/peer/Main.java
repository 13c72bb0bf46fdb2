package stocksync.peer;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/**
 * Runs the peer until SIGTERM. It prints RUNNING on stdout once every task
 * is assigned and restored, which the benchmark waits for.
 *
 * <pre>
 * java -jar kstreams-peer.jar --brokers 127.0.0.1:19092 --prefix bench-1. \
 *      --guarantee at_least_once|exactly_once_v2 --state-dir DIR [--threads 2] [--commit-interval-ms N]
 * </pre>
 */
public final class Main {
    public static void main(String[] args) throws InterruptedException {
        Map<String, String> flags = new HashMap<>(Map.of("--threads", "2", "--guarantee", StreamsConfig.AT_LEAST_ONCE));
        for (int i = 0; i + 1 < args.length; i += 2) {
            flags.put(args[i], args[i + 1]);
        }
        for (String f : new String[] {"--brokers", "--prefix", "--state-dir"}) {
            if (!flags.containsKey(f)) {
                System.err.println("kstreams-peer: " + f + " is required (see Main.java)");
                System.exit(2);
            }
        }
        String guarantee = flags.get("--guarantee");
        if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
            System.err.println("kstreams-peer: --guarantee " + guarantee + " is not at_least_once or exactly_once_v2");
            System.exit(2);
        }
        Graph.Names names = new Graph.Names(flags.get("--prefix"));

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, names.prefix() + "kstreams");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, flags.get("--brokers"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, flags.get("--threads"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, flags.get("--state-dir"));
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        // Streams lingers 100 ms by default: a latency floor on every hop.
        // 5 ms is the plain producer's default since Kafka 4.0. Commit
        // intervals stay at their defaults (30 s at-least-once, 100 ms EOS).
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        if (flags.containsKey("--commit-interval-ms")) {
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, flags.get("--commit-interval-ms"));
        }

        KafkaStreams streams = new KafkaStreams(Graph.build(names), p);
        CountDownLatch stopped = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                System.out.println("RUNNING");
                System.out.flush();
            }
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                stopped.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("kstreams-peer: stream thread failed: " + e);
            e.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(20));
            stopped.countDown();
        }));
        streams.start();
        stopped.await();
        if (streams.state() == KafkaStreams.State.ERROR) {
            System.exit(1);
        }
    }
}
